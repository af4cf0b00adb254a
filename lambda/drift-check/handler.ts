import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { requiredEnv } from '../shared/env.js';
import { installProfilesFromEnv } from '../shared/install-parameters.js';
import { ssmClientsAt } from '../shared/target-location.js';
import { type DriftCheckOutcome, startDriftChecks } from './drift-check.js';

const ssm = new SSMClient({ maxAttempts: 6 });
const ssmAt = ssmClientsAt(ssm, { maxAttempts: 6 });
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/** Scheduled: asks every mapped host which certificate it holds. */
export async function handler(): Promise<DriftCheckOutcome> {
  return startDriftChecks({
    ssm,
    ssmAt,
    db,
    tableName: requiredEnv('TABLE_NAME'),
    documentName: requiredEnv('CHECK_DOCUMENT_NAME'),
    profiles: installProfilesFromEnv(),
  });
}
