import { ACMPCAClient } from '@aws-sdk/client-acm-pca';
import { requiredEnv } from '../shared/env.js';
import { type GenerateOutcome, generateAuditReports } from './audit-generate.js';

const pca = new ACMPCAClient({});

/** Scheduled: one audit report per configured (or active) Private CA, into the audit bucket. */
export async function handler(): Promise<GenerateOutcome> {
  const configured = (process.env.CERTIFICATE_AUTHORITY_ARNS ?? '').split(',').filter(Boolean);
  return generateAuditReports({
    pca,
    bucket: requiredEnv('AUDIT_BUCKET'),
    format: process.env.AUDIT_REPORT_FORMAT === 'CSV' ? 'CSV' : 'JSON',
    certificateAuthorityArns: configured,
  });
}
