import { ACMClient } from '@aws-sdk/client-acm';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { findingsRegion } from '../shared/security-hub.js';
import { homeOf, requiredEnv } from '../shared/env.js';
import { emitCounts } from '../shared/metrics.js';
import { ssmClientsAt } from '../shared/target-location.js';
import { type CommandStatusEvent, type DriftOutcome, handleDriftResult } from './drift-result.js';

const ssm = new SSMClient({});
const ssmAt = ssmClientsAt(ssm);
const acm = new ACMClient({});
const securityHubRegion = findingsRegion();
const securityHub = new SecurityHubClient({ region: securityHubRegion });
const sns = new SNSClient({});

/** Target of the drift check command's status-change event. */
export async function handler(event: CommandStatusEvent, context: Context): Promise<DriftOutcome> {
  const outcome = await handleDriftResult(event, {
    ssm,
    ssmAt,
    home: homeOf(context.invokedFunctionArn),
    acm,
    securityHub,
    sns,
    topicArn: requiredEnv('ALERT_TOPIC_ARN'),
    securityHubRegion,
    now: () => new Date(),
  });
  emitCounts({ HostsDrifted: outcome.drifted.length, FindingsRaised: outcome.drifted.length });
  return outcome;
}
