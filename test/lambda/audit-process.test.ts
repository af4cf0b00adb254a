import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { createReadStream, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processAuditReport } from '../../lambda/audit-process/audit-process.js';
import { auditRows, auditTimestamp, commonName } from '../../lambda/shared/audit-report.js';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { asffProblems } from '../helpers/asff.js';
import { fakeSecurityHub } from '../helpers/security-hub-fake.js';

const NOW = new Date('2026-11-24T12:00:00.000Z');
const fixture = (name: string) => path.join(PROJECT_ROOT, 'test', 'fixtures', 'audit-report', name);
const fromFile = (file: string) => async () => createReadStream(file, { highWaterMark: 64 });
const fromText = (text: string) => async () =>
  (async function* () {
    for (let i = 0; i < text.length; i += 50) yield text.slice(i, i + 50);
  })();

const CA =
  'arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555';
const DEVICE_17 = `${CA}/certificate/6f4e6b2b3c8d1a9e0f7a6b5c4d3e2f10`;

const sns = mockClient(SNSClient);
let hub: ReturnType<typeof fakeSecurityHub>;
beforeEach(() => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  hub = fakeSecurityHub();
});
afterEach(() => hub.client.restore());

const deps = (overrides: { includeAcmManaged?: boolean } = {}) => ({
  securityHub: new SecurityHubClient({ region: 'us-east-1' }),
  sns: new SNSClient({ region: 'us-east-1' }),
  topicArn: 'arn:aws:sns:us-east-1:123456789012:alerts',
  securityHubRegion: 'us-east-1',
  thresholdDays: 30,
  now: () => NOW,
  ...overrides,
});

describe.each([
  ['JSON', 'sample.json'],
  ['CSV', 'sample.csv'],
])('the %s audit report', (_, file) => {
  const key = `audit-report/11111111-2222-3333-4444-555555555555/report.${file.split('.')[1]}`;

  it('reports the expiring certificate, leaving out the one ACM manages and the revoked one', async () => {
    const outcome = await processAuditReport(key, fromFile(fixture(file)), deps());
    expect(outcome).toMatchObject({
      rows: 3,
      malformed: 0,
      expiring: 1,
      superseded: 0,
      reported: 1,
      notified: true,
    });
    const [finding] = [...hub.stored.values()];
    expect(asffProblems(finding!)).toEqual([]);
    expect(finding).toMatchObject({
      Id: `${DEVICE_17}/cert-lifecycle/private-ca-expiry`,
      GeneratorId: 'cert-lifecycle/private-ca-certificate-expiry',
      Title: 'Private CA certificate for device-17.internal.example.com expires in 6 days',
      FindingProviderFields: { Severity: { Label: 'HIGH' } },
      Resources: [
        {
          Type: 'Other',
          Id: DEVICE_17,
          Partition: 'aws',
          Region: 'us-east-1',
          Details: {
            Other: {
              Serial: '6f:4e:6b:2b:3c:8d:1a:9e:0f:7a:6b:5c:4d:3e:2f:10',
              Subject: 'CN=device-17.internal.example.com,O=Example Corp,C=US',
              NotAfter: '2026-12-01T00:00:00.000Z',
              CertificateAuthorityArn: CA,
              TemplateArn: 'arn:aws:acm-pca:::template/EndEntityCertificate/V1',
            },
          },
        },
      ],
    });
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe('Private CA certificates expiring within 30 days: 1 certificate');
    expect(input.MessageAttributes?.event_type?.StringValue).toBe('AuditDigest');
    expect(JSON.parse(input.Message!).email).toContain(key);
  });

  it('includes the ACM-managed certificate when asked to', async () => {
    const outcome = await processAuditReport(key, fromFile(fixture(file)), deps({ includeAcmManaged: true }));
    expect(outcome.reported).toBe(2);
  });
});

describe('audit report processing', () => {
  const header =
    'awsAccountId,requestedByServicePrincipal,certificateArn,serial,subject,notBefore,notAfter,issuedAt,revokedAt,revocationReason,templateArn';
  const row = (id: string, subject: string, notAfter: string, extra = ',,') =>
    `123456789012,,${CA}/certificate/${id},aa:bb,${subject},2026-01-01T00:00:00+0000,${notAfter},2026-01-01T00:00:00+0000${extra.startsWith(',') ? extra : `,${extra}`},arn:aws:acm-pca:::template/EndEntityCertificate/V1`;

  it('leaves out a certificate already replaced by a newer one for the same subject, wherever it stands in the report', async () => {
    const csv = [
      header,
      row('0000000000000002', '"CN=web,O=Example"', '2027-12-01T00:00:00+0000'),
      row('0000000000000001', '"CN=web,O=Example"', '2026-12-01T00:00:00+0000'),
      row('0000000000000003', 'CN=lonely', '2026-12-02T00:00:00+0000'),
    ].join('\n');
    const outcome = await processAuditReport('audit-report/ca/r.csv', fromText(csv), deps());
    expect(outcome).toMatchObject({ expiring: 2, superseded: 1, reported: 1 });
    expect([...hub.stored.keys()]).toEqual([
      `${CA}/certificate/0000000000000003/cert-lifecycle/private-ca-expiry`,
    ]);
  });

  it('reports only the latest of many short-lived certificates sharing one subject (ties both stay)', async () => {
    const rows = Array.from({ length: 5_000 }, (_, i) => {
      const notAfter = new Date(Date.UTC(2026, 11, 1) + Math.floor(i / 2) * 60_000).toISOString();
      return row(i.toString(16).padStart(16, '0'), 'CN=worker', notAfter.replace('.000Z', '+0000'));
    });
    const outcome = await processAuditReport(
      'audit-report/ca/r.csv',
      fromText([header, ...rows.reverse()].join('\n')),
      deps(),
    );
    expect(outcome).toMatchObject({ rows: 5_000, expiring: 5_000, superseded: 4_998, reported: 2 });
    expect([...hub.stored.keys()].sort()).toEqual([
      `${CA}/certificate/${(4_998).toString(16).padStart(16, '0')}/cert-lifecycle/private-ca-expiry`,
      `${CA}/certificate/${(4_999).toString(16).padStart(16, '0')}/cert-lifecycle/private-ca-expiry`,
    ]);
  });

  it('does not count a revoked newer certificate as a replacement', async () => {
    const csv = [
      header,
      row(
        '0000000000000002',
        'CN=web',
        '2027-12-01T00:00:00+0000',
        '2026-06-01T00:00:00+0000,KEY_COMPROMISE',
      ),
      row('0000000000000001', 'CN=web', '2026-12-01T00:00:00+0000'),
    ].join('\n');
    expect((await processAuditReport('audit-report/ca/r.csv', fromText(csv), deps())).reported).toBe(1);
  });

  it('logs and skips a malformed row without losing the others', async () => {
    const good = JSON.parse(readFileSync(fixture('sample.json'), 'utf8')) as Record<string, unknown>[];
    const json = JSON.stringify([
      { ...good[0], notAfter: 'next tuesday' },
      { ...good[0], serial: undefined },
      good[0],
    ]);
    const outcome = await processAuditReport('audit-report/ca/r.json', fromText(json), deps());
    expect(outcome).toMatchObject({ rows: 3, malformed: 2, reported: 1 });
    expect(JSON.parse(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!).email).toContain(
      '2 malformed row(s) were skipped',
    );
  });

  it('sends nothing for an empty report', async () => {
    for (const [key, text] of [
      ['audit-report/ca/r.json', '[]'],
      ['audit-report/ca/r.csv', `${header}\n`],
    ] as const) {
      const outcome = await processAuditReport(key, fromText(text), deps());
      expect(outcome).toMatchObject({ rows: 0, reported: 0, notified: false });
    }
    expect(sns).not.toHaveReceivedAnyCommand();
    expect(hub.client.calls()).toHaveLength(0);
  });

  it('refuses a key that is not a report', async () => {
    await expect(processAuditReport('audit-report/ca/r.txt', fromText(''), deps())).rejects.toThrow(
      /not a JSON or CSV audit report/,
    );
  });
});

describe('audit report parsing', () => {
  it('reads JSON split anywhere, with escaped quotes and braces inside strings', async () => {
    const text = JSON.stringify([
      {
        certificateArn: `${CA}/certificate/ab`,
        serial: 'ab',
        subject: 'CN=a "quoted" {brace} [x]',
        notAfter: '2026-12-01T00:00:00+0000',
      },
      {
        certificateArn: `${CA}/certificate/cd`,
        serial: 'cd',
        subject: 'CN=b\\\\,c',
        notAfter: '2026-12-01T00:00:00+0000',
      },
    ]);
    for (const size of [1, 7, 1000]) {
      const chunks = (async function* () {
        for (let i = 0; i < text.length; i += size) yield Buffer.from(text.slice(i, i + size));
      })();
      const rows = [];
      for await (const row of auditRows(chunks, 'JSON')) rows.push(row);
      expect(
        rows.map((row) =>
          'record' in row ? row.record.subject : 'problem' in row ? row.problem : 'skipped',
        ),
      ).toEqual(['CN=a "quoted" {brace} [x]', 'CN=b\\\\,c']);
    }
  });

  it('skips, unparsed, the rows about subjects not asked for', async () => {
    const wanted = 'CN=a "quoted", one';
    const rows = [
      {
        certificateArn: `${CA}/certificate/ab`,
        serial: 'ab',
        subject: wanted,
        notAfter: '2026-12-01T00:00:00+0000',
      },
      {
        certificateArn: `${CA}/certificate/cd`,
        serial: 'cd',
        subject: 'CN=other',
        notAfter: '2026-12-01T00:00:00+0000',
      },
    ];
    const csv = [
      'certificateArn,serial,subject,notAfter',
      ...rows.map(
        (row) => `${row.certificateArn},${row.serial},"${row.subject.replace(/"/g, '""')}",${row.notAfter}`,
      ),
    ].join('\n');
    for (const [format, text] of [
      ['JSON', JSON.stringify(rows)],
      ['CSV', csv],
    ] as const) {
      const subjects = [];
      for await (const row of auditRows(await fromText(text)(), format, {
        onlySubjects: new Set([wanted]),
      })) {
        subjects.push('record' in row ? row.record.subject : 'problem' in row ? row.problem : 'skipped');
      }
      expect(subjects, format).toEqual([wanted, 'skipped']);
    }
  });

  it('decides from the real notAfter, not one a subject only mentions, whether a row is read in full', async () => {
    const row = (id: string, subject: string, notAfter: string) => ({
      certificateArn: `${CA}/certificate/${id}`,
      serial: 'ab',
      subject,
      notAfter,
    });
    const text = JSON.stringify([
      row('01', 'CN=a","notAfter":"2026-11-30T00:00:00+0000', '2030-01-01T00:00:00+0000'),
      row('02', 'CN=b","notAfter":"2030-01-01T00:00:00+0000', '2026-11-30T00:00:00+0000'),
    ]);
    const seen = [];
    for await (const entry of auditRows(await fromText(text)(), 'JSON', {
      expiringBy: new Date('2026-12-24T00:00:00Z'),
    })) {
      seen.push(
        'record' in entry
          ? entry.record.certificateArn.slice(-2)
          : 'skipped' in entry
            ? 'skipped'
            : 'problem',
      );
    }
    expect(seen).toEqual(['skipped', '02']);
  });

  it('reads the report timestamp form and plain ISO 8601', () => {
    expect(auditTimestamp('2020-02-26T18:39:57+0000')?.toISOString()).toBe('2020-02-26T18:39:57.000Z');
    expect(auditTimestamp('2020-02-26T18:39:57+0130')?.toISOString()).toBe('2020-02-26T17:09:57.000Z');
    expect(auditTimestamp('2020-02-26T18:39:57Z')?.toISOString()).toBe('2020-02-26T18:39:57.000Z');
    expect(auditTimestamp('yesterday')).toBeUndefined();
  });

  it('names a certificate by its subject CN', () => {
    expect(commonName('CN=device-17.internal.example.com,O=Example Corp,C=US')).toBe(
      'device-17.internal.example.com',
    );
    expect(commonName('O=Example,CN=x\\,y')).toBe('x,y');
    expect(commonName('O=Example')).toBeUndefined();
  });
});
