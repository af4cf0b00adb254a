import { ACMClient } from '@aws-sdk/client-acm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { withLogContext } from '../shared/logger.js';
import { requiredEnv } from '../shared/env.js';
import { type RenewalEvent, type RenewalOutcome, startRenewal } from './start-renewal.js';

const acm = new ACMClient({});
// Throttled sends are retried by the SDK first; what still fails is retried with the whole event.
const sqs = new SQSClient({ maxAttempts: 6 });
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/** Target of the renewal rules: ACM "Certificate Available" (RENEWAL) and, optionally, AWS Health. */
export async function handler(event: RenewalEvent): Promise<RenewalOutcome> {
  return withLogContext({ certificateArn: event.resources?.[0] }, async () => {
    return startRenewal(event, {
      acm,
      sqs,
      db,
      tableName: requiredEnv('TABLE_NAME'),
      queueUrl: requiredEnv('RENEWAL_QUEUE_URL'),
    });
  });
}
