import { ACMClient } from '@aws-sdk/client-acm';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { SNSClient } from '@aws-sdk/client-sns';
import { findingsRegion } from '../shared/security-hub.js';
import { accountIdOf, requiredEnv } from '../shared/env.js';
import { clientsAt } from '../shared/target-location.js';
import type { Context } from 'aws-lambda';
import { emitCounts } from '../shared/metrics.js';
import { logger, withLogContext } from '../shared/logger.js';
import { type AcmLifecycleEvent, type AlertOutcome, handleCertificateEvent } from './certificate-alert.js';

const acm = new ACMClient({});
// A member account's certificate, its events forwarded by the member stack: described there.
const acmAt = clientsAt(acm, (settings) => new ACMClient(settings));
const securityHubRegion = findingsRegion();
const securityHub = new SecurityHubClient({ region: securityHubRegion });
const sns = new SNSClient({});

/** Target of the ACM lifecycle rules: expiry, renewal-action-required, expired, and available again. */
export async function handler(event: AcmLifecycleEvent, context: Context): Promise<AlertOutcome> {
  return withLogContext(
    { certificateArn: event.resources?.[0], detailType: event['detail-type'] },
    async () => {
      const outcome = await handleCertificateEvent(event, {
        acm,
        acmAt,
        homeAccount: accountIdOf(context.invokedFunctionArn),
        securityHub,
        sns,
        topicArn: requiredEnv('ALERT_TOPIC_ARN'),
        securityHubRegion,
        now: () => new Date(),
      });
      logger.info('certificate event handled', { detailType: event['detail-type'], ...outcome });
      emitCounts({ FindingsRaised: outcome.findingId && !outcome.findingSkippedBecause ? 1 : 0 });
      return outcome;
    },
  );
}
