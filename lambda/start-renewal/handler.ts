import { ACMClient } from '@aws-sdk/client-acm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { withLogContext } from '../shared/logger.js';
import { requiredEnv } from '../shared/env.js';
import { type RenewalEvent, type RenewalOutcome, startRenewal } from './start-renewal.js';

const acm = new ACMClient({});
// The export's secret write names its version: the SDK's retries never make a second one.
const secrets = new SecretsManagerClient({ maxAttempts: 6 });
// Throttled sends are retried by the SDK first; what still fails is retried with the whole event.
const sqs = new SQSClient({ maxAttempts: 6 });
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/** Target of the renewal rules: ACM "Certificate Available" (RENEWAL) and, optionally, AWS Health. */
export async function handler(event: RenewalEvent): Promise<RenewalOutcome> {
  return withLogContext({ certificateArn: event.resources?.[0] }, async () => {
    return startRenewal(event, {
      acm,
      secrets,
      sqs,
      db,
      claims: { db, tableName: requiredEnv('EXPORT_CLAIMS_TABLE_NAME') },
      kmsKeyId: requiredEnv('SECRET_KMS_KEY_ARN'),
      tableName: requiredEnv('TABLE_NAME'),
      queueUrl: requiredEnv('RENEWAL_QUEUE_URL'),
      now: () => new Date(),
    });
  });
}
