import { describe, expect, it } from 'vitest';
import type { CertificateFacts } from '../../lambda/shared/certificate-facts.js';
import {
  archivedFinding,
  certificateFinding,
  findingId,
  findingSeverity,
} from '../../lambda/shared/certificate-finding.js';
import { expirySeverity } from '../../lambda/shared/expiry-severity.js';
import { asffProblems } from '../helpers/asff.js';
import { CERTIFICATE_ARN } from '../helpers/fixtures.js';

const NOW = new Date('2026-11-24T12:00:00.000Z');
const inDays = (days: number) => new Date(NOW.getTime() + days * 86_400_000);
const FACTS: CertificateFacts = {
  arn: CERTIFICATE_ARN,
  domainName: 'app.example.com',
  type: 'IMPORTED',
  status: 'ISSUED',
  notAfter: inDays(12.5),
  keyAlgorithm: 'EC_prime256v1',
  inUseBy: ['arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/web/1'],
};

describe('expiry severity', () => {
  it.each([
    [-3, 'CRITICAL'],
    [0.5, 'HIGH'],
    [7, 'HIGH'],
    [7.9, 'HIGH'],
    [8, 'MEDIUM'],
    [30, 'MEDIUM'],
    [31, 'LOW'],
    [44, 'LOW'],
  ])('%d days left is %s', (days, label) => {
    expect(expirySeverity(inDays(days), NOW)).toBe(label);
  });

  it('counts a certificate whose NotAfter is now as expired', () => {
    expect(expirySeverity(NOW, NOW)).toBe('CRITICAL');
  });

  it('keeps a renewal that needs action at least MEDIUM', () => {
    expect(findingSeverity('renewal-action-required', { ...FACTS, notAfter: inDays(40) }, NOW)).toBe(
      'MEDIUM',
    );
    expect(findingSeverity('renewal-action-required', { ...FACTS, notAfter: inDays(3) }, NOW)).toBe('HIGH');
  });
});

describe('certificate finding', () => {
  const finding = certificateFinding('expiry', FACTS, { securityHubRegion: 'eu-central-1', now: NOW });

  it('is valid ASFF for BatchImportFindings', () => {
    expect(asffProblems(finding)).toEqual([]);
  });

  it('has a stable id per certificate and kind, in the account default product of the chosen Region', () => {
    expect(finding.Id).toBe(findingId(CERTIFICATE_ARN, 'expiry'));
    expect(finding.Id).not.toBe(findingId(CERTIFICATE_ARN, 'renewal-action-required'));
    expect(finding.ProductArn).toBe(
      'arn:aws:securityhub:eu-central-1:111122223333:product/111122223333/default',
    );
    expect(finding.Region).toBe('eu-west-1');
  });

  it('describes the certificate as an AwsCertificateManagerCertificate resource', () => {
    expect(finding.Resources).toEqual([
      {
        Type: 'AwsCertificateManagerCertificate',
        Id: CERTIFICATE_ARN,
        Partition: 'aws',
        Region: 'eu-west-1',
        Details: {
          AwsCertificateManagerCertificate: expect.objectContaining({
            DomainName: 'app.example.com',
            Type: 'IMPORTED',
            NotAfter: inDays(12.5).toISOString(),
            KeyAlgorithm: 'EC_prime256v1',
            InUseBy: FACTS.inUseBy,
          }),
        },
      },
    ]);
  });

  it('puts severity and types in FindingProviderFields, and says the days left', () => {
    expect(finding.FindingProviderFields?.Severity).toEqual({ Label: 'MEDIUM', Original: 'MEDIUM' });
    expect(finding.Title).toBe('Certificate for app.example.com expires in 12 days');
    expect(finding.ProductFields?.['cert-lifecycle/DaysToExpiry']).toBe('12');
  });

  it('keeps CreatedAt from the first sighting and moves UpdatedAt to now', () => {
    const updated = certificateFinding('expiry', FACTS, {
      securityHubRegion: 'eu-west-1',
      now: NOW,
      createdAt: '2026-10-10T00:00:00.000Z',
    });
    expect(updated.CreatedAt).toBe('2026-10-10T00:00:00.000Z');
    expect(updated.UpdatedAt).toBe(NOW.toISOString());
  });

  it.each([
    ['IMPORTED', /re-import it into the same ARN/],
    ['AMAZON_ISSUED', /DNS validation records/],
    ['PRIVATE', /AWS Private CA/],
  ])('advises what fits a %s certificate, with the console link', (type, advice) => {
    const typed = certificateFinding(
      'expiry',
      { ...FACTS, type },
      { securityHubRegion: 'eu-west-1', now: NOW },
    );
    expect(typed.Remediation?.Recommendation?.Text).toMatch(advice);
    expect(typed.Remediation?.Recommendation?.Url).toBe(
      'https://console.aws.amazon.com/acm/home?region=eu-west-1#/certificates/12345678-90ab-cdef-1234-567890abcdef',
    );
  });

  it('explains the renewal failure reason', () => {
    const renewal = certificateFinding(
      'renewal-action-required',
      { ...FACTS, type: 'AMAZON_ISSUED', renewalStatusReason: 'CAA_ERROR' },
      { securityHubRegion: 'eu-west-1', now: NOW },
    );
    expect(asffProblems(renewal)).toEqual([]);
    expect(renewal.Title).toBe('Renewal of the certificate for app.example.com needs action (CAA_ERROR)');
    expect(renewal.Remediation?.Recommendation?.Text).toMatch(/CAA record/);
    const pca = certificateFinding(
      'renewal-action-required',
      { ...FACTS, type: 'PRIVATE', renewalStatusReason: 'PCA_ACCESS_DENIED' },
      { securityHubRegion: 'eu-west-1', now: NOW },
    );
    expect(pca.Remediation?.Recommendation?.Text).toMatch(/PCA_ACCESS_DENIED.*lets ACM use it/);
  });

  it('says an expired certificate has expired, as CRITICAL', () => {
    const expired = certificateFinding(
      'expiry',
      { ...FACTS, notAfter: inDays(-2) },
      { securityHubRegion: 'eu-west-1', now: NOW },
    );
    expect(expired.Title).toBe('Certificate for app.example.com has expired');
    expect(expired.FindingProviderFields?.Severity?.Label).toBe('CRITICAL');
  });

  it('stays within the length limits for the longest names', () => {
    const long = certificateFinding(
      'expiry',
      {
        ...FACTS,
        domainName: `${'sub.'.repeat(60)}example.com`,
        inUseBy: Array.from({ length: 100 }, (_, i) => `arn:aws:x:::${i}`),
      },
      { securityHubRegion: 'eu-west-1', now: NOW },
    );
    expect(asffProblems(long)).toEqual([]);
  });

  it('archives with an UpdatedAt later than the stored one, so Security Hub takes the change', () => {
    const stored = { ...finding, UpdatedAt: NOW.toISOString() };
    const archived = archivedFinding(stored, NOW);
    expect(archived.RecordState).toBe('ARCHIVED');
    expect(archived.UpdatedAt! > stored.UpdatedAt!).toBe(true);
    expect(asffProblems(archived)).toEqual([]);
  });
});
