import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { requiredEnv } from '../shared/env.js';
import { emitCounts } from '../shared/metrics.js';
import { ssmClientsAt } from '../shared/target-location.js';
import {
  type FinishedOutcome,
  type InstallFinishedEvent,
  handleInstallFinished,
} from './install-finished.js';

const ssm = new SSMClient({});
const ssmAt = ssmClientsAt(ssm);
const sfn = new SFNClient({});
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/** EventBridge target: an install command ended (SSM's event), or the slow sweep's schedule fired. */
export async function handler(event: InstallFinishedEvent): Promise<FinishedOutcome> {
  const outcome = await handleInstallFinished(event, {
    ssm,
    ssmAt,
    sfn,
    db,
    tableName: requiredEnv('TABLE_NAME'),
    waits: { db, tableName: requiredEnv('WAITS_TABLE_NAME') },
    now: () => new Date(),
  });
  for (const { report } of outcome.completed) {
    emitCounts({ InstancesInstalled: report.summary.succeeded, InstancesFailed: report.summary.failed });
  }
  return outcome;
}
