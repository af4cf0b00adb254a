import { Template } from 'aws-cdk-lib/assertions';
import { statSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CommandDocumentContent } from '../../lib/command-document.js';
import { createApp } from '../../lib/app.js';
import { ConfigError } from '../../lib/config.js';
import { allows, resolveIntrinsics } from '../helpers/policy-evaluation.js';

const CENTRAL = '111122223333';
const MEMBER = '444455556666';
const ORGANIZATION = 'o-a1b2c3d4e5';
const ORGANISATION_CONTEXT = {
  organizationId: ORGANIZATION,
  centralAccount: CENTRAL,
  centralRegion: 'eu-west-1',
};

let template: Template;
let resolved: Record<string, unknown>;
beforeAll(() => {
  const { app, member } = createApp({ context: { 'aws:cdk:bundling-stacks': [], ...ORGANISATION_CONTEXT } });
  template = Template.fromStack(member!);
  // As CloudFormation would resolve it in the member account, in eu-central-1.
  resolved = resolveIntrinsics(template.toJSON(), {
    'AWS::Partition': 'aws',
    'AWS::AccountId': MEMBER,
    'AWS::Region': 'eu-central-1',
  }) as Record<string, unknown>;
  app.synth(); // cdk-nag's AWS Solutions checks run here, on both stacks
});

const resources = (type: string) =>
  Object.values(
    (
      template.toJSON() as {
        Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      }
    ).Resources,
  ).filter((resource) => resource.Type === type);
const joined = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]
        .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
        .join('');

describe('the member stack (a workload account of the organisation)', () => {
  it('is synthesized only for an organisation, and names the central account and Region', () => {
    expect(createApp({ context: { 'aws:cdk:bundling-stacks': [] } }).member).toBeUndefined();
    expect(() =>
      createApp({
        context: { 'aws:cdk:bundling-stacks': [], organizationId: ORGANIZATION, centralAccount: CENTRAL },
      }),
    ).toThrow(ConfigError);
    expect(() => createApp({ context: { 'aws:cdk:bundling-stacks': [], centralAccount: CENTRAL } })).toThrow(
      'centralAccount applies only to the member stack: set organizationId too, or leave centralAccount out',
    );
  });

  it('deploys as a StackSet: no bootstrap version rule, no assets, no function', () => {
    const json = template.toJSON() as {
      Parameters?: Record<string, unknown>;
      Rules?: Record<string, unknown>;
    };
    expect(json.Parameters?.BootstrapVersion).toBeUndefined();
    expect(json.Rules?.CheckBootstrapVersion).toBeUndefined();
    expect(JSON.stringify(json)).not.toMatch(/cdk-hnb659fds|AssetParameters|Fn::Sub.*bootstrap/i);
    template.resourceCountIs('AWS::Lambda::Function', 0);
  });

  it("fits a StackSet's template from S3 (460,800 bytes), as the file synth writes it", () => {
    // Too large for --template-body (51,200 bytes): the README uploads it and passes --template-url.
    const { app, member } = createApp({
      context: { 'aws:cdk:bundling-stacks': [], ...ORGANISATION_CONTEXT },
    });
    const file = app.synth().getStackByName(member!.stackName).templateFullPath;
    const size = statSync(file).size;
    expect(size).toBeGreaterThan(51_200);
    expect(size).toBeLessThan(460_800);
  });

  it('holds the install, check, remove and Windows documents under the central names', () => {
    const documents = resources('AWS::SSM::Document').map((document) => ({
      name: document.Properties.Name as string,
      content: document.Properties.Content as CommandDocumentContent,
    }));
    expect(documents.map((document) => document.name).sort()).toEqual([
      'CertLifecycle-Check-ACMCertificate',
      'CertLifecycle-DryRun-ACMCertificate',
      'CertLifecycle-Install-ACMCertificate',
      'CertLifecycle-Remove-ACMCertificate',
      'CertLifecycle-Windows-ACMCertificate',
    ]);
    const install = documents.find((document) => document.name === 'CertLifecycle-Install-ACMCertificate')!;
    expect(install.content.mainSteps[1]!.inputs.documentPath).toBe('CertLifecycle-Windows-ACMCertificate');
  });

  describe('the role the central deployment acts through', () => {
    const trust = () =>
      Object.values(
        (resolved as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> })
          .Resources,
      ).find(
        (resource) =>
          resource.Type === 'AWS::IAM::Role' &&
          resource.Properties.RoleName === 'CertLifecycle-Central-eu-central-1',
      )!.Properties.AssumeRolePolicyDocument as { Statement: { Principal: unknown }[] };
    const assume = (principalArn: string, organization: string) => {
      const document = trust();
      const principal = JSON.stringify(document.Statement[0]!.Principal);
      return (
        principal.includes(`${CENTRAL}:root`) &&
        principalArn.startsWith(`arn:aws:iam::${CENTRAL}:`) &&
        allows(document, {
          action: 'sts:AssumeRole',
          resource: '*',
          context: { 'aws:PrincipalArn': principalArn, 'aws:PrincipalOrgID': organization },
        })
      );
    };

    it("may be assumed by the central deployment's roles in the organisation", () => {
      expect(
        assume(
          `arn:aws:iam::${CENTRAL}:role/CertLifecycle-ExportWorkflowRecordAndInstallRole1A2B-XYZ`,
          ORGANIZATION,
        ),
      ).toBe(true);
    });

    it('may not be assumed by another role of the central account, another organisation or another account', () => {
      expect(assume(`arn:aws:iam::${CENTRAL}:role/SomeoneElse`, ORGANIZATION)).toBe(false);
      expect(assume(`arn:aws:iam::${CENTRAL}:role/CertLifecycle-Anything`, 'o-zzzzzzzzzz')).toBe(false);
      expect(assume(`arn:aws:iam::999988887777:role/CertLifecycle-Anything`, ORGANIZATION)).toBe(false);
    });
  });

  describe("the hosts' policy", () => {
    const policy = () =>
      Object.values(
        (resolved as { Resources: Record<string, { Type: string; Properties: { PolicyDocument: never } }> })
          .Resources,
      ).find((resource) => resource.Type === 'AWS::IAM::ManagedPolicy')!.Properties.PolicyDocument as {
        Statement: never[];
      };
    const secret = `arn:aws:secretsmanager:eu-west-1:${CENTRAL}:secret:acm-passphrase/web/0123456789abcdef-AbCdEf`;

    it('reads a secret in the central account tagged like the role', () => {
      expect(
        allows(policy(), {
          action: 'secretsmanager:GetSecretValue',
          resource: secret,
          context: { 'aws:PrincipalTag/env': 'prod', 'secretsmanager:ResourceTag/env': 'prod' },
        }),
      ).toBe(true);
    });

    it('reads nothing with another tag, or with none', () => {
      const request = (context: Record<string, string>) =>
        allows(policy(), { action: 'secretsmanager:GetSecretValue', resource: secret, context });
      expect(request({ 'aws:PrincipalTag/env': 'dev', 'secretsmanager:ResourceTag/env': 'prod' })).toBe(
        false,
      );
      expect(request({ 'secretsmanager:ResourceTag/env': 'prod' })).toBe(false);
    });

    it('decrypts only with the central key, known by its alias, through Secrets Manager in the central Region', () => {
      const key = `arn:aws:kms:eu-west-1:${CENTRAL}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
      const decrypt = (context: Record<string, string | string[]>) =>
        allows(policy(), { action: 'kms:Decrypt', resource: key, context });
      expect(
        decrypt({
          'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
          'kms:ResourceAliases': ['alias/CertLifecycle-certificates'],
        }),
      ).toBe(true);
      expect(
        decrypt({
          'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
          'kms:ResourceAliases': ['alias/other'],
        }),
      ).toBe(false);
      expect(decrypt({ 'kms:ResourceAliases': ['alias/CertLifecycle-certificates'] })).toBe(false);
    });
  });

  it('the central key lets hosts of the organisation decrypt through Secrets Manager only', () => {
    const { stack } = createApp({ context: { 'aws:cdk:bundling-stacks': [], ...ORGANISATION_CONTEXT } });
    const central = resolveIntrinsics(Template.fromStack(stack).toJSON(), {
      'AWS::Partition': 'aws',
      'AWS::AccountId': CENTRAL,
      'AWS::Region': 'eu-west-1',
    }) as {
      Resources: Record<string, { Type: string; Properties: { KeyPolicy: { Statement: unknown[] } } }>;
    };
    const keyPolicy = Object.values(central.Resources).find((resource) => resource.Type === 'AWS::KMS::Key')!
      .Properties.KeyPolicy;
    // A principal of a member account: the key's own account's statements do not apply to it.
    const decrypt = (context: Record<string, string>) =>
      allows(keyPolicy, { action: 'kms:Decrypt', resource: '*', context, principalAccount: MEMBER });
    expect(
      decrypt({
        'aws:PrincipalOrgID': ORGANIZATION,
        'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
      }),
    ).toBe(true);
    expect(
      decrypt({
        'aws:PrincipalOrgID': 'o-zzzzzzzzzz',
        'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
      }),
    ).toBe(false);
    expect(decrypt({ 'aws:PrincipalOrgID': ORGANIZATION })).toBe(false);
  });

  it("forwards this app's command and association events to the central event bus, with a role", () => {
    const rule = resources('AWS::Events::Rule')[0]!.Properties as {
      EventPattern: { detail: { 'document-name': string[] }; 'detail-type': string[] };
      Targets: { Arn: unknown; RoleArn?: unknown }[];
    };
    expect(rule.EventPattern['detail-type']).toEqual([
      'EC2 Command Status-change Notification',
      'EC2 State Manager Instance Association State Change',
    ]);
    expect(rule.EventPattern.detail['document-name']).toEqual([
      'CertLifecycle-Install-ACMCertificate',
      'CertLifecycle-Check-ACMCertificate',
      'CertLifecycle-Remove-ACMCertificate',
    ]);
    expect(joined(rule.Targets[0]!.Arn)).toBe(
      `arn:{"Ref":"AWS::Partition"}:events:eu-west-1:${CENTRAL}:event-bus/default`,
    );
    expect(rule.Targets[0]!.RoleArn).toBeDefined();
  });

  it("forwards this account's ACM certificate events for the central findings and alerts, and lets the central deployment describe the certificate; off by choice", () => {
    const rules = resources('AWS::Events::Rule').map(
      (rule) => rule.Properties as { EventPattern: { source: string[]; 'detail-type': string[] } },
    );
    const acmRule = rules.find((rule) => rule.EventPattern.source[0] === 'aws.acm')!;
    expect(acmRule.EventPattern['detail-type']).toEqual([
      'ACM Certificate Approaching Expiration',
      'ACM Certificate Renewal Action Required',
      'ACM Certificate Expired',
      'ACM Certificate Available',
    ]);
    const statements = resources('AWS::IAM::Policy').flatMap(
      (policy) => (policy.Properties.PolicyDocument as { Statement: { Action: unknown }[] }).Statement,
    );
    expect(statements.some((statement) => statement.Action === 'acm:DescribeCertificate')).toBe(true);

    const off = createApp({
      context: { 'aws:cdk:bundling-stacks': [], ...ORGANISATION_CONTEXT, memberCertificateAlerts: 'false' },
    });
    const offTemplate = JSON.stringify(Template.fromStack(off.member!).toJSON());
    expect(offTemplate).not.toContain('aws.acm');
    expect(offTemplate).not.toContain('acm:DescribeCertificate');
  });
});
