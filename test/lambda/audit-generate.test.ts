import {
  ACMPCAClient,
  CreateCertificateAuthorityAuditReportCommand,
  ListCertificateAuthoritiesCommand,
} from '@aws-sdk/client-acm-pca';
import { type AwsStub, mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { generateAuditReports } from '../../lambda/audit-generate/audit-generate.js';

const ca = (n: number) =>
  `arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/0000000${n}-0000-4000-8000-000000000000`;
// client-acm-pca comes with its own @smithy/types, so the mock needs a cast (see TOOLCHAIN notes).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const pca = mockClient(ACMPCAClient as never) as unknown as AwsStub<any, any, any>;

beforeEach(() => {
  pca.reset();
  pca
    .on(CreateCertificateAuthorityAuditReportCommand as never)
    .callsFake((input: { CertificateAuthorityArn: string }) => {
      if (input.CertificateAuthorityArn === ca(2)) {
        throw Object.assign(new Error('A report was generated in the last 30 minutes'), {
          name: 'RequestInProgressException',
        });
      }
      if (input.CertificateAuthorityArn === ca(3)) {
        throw Object.assign(new Error('CA is DISABLED'), { name: 'InvalidStateException' });
      }
      return {
        AuditReportId: 'id',
        S3Key: `audit-report/${input.CertificateAuthorityArn.split('/')[1]}/id.json`,
      };
    });
});

const run = (certificateAuthorityArns: string[], format: 'JSON' | 'CSV' = 'JSON') =>
  generateAuditReports({
    pca: new ACMPCAClient({ region: 'eu-west-1' }),
    bucket: 'audit-bucket',
    format,
    certificateAuthorityArns,
  });

describe('audit report generation', () => {
  it('requests a report of each configured CA into the bucket, in the chosen format', async () => {
    const outcome = await run([ca(1), ca(4)], 'CSV');
    expect(outcome.requested.map((entry) => entry.certificateAuthorityArn)).toEqual([ca(1), ca(4)]);
    expect(
      pca
        .commandCalls(CreateCertificateAuthorityAuditReportCommand as never)
        .map((call) => call.args[0].input),
    ).toEqual([
      { CertificateAuthorityArn: ca(1), S3BucketName: 'audit-bucket', AuditReportResponseFormat: 'CSV' },
      { CertificateAuthorityArn: ca(4), S3BucketName: 'audit-bucket', AuditReportResponseFormat: 'CSV' },
    ]);
  });

  it('skips a rate-limited CA and a disabled one with a clear reason, and carries on', async () => {
    const outcome = await run([ca(1), ca(2), ca(3), ca(4)]);
    expect(outcome.requested).toHaveLength(2);
    expect(outcome.skipped).toEqual([
      { certificateAuthorityArn: ca(2), reason: expect.stringMatching(/one per 30 minutes/) },
      { certificateAuthorityArn: ca(3), reason: expect.stringMatching(/not ACTIVE/) },
    ]);
  });

  it('audits every ACTIVE CA when none is configured, across pages', async () => {
    pca
      .on(ListCertificateAuthoritiesCommand as never)
      .resolvesOnce({
        CertificateAuthorities: [
          { Arn: ca(1), Status: 'ACTIVE' },
          { Arn: ca(5), Status: 'DISABLED' },
        ],
        NextToken: 't',
      } as never)
      .resolvesOnce({ CertificateAuthorities: [{ Arn: ca(4), Status: 'ACTIVE' }] } as never);
    const outcome = await run([]);
    expect(outcome.requested.map((entry) => entry.certificateAuthorityArn)).toEqual([ca(1), ca(4)]);
  });

  it('raises an unexpected failure after trying every CA', async () => {
    pca
      .on(CreateCertificateAuthorityAuditReportCommand as never, { CertificateAuthorityArn: ca(1) } as never)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    await expect(run([ca(1), ca(4)])).rejects.toThrow(
      /could not request 1 of 2 audit reports: .*AccessDeniedException/,
    );
    expect(pca.commandCalls(CreateCertificateAuthorityAuditReportCommand as never)).toHaveLength(2);
  });
});
