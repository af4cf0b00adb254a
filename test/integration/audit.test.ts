/**
 * The audit report processor against moto_server: the report read from its S3 by the real S3 client,
 * findings read back from its Security Hub, the digest from its SNS topic. moto does not implement
 * CreateCertificateAuthorityAuditReport (it answers 500), so the generator stays on aws-sdk-client-mock
 * (test/lambda/audit-generate.test.ts).
 */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { EnableSecurityHubCommand, GetFindingsCommand, SecurityHubClient } from '@aws-sdk/client-securityhub';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { processAuditReport } from '../../lambda/audit-process/audit-process.js';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { MOTO_REGION, motoClientConfig, motoState } from './moto.js';

const BUCKET = 'cert-lifecycle-audit-reports';
let config: ReturnType<typeof motoClientConfig>;
let topicArn: string;

beforeAll(async () => {
  config = motoClientConfig();
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  await s3.send(
    new CreateBucketCommand({
      Bucket: BUCKET,
      CreateBucketConfiguration: { LocationConstraint: MOTO_REGION },
    }),
  );
  for (const name of ['sample.json', 'sample.csv']) {
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `audit-report/11111111-2222-3333-4444-555555555555/report-${name}`,
        Body: readFileSync(path.join(PROJECT_ROOT, 'test', 'fixtures', 'audit-report', name)),
      }),
    );
  }
  await new SecurityHubClient(config).send(new EnableSecurityHubCommand({})).catch((error: Error) => {
    if (error.name !== 'ResourceConflictException') throw error;
  });
  topicArn = (await new SNSClient(config).send(new CreateTopicCommand({ Name: 'audit-alerts' }))).TopicArn!;
});

describe.each(['json', 'csv'])('an audit report in S3 (%s)', (extension) => {
  it('is streamed from S3, and its expiring certificate becomes a finding and a digest', async () => {
    const key = `audit-report/11111111-2222-3333-4444-555555555555/report-sample.${extension}`;
    const s3 = new S3Client({ ...config, forcePathStyle: true });
    const outcome = await processAuditReport(
      key,
      async () => (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body as Readable,
      {
        securityHub: new SecurityHubClient(config),
        sns: new SNSClient(config),
        topicArn,
        securityHubRegion: MOTO_REGION,
        thresholdDays: 30,
        now: () => new Date('2026-11-24T12:00:00Z'),
      },
    );
    expect(outcome).toMatchObject({ rows: 3, reported: 1, notified: true });
    expect(outcome.findingSkippedBecause).toBeUndefined();

    const { Findings } = await new SecurityHubClient(config).send(
      new GetFindingsCommand({
        Filters: {
          GeneratorId: [{ Value: 'cert-lifecycle/private-ca-certificate-expiry', Comparison: 'EQUALS' }],
        },
      }),
    );
    expect(Findings!.map((finding) => finding.Title)).toContain(
      'Private CA certificate for device-17.internal.example.com expires in 6 days',
    );
    const topics = (await motoState()).sns!.Topic as { arn: string; sent_notifications: unknown[][] }[];
    const subjects = topics
      .find((topic) => topic.arn === topicArn)!
      .sent_notifications.map((sent) => sent[2]);
    expect(subjects).toContain('Private CA certificates expiring within 30 days: 1 certificate');
  });
});
