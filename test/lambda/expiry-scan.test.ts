import {
  ACMClient,
  type CertificateSummary,
  DescribeCertificateCommand,
  ListCertificatesCommand,
} from '@aws-sdk/client-acm';
import { BatchImportFindingsCommand, SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FINDING_REFRESH_DAYS, scanCertificates } from '../../lambda/expiry-scan/expiry-scan.js';
import { certificateFinding } from '../../lambda/shared/certificate-finding.js';
import { asffProblems } from '../helpers/asff.js';
import { fakeSecurityHub } from '../helpers/security-hub-fake.js';

const NOW = new Date('2026-11-24T12:00:00.000Z');
const inDays = (days: number) => new Date(NOW.getTime() + days * 86_400_000);
const arn = (name: string) =>
  `arn:aws:acm:eu-west-1:111122223333:certificate/${name.padEnd(8, '0').slice(0, 8)}-0000-4000-8000-000000000000`;

function summary(
  name: string,
  days: number | undefined,
  extra: Partial<CertificateSummary> = {},
): CertificateSummary {
  return {
    CertificateArn: arn(name),
    DomainName: `${name}.example.com`,
    Status: 'ISSUED',
    Type: 'AMAZON_ISSUED',
    KeyAlgorithm: 'RSA_2048',
    ...(days === undefined ? {} : { NotAfter: inDays(days) }),
    ...extra,
  };
}

const MIX = [
  summary('imported', 10, { Type: 'IMPORTED' }),
  summary('private', 3, { Type: 'PRIVATE' }),
  summary('ecdsa', 40, { KeyAlgorithm: 'EC_prime256v1' }),
  summary('expired', -2, { Status: 'EXPIRED' }),
  summary('later', 100),
  summary('deleted', 5),
  summary('pending', undefined, { Status: 'PENDING_VALIDATION' }),
];

const acm = mockClient(ACMClient);
const sns = mockClient(SNSClient);
let hub: ReturnType<typeof fakeSecurityHub>;

function acmHolds(summaries: CertificateSummary[], pageSize = 3) {
  acm.on(ListCertificatesCommand).callsFake((input: { NextToken?: string }) => {
    const start = Number(input.NextToken ?? 0);
    const page = summaries.slice(start, start + pageSize);
    return {
      CertificateSummaryList: page,
      ...(start + pageSize < summaries.length ? { NextToken: String(start + pageSize) } : {}),
    };
  });
  acm.on(DescribeCertificateCommand).callsFake((input: { CertificateArn: string }) => {
    const found = summaries.find((entry) => entry.CertificateArn === input.CertificateArn);
    if (!found || found.DomainName?.startsWith('deleted')) {
      throw Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' });
    }
    return { Certificate: { ...found, Serial: '0a:0b', InUseBy: [] } };
  });
}

beforeEach(() => {
  acm.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  hub = fakeSecurityHub();
});
afterEach(() => hub.client.restore());

const scan = (thresholdDays = 45, now = NOW) =>
  scanCertificates({
    acm: new ACMClient({ region: 'eu-west-1' }),
    securityHub: new SecurityHubClient({ region: 'eu-west-1' }),
    sns: new SNSClient({ region: 'eu-west-1' }),
    topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
    securityHubRegion: 'eu-west-1',
    thresholdDays,
    now: () => now,
  });

describe('expiry scan', () => {
  it('lists every certificate of every key type and origin, 1,000 a page, across all pages', async () => {
    acmHolds(MIX);
    const outcome = await scan();
    expect(outcome.listed).toBe(7);
    expect(acm).toHaveReceivedCommandTimes(ListCertificatesCommand, 3);
    expect(acm).toHaveReceivedCommandWith(ListCertificatesCommand, {
      MaxItems: 1000,
      Includes: {
        keyTypes: [
          'EC_prime256v1',
          'EC_secp384r1',
          'EC_secp521r1',
          'RSA_1024',
          'RSA_2048',
          'RSA_3072',
          'RSA_4096',
        ],
      },
      CertificateKeyPairOrigins: ['AWS_MANAGED', 'ACME', 'CUSTOMER_PROVIDED'],
    });
  });

  it('describes only the certificates inside the window, decided from the list', async () => {
    acmHolds(MIX);
    await scan();
    const described = acm
      .commandCalls(DescribeCertificateCommand)
      .map((call) => call.args[0].input.CertificateArn)
      .sort();
    expect(described).toEqual(
      [arn('deleted'), arn('ecdsa'), arn('expired'), arn('imported'), arn('private')].sort(),
    );
  });

  it('raises one valid finding per certificate inside the window, with severity by days left', async () => {
    acmHolds(MIX);
    const outcome = await scan();
    expect(outcome).toMatchObject({
      insideWindow: 4,
      findings: 4,
      archived: 0,
      notified: true,
      findingsRefused: 0,
    });
    const severities = Object.fromEntries(
      [...hub.stored.values()].map((finding) => [
        finding.Resources![0]!.Details!.AwsCertificateManagerCertificate!.DomainName,
        finding.FindingProviderFields!.Severity!.Label,
      ]),
    );
    expect(severities).toEqual({
      'expired.example.com': 'CRITICAL',
      'private.example.com': 'HIGH',
      'imported.example.com': 'MEDIUM',
      'ecdsa.example.com': 'LOW',
    });
    for (const finding of hub.stored.values()) expect(asffProblems(finding)).toEqual([]);
  });

  it('sends one digest, most urgent first', async () => {
    acmHolds(MIX);
    await scan();
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe('Certificates expiring within 45 days: 4 certificates');
    expect(input.MessageAttributes?.event_type?.StringValue).toBe('ExpiryDigest');
    expect(input.MessageAttributes?.severity?.StringValue).toBe('CRITICAL');
    const email = JSON.parse(input.Message!).email as string;
    const order = ['expired', 'private', 'imported', 'ecdsa'].map((name) =>
      email.indexOf(`${name}.example.com`),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(order.every((position) => position > 0)).toBe(true);
  });

  it('sends nothing when nothing is inside the window', async () => {
    acmHolds([summary('later', 100)]);
    const outcome = await scan();
    expect(outcome.notified).toBe(false);
    expect(sns).not.toHaveReceivedAnyCommand();
  });

  it('archives the finding of a certificate that left the window (renewed, re-imported or deleted)', async () => {
    const renewed = summary('renewed', 380);
    const stale = certificateFinding(
      'expiry',
      { arn: renewed.CertificateArn!, domainName: 'renewed.example.com', notAfter: inDays(5) },
      {
        securityHubRegion: 'eu-west-1',
        now: inDays(-30),
      },
    );
    hub.stored.set(stale.Id!, stale);
    acmHolds([renewed, summary('private', 3, { Type: 'PRIVATE' })]);
    const outcome = await scan();
    expect(outcome.archived).toBe(1);
    expect(hub.stored.get(stale.Id!)?.RecordState).toBe('ARCHIVED');
  });

  /** The mix without the certificate deleted between list and describe (a real list would not show it again). */
  const LISTED = MIX.filter((entry) => !entry.DomainName!.startsWith('deleted'));

  it('on a day when nothing changed, describes nothing, imports nothing and sends nothing', async () => {
    acmHolds(LISTED);
    await scan();
    acm.resetHistory();
    hub.client.resetHistory();
    sns.resetHistory();
    const outcome = await scan(45, inDays(1));
    expect(outcome).toMatchObject({
      insideWindow: 4,
      findings: 0,
      archived: 0,
      notified: false,
      changes: {},
    });
    expect(acm).not.toHaveReceivedCommand(DescribeCertificateCommand);
    expect(hub.client).not.toHaveReceivedCommand(BatchImportFindingsCommand);
    expect(sns).not.toHaveReceivedAnyCommand();
  });

  it('updates in place only the finding whose severity steps, keeping when it was first raised, and says so', async () => {
    acmHolds(LISTED);
    await scan();
    acm.resetHistory();
    // Two and a half days on, imported.example.com has seven days left: MEDIUM becomes HIGH; nothing else steps.
    const outcome = await scan(45, inDays(2.5));
    expect(outcome).toMatchObject({ findings: 1, changes: { severity: 1 } });
    expect(
      acm.commandCalls(DescribeCertificateCommand).map((call) => call.args[0].input.CertificateArn),
    ).toEqual([arn('imported')]);
    const finding = hub.stored.get(`${arn('imported')}/cert-lifecycle/expiry`)!;
    expect(finding.FindingProviderFields?.Severity?.Label).toBe('HIGH');
    expect(finding.CreatedAt).toBe(NOW.toISOString());
    const input = sns.commandCalls(PublishCommand).at(-1)!.args[0].input;
    expect(input.Subject).toBe('Certificates expiring within 45 days: 1 certificate');
  });

  it('writes again a certificate whose expiry changed inside the window (re-imported), and one due for a refresh', async () => {
    acmHolds([summary('imported', 10, { Type: 'IMPORTED' }), summary('quiet', 80)]);
    await scan(90);
    acmHolds([summary('imported', 20, { Type: 'IMPORTED' }), summary('quiet', 80)]);
    expect(await scan(90)).toMatchObject({ findings: 1, changes: { renewed: 1 } });
    // 31 days on, unchanged and still LOW: brought up to date before Security Hub's 90 days run out.
    acmHolds([summary('imported', 20, { Type: 'IMPORTED' }), summary('quiet', 80)]);
    const later = await scan(90, inDays(FINDING_REFRESH_DAYS + 1));
    expect(later.changes).toMatchObject({ refresh: 1 });
    expect(hub.stored.get(`${arn('quiet')}/cert-lifecycle/expiry`)!.UpdatedAt).toBe(
      inDays(FINDING_REFRESH_DAYS + 1).toISOString(),
    );
  });

  it('retries findings Security Hub refused once, and reports those it keeps refusing', async () => {
    acmHolds(MIX);
    hub.client.restore();
    hub = fakeSecurityHub({
      refuseOnce: (finding) => finding.Title!.includes('imported'),
      refuseAlways: (finding) => finding.Title!.includes('ecdsa'),
    });
    const outcome = await scan();
    expect(outcome.findingsRefused).toBe(1);
    expect([...hub.stored.keys()].some((id) => id.startsWith(arn('imported')))).toBe(true);
    const email = JSON.parse(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!).email as string;
    expect(email).toContain('Security Hub refused 1 finding(s)');
  });

  it('imports in batches of at most 100', async () => {
    acmHolds(
      Array.from({ length: 250 }, (_, index) => summary(`c${String(index).padStart(7, '0')}`, 20)),
      1000,
    );
    await scan();
    const batches = hub.client
      .commandCalls(BatchImportFindingsCommand)
      .map((call) => call.args[0].input.Findings!.length);
    expect(batches).toEqual([100, 100, 50]);
  });

  it('still sends the digest in a Region without Security Hub', async () => {
    acmHolds(MIX);
    hub.client.restore();
    hub = fakeSecurityHub({ enabled: false });
    const outcome = await scan();
    expect(outcome.findingSkippedBecause).toMatch(/not enabled/);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
  });

  it('keeps a digest of thousands of certificates under the SNS limit, saying how many more there are', async () => {
    acmHolds(
      Array.from({ length: 5000 }, (_, index) => summary(`d${String(index).padStart(7, '0')}`, 20)),
      1000,
    );
    await scan();
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(Buffer.byteLength(input.Message!)).toBeLessThan(262_144);
    expect(input.Subject!.length).toBeLessThan(100);
    expect(JSON.parse(input.Message!).email).toMatch(/… and \d+ more/);
  });
});
