import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { SNSClient } from '@aws-sdk/client-sns';
import type { Readable } from 'node:stream';
import { REPORT_PREFIX } from '../shared/audit-report.js';
import { findingsRegion } from '../shared/security-hub.js';
import { requiredEnv, requiredIntegerEnv } from '../shared/env.js';
import { emitCounts } from '../shared/metrics.js';
import { type AuditOutcome, processAuditReport } from './audit-process.js';

const s3 = new S3Client({});
const securityHubRegion = findingsRegion();
const securityHub = new SecurityHubClient({ region: securityHubRegion });
const sns = new SNSClient({});

interface S3Event {
  readonly Records?: readonly {
    readonly s3: { readonly bucket: { readonly name: string }; readonly object: { readonly key: string } };
  }[];
}

/** S3 "object created" for a new audit report: process exactly that object. */
export async function handler(event: S3Event): Promise<AuditOutcome[]> {
  const outcomes: AuditOutcome[] = [];
  for (const record of event.Records ?? []) {
    const bucket = record.s3.bucket.name;
    // S3 event keys are URL-encoded, with spaces as "+".
    const key = decodeURIComponent(record.s3.object.key.replace(/\+/g, ' '));
    if (!key.startsWith(REPORT_PREFIX)) continue;
    const open = async () =>
      (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body as Readable;
    const outcome = await processAuditReport(key, open, {
      securityHub,
      sns,
      topicArn: requiredEnv('ALERT_TOPIC_ARN'),
      securityHubRegion,
      thresholdDays: requiredIntegerEnv('AUDIT_THRESHOLD_DAYS'),
      includeAcmManaged: process.env.AUDIT_INCLUDE_ACM_MANAGED === 'true',
      now: () => new Date(),
    });
    emitCounts({
      PrivateCaCertificatesExpiring: outcome.reported,
      FindingsRaised: outcome.findingSkippedBecause ? 0 : outcome.reported,
    });
    outcomes.push(outcome);
  }
  return outcomes;
}
