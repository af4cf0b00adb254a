/**
 * The expiry scan over 10,000 certificates, 500 of them inside the window, against a simulated ACM and
 * Security Hub that count calls (and keep the findings imported): the first day, and the next day when
 * nothing changed, side by side with describing every certificate and importing one finding per call
 * (what the public sample did, every day). Wall time is the floor the documented rate limits
 * impose (ListCertificates ~1/s, DescribeCertificate 10/s, BatchImportFindings 10/s) plus the time the
 * code itself took here.
 */
import {
  ACMClient,
  type CertificateSummary,
  DescribeCertificateCommand,
  ListCertificatesCommand,
} from '@aws-sdk/client-acm';
import {
  BatchImportFindingsCommand,
  type AwsSecurityFinding,
  GetFindingsCommand,
  SecurityHubClient,
} from '@aws-sdk/client-securityhub';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { scanCertificates } from '../../lambda/expiry-scan/expiry-scan.js';
import { listAllCertificates } from '../../lambda/shared/acm-certificates.js';
import { factsFromDetail } from '../../lambda/shared/certificate-facts.js';
import { certificateFinding } from '../../lambda/shared/certificate-finding.js';
import { insideWindow } from '../../lambda/shared/expiry-severity.js';

const TOTAL = 10_000;
const IN_WINDOW = 500;
const RATES: Record<string, number> = {
  ListCertificates: 1,
  DescribeCertificate: 10,
  BatchImportFindings: 10,
  GetFindings: 3,
};

export async function benchExpiryScan(): Promise<void> {
  const now = new Date();
  const certificates: CertificateSummary[] = Array.from({ length: TOTAL }, (_, index) => ({
    CertificateArn: `arn:aws:acm:eu-west-1:111122223333:certificate/${String(index).padStart(8, '0')}-0000-4000-8000-000000000000`,
    DomainName: `host-${index}.example.com`,
    Status: 'ISSUED',
    Type: index % 3 === 0 ? 'IMPORTED' : 'AMAZON_ISSUED',
    KeyAlgorithm: index % 2 === 0 ? 'EC_prime256v1' : 'RSA_2048',
    NotAfter: new Date(now.getTime() + (index < IN_WINDOW ? 20 : 200) * 86_400_000),
  }));
  const calls: Record<string, number> = {};
  const count = (api: string) => (calls[api] = (calls[api] ?? 0) + 1);
  const acm = mockClient(ACMClient);
  const hub = mockClient(SecurityHubClient);
  const sns = mockClient(SNSClient);
  acm.on(ListCertificatesCommand).callsFake((input: { NextToken?: string; MaxItems?: number }) => {
    count('ListCertificates');
    const start = Number(input.NextToken ?? 0);
    const size = input.MaxItems ?? 1000;
    return {
      CertificateSummaryList: certificates.slice(start, start + size),
      ...(start + size < TOTAL ? { NextToken: String(start + size) } : {}),
    };
  });
  acm.on(DescribeCertificateCommand).callsFake((input: { CertificateArn: string }) => {
    count('DescribeCertificate');
    return {
      Certificate: certificates.find((certificate) => certificate.CertificateArn === input.CertificateArn),
    };
  });
  // Security Hub keeps what is imported: the next day's scan reads it back, 100 a page.
  const stored = new Map<string, AwsSecurityFinding>();
  hub.on(BatchImportFindingsCommand).callsFake((input: { Findings: AwsSecurityFinding[] }) => {
    count('BatchImportFindings');
    for (const finding of input.Findings) stored.set(finding.Id!, finding);
    return { SuccessCount: input.Findings.length, FailedCount: 0, FailedFindings: [] };
  });
  hub.on(GetFindingsCommand).callsFake((input: { NextToken?: string }) => {
    count('GetFindings');
    const active = [...stored.values()].filter((finding) => finding.RecordState === 'ACTIVE');
    const start = Number(input.NextToken ?? 0);
    return {
      Findings: active.slice(start, start + 100),
      ...(start + 100 < active.length ? { NextToken: String(start + 100) } : {}),
    };
  });
  sns.on(PublishCommand).resolves({ MessageId: 'm' });

  const clients = {
    acm: new ACMClient({ region: 'eu-west-1' }),
    hub: new SecurityHubClient({ region: 'eu-west-1' }),
  };
  const scan = (day: Date) => () =>
    scanCertificates({
      acm: clients.acm,
      securityHub: clients.hub,
      sns: new SNSClient({ region: 'eu-west-1' }),
      topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
      securityHubRegion: 'eu-west-1',
      thresholdDays: 45,
      now: () => day,
    });
  // A day on, no certificate changed and none crossed a severity step (20 days left becomes 19).
  const nextDay = new Date(now.getTime() + 86_400_000);
  const strategies: [string, () => Promise<unknown>][] = [
    ['this app, first day: describe in-window, batch of 100', scan(now)],
    ['this app, next day, nothing changed', scan(nextDay)],
    [
      'describe every certificate, one finding per call (any day)',
      async () => {
        for (const summary of await listAllCertificates(clients.acm)) {
          const detail = (
            await clients.acm.send(new DescribeCertificateCommand({ CertificateArn: summary.CertificateArn }))
          ).Certificate!;
          if (detail.NotAfter && insideWindow(detail.NotAfter, now, 45)) {
            const finding = certificateFinding('expiry', factsFromDetail(detail), {
              securityHubRegion: 'eu-west-1',
              now,
            });
            await clients.hub.send(new BatchImportFindingsCommand({ Findings: [finding] }));
          }
        }
      },
    ],
  ];

  console.log(
    `\nExpiry scan: ${TOTAL.toLocaleString('en')} certificates, ${IN_WINDOW} inside the 45-day window`,
  );
  console.log(
    `  ${'strategy'.padEnd(60)} ${'List'.padStart(5)} ${'Describe'.padStart(9)} ${'Import'.padStart(7)} ${'Get'.padStart(4)}  rate-limit floor + code time`,
  );
  for (const [name, run] of strategies) {
    for (const key of Object.keys(calls)) delete calls[key];
    const started = performance.now();
    await run();
    const codeSeconds = (performance.now() - started) / 1000;
    const floor = Object.entries(calls).reduce((sum, [api, n]) => sum + n / (RATES[api] ?? 10), 0);
    console.log(
      `  ${name.padEnd(60)} ${String(calls.ListCertificates ?? 0).padStart(5)} ${String(calls.DescribeCertificate ?? 0).padStart(9)} ${String(calls.BatchImportFindings ?? 0).padStart(7)} ${String(calls.GetFindings ?? 0).padStart(4)}  ${floor.toFixed(1).padStart(7)} s + ${codeSeconds.toFixed(2)} s`,
    );
  }
  acm.restore();
  hub.restore();
  sns.restore();
}
