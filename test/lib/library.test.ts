import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { CertLifecycleStack, ConfigError, MemberStack } from 'cert-lifecycle';
import { App } from 'aws-cdk-lib';
import { consumerApp } from '../consumer/app.js';

const outdir = mkdtempSync(path.join(tmpdir(), 'consumer-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the package as a construct library', () => {
  it('builds the central stack and a member stage from an app of its own', () => {
    const assembly = consumerApp(outdir).synth();
    const central = Template.fromJSON(assembly.getStackByName('PlatformCertificates').template);
    central.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/PlatformCertificates-certificates',
    });
    central.hasResourceProperties('AWS::SSM::Document', {
      Name: 'PlatformCertificates-Install-ACMCertificate',
    });
    const member = assembly.getNestedAssembly('assembly-WorkloadA').stacks[0]!;
    expect(member.environment.account).toBe('444455556666');
    const memberTemplate = Template.fromJSON(member.template);
    memberTemplate.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'PlatformCertificates-Central-eu-west-1',
    });
    memberTemplate.hasResourceProperties('AWS::SSM::Document', {
      Name: 'PlatformCertificates-Install-ACMCertificate',
    });
  });

  it('checks settings given in code by the same rules as context values', () => {
    let thrown: unknown;
    try {
      new CertLifecycleStack(new App(), 'Bad', {
        config: { expiryThresholdDays: 0, alertEmail: 'x' } as never,
      });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).problems).toEqual([
      'unknown setting alertEmail (did you mean alertEmails?): nothing reads it (AppConfig lists them)',
      expect.stringMatching(/^expiryThresholdDays /),
    ]);
  });

  it('exports the member stack for a StackSet template of its own', () => {
    const stack = new MemberStack(new App(), 'Member', {
      central: {
        account: '111122223333',
        region: 'eu-west-1',
        stackName: 'Certs',
        organizationId: 'o-a1b2c3d4e5',
      },
    });
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Role', {
      RoleName: { 'Fn::Join': ['', ['Certs-Central-', { Ref: 'AWS::Region' }]] },
    });
  });
});
