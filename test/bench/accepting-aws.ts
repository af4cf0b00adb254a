import type { AuditProcessDependencies } from '../../lambda/audit-process/audit-process.js';

/** The audit processor's AWS side for a bench: Security Hub and SNS accept everything, at once. */
export function acceptingAuditDependencies(now: Date): AuditProcessDependencies {
  const accept = {
    send: async () => ({ SuccessCount: 100, FailedCount: 0, FailedFindings: [], MessageId: 'm' }),
  };
  return {
    securityHub: accept as never,
    sns: accept as never,
    topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
    securityHubRegion: 'eu-west-1',
    thresholdDays: 30,
    now: () => now,
  };
}
