import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { homeOf, requiredEnv } from '../shared/env.js';
import { ssmClientsAt } from '../shared/target-location.js';
import type { Context } from 'aws-lambda';
import { logger } from '../shared/logger.js';
import { findingsRegion } from '../shared/security-hub.js';
import {
  type ConvergenceOutcome,
  type InstanceAssociationEvent,
  handleConvergenceResult,
} from './convergence-result.js';

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sns = new SNSClient({});
const ssm = new SSMClient({});
const ssmAt = ssmClientsAt(ssm);
const securityHubRegion = findingsRegion();
const securityHub = new SecurityHubClient({ region: securityHubRegion });

/** EventBridge target: a target's association ran on one host. */
export async function handler(
  event: InstanceAssociationEvent,
  context: Context,
): Promise<ConvergenceOutcome> {
  const outcome = await handleConvergenceResult(event, {
    db,
    tableName: requiredEnv('TABLE_NAME'),
    hostsTableName: requiredEnv('HOSTS_TABLE_NAME'),
    ssm,
    ssmAt,
    home: homeOf(context.invokedFunctionArn),
    securityHub,
    sns,
    topicArn: requiredEnv('ALERT_TOPIC_ARN'),
    securityHubRegion,
    now: () => new Date(),
  });
  logger.info('association run on a host', { ...outcome });
  return outcome;
}
