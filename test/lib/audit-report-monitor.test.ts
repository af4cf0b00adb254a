import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../helpers/stack.js';

const CA =
  'arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555';

let template: Template;
beforeAll(() => {
  template = synthesize({
    privateCaArns: CA,
    auditSchedule: 'rate(12 hours)',
    auditReportRetentionDays: '30',
  }).template;
});

type Statement = {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
};
const bucketStatements = (t: Template) =>
  Object.values(t.findResources('AWS::S3::BucketPolicy')).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
  );

describe('audit report bucket', () => {
  it('lets only AWS Private CA write, for this account and the configured CA', () => {
    const write = bucketStatements(template).find(
      (statement) => statement.Sid === 'PrivateCaWritesAuditReports',
    )!;
    expect(write.Principal).toEqual({ Service: 'acm-pca.amazonaws.com' });
    expect([write.Action].flat().sort()).toEqual([
      's3:GetBucketAcl',
      's3:GetBucketLocation',
      's3:PutObject',
      's3:PutObjectAcl',
    ]);
    expect(write.Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      ArnLike: { 'aws:SourceArn': [CA] },
    });
  });

  it('allows any CA of the account when none is configured', () => {
    const write = bucketStatements(synthesize().template).find(
      (statement) => statement.Sid === 'PrivateCaWritesAuditReports',
    )!;
    expect(JSON.stringify(write.Condition)).toContain(':certificate-authority/*');
  });

  it('refuses plain HTTP and public access, and encrypts with SSE-S3 (the AWS-managed S3 KMS key is not supported)', () => {
    expect(bucketStatements(template)).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ Prefix: 'audit-report/', ExpirationInDays: 30, Status: 'Enabled' })],
      },
    });
    expect(JSON.stringify(template.findResources('AWS::S3::Bucket'))).not.toContain('ObjectLock');
  });

  it('sends every new report under audit-report/ to the processor', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          Match.objectLike({
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'audit-report/' }] } },
          }),
        ],
      },
    });
  });

  it('requests reports on the configured schedule, from the configured CA only', () => {
    const schedules = Object.values(template.findResources('AWS::Events::Rule')).filter((rule) =>
      rule.Properties.Description?.includes('audit report'),
    );
    expect(schedules.map((rule) => rule.Properties.ScheduleExpression)).toEqual(['rate(12 hours)']);
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
    );
    const create = statements.filter((statement) =>
      [statement.Action].flat().includes('acm-pca:CreateCertificateAuthorityAuditReport'),
    );
    expect(create.map((statement) => statement.Resource)).toEqual([CA]);
    expect(
      statements.some((statement) =>
        [statement.Action].flat().includes('acm-pca:ListCertificateAuthorities'),
      ),
    ).toBe(false);
  });

  it('lets the processor read only reports', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
    );
    const reads = statements.filter((statement) => [statement.Action].flat().includes('s3:GetObject'));
    expect(reads).toHaveLength(1);
    expect(JSON.stringify(reads[0]!.Resource)).toContain('/audit-report/*');
  });
});
