import { ACMClient } from '@aws-sdk/client-acm';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { SNSClient } from '@aws-sdk/client-sns';
import { findingsRegion } from '../shared/security-hub.js';
import { requiredEnv, requiredIntegerEnv } from '../shared/env.js';
import { emitCounts } from '../shared/metrics.js';
import { type ScanOutcome, scanCertificates } from './expiry-scan.js';

// ListCertificates allows about one call a second: the SDK's adaptive retry paces the pages.
const acm = new ACMClient({ retryMode: 'adaptive', maxAttempts: 8 });
const securityHubRegion = findingsRegion();
const securityHub = new SecurityHubClient({
  region: securityHubRegion,
  retryMode: 'adaptive',
  maxAttempts: 8,
});
const sns = new SNSClient({});

/** Scheduled scan of every certificate in the Region. */
export async function handler(): Promise<ScanOutcome> {
  const outcome = await scanCertificates({
    acm,
    securityHub,
    sns,
    topicArn: requiredEnv('ALERT_TOPIC_ARN'),
    securityHubRegion,
    thresholdDays: requiredIntegerEnv('EXPIRY_THRESHOLD_DAYS'),
    now: () => new Date(),
  });
  emitCounts({
    CertificatesInsideWindow: outcome.insideWindow,
    FindingsRaised: outcome.findingSkippedBecause ? 0 : outcome.findings - outcome.findingsRefused,
    FindingsRefused: outcome.findingsRefused,
  });
  return outcome;
}
