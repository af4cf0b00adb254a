import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { targetReadPolicy } from '../../lambda/shared/secret-sharing.js';
import { createApp } from '../../lib/app.js';
import { allows, resolveIntrinsics } from '../helpers/policy-evaluation.js';

/**
 * The whole chain a cross-account read and a cross-account action pass through, evaluated on the policies
 * the app writes: a host of a member account reads a central secret only when the secret's resource
 * policy (written by the export), the host role's identity policy (the member stack's) and the key policy
 * all allow it; a central function acts in a member account only through the member role of the
 * organization; the central bus takes events from the member stacks' forwarding role only.
 */
const CENTRAL = '111122223333';
const MEMBER = '444455556666';
const OTHER_MEMBER = '777788889999';
const ORGANIZATION = 'o-a1b2c3d4e5';
const CONTEXT = {
  'aws:cdk:bundling-stacks': [],
  organizationId: ORGANIZATION,
  centralAccount: CENTRAL,
  centralRegion: 'eu-west-1',
};

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
let central: Resources;
let member: Resources;
beforeAll(() => {
  const app = createApp({ context: CONTEXT });
  const pseudo = (account: string, region: string) => ({
    'AWS::Partition': 'aws',
    'AWS::AccountId': account,
    'AWS::Region': region,
    'AWS::StackName': 'CertLifecycle',
  });
  central = (
    resolveIntrinsics(Template.fromStack(app.stack).toJSON(), pseudo(CENTRAL, 'eu-west-1')) as {
      Resources: Resources;
    }
  ).Resources;
  member = (
    resolveIntrinsics(Template.fromStack(app.member!).toJSON(), pseudo(MEMBER, 'eu-central-1')) as {
      Resources: Resources;
    }
  ).Resources;
});

const ofType = (resources: Resources, type: string) =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type);

describe('a host in a member account reading its central secret', () => {
  const secret = `arn:aws:secretsmanager:eu-west-1:${CENTRAL}:secret:acm-passphrase/web/0123456789abcdef-AbCdEf`;
  const resourcePolicy = () =>
    JSON.parse(
      targetReadPolicy(
        { TargetTagKey: 'env', TargetTagValue: 'prod' },
        { TargetAccount: MEMBER, TargetRegion: 'eu-central-1' },
        { partition: 'aws', organizationId: ORGANIZATION },
      ),
    ) as { Statement: unknown[] };
  const hostPolicy = () =>
    ofType(member, 'AWS::IAM::ManagedPolicy')[0]![1].Properties.PolicyDocument as { Statement: unknown[] };
  /** Both sides must allow a cross-account read: the secret's policy and the host role's own. */
  const reads = (host: { account: string; org: string; tag?: string }) => {
    const context = {
      'aws:PrincipalAccount': host.account,
      'aws:PrincipalOrgID': host.org,
      'aws:PrincipalTag/env': host.tag,
      'secretsmanager:ResourceTag/env': 'prod',
    };
    const request = { action: 'secretsmanager:GetSecretValue', resource: secret, context };
    return (
      allows(resourcePolicy(), { ...request, principalAccount: host.account }) &&
      allows(hostPolicy(), request)
    );
  };

  it('is allowed for a role of the mapping account carrying the mapping tag', () => {
    expect(reads({ account: MEMBER, org: ORGANIZATION, tag: 'prod' })).toBe(true);
  });

  it('is refused to a role of that account without the tag, or with another value', () => {
    expect(reads({ account: MEMBER, org: ORGANIZATION })).toBe(false);
    expect(reads({ account: MEMBER, org: ORGANIZATION, tag: 'dev' })).toBe(false);
  });

  it('is refused to another account of the organization, and to any account of another organization', () => {
    expect(reads({ account: OTHER_MEMBER, org: ORGANIZATION, tag: 'prod' })).toBe(false);
    expect(reads({ account: MEMBER, org: 'o-zzzzzzzzzz', tag: 'prod' })).toBe(false);
  });

  it('names an account, never "*", so Secrets Manager does not take the policy for a public one', () => {
    const [statement] = resourcePolicy().Statement as { Principal: unknown }[];
    expect(statement!.Principal).toEqual({ AWS: `arn:aws:iam::${MEMBER}:root` });
  });
});

describe('the central functions acting in member accounts', () => {
  const assumeStatements = () =>
    ofType(central, 'AWS::IAM::Policy').flatMap(([id, resource]) =>
      (resource.Properties.PolicyDocument as { Statement: { Action: unknown }[] }).Statement.filter(
        (statement) => statement.Action === 'sts:AssumeRole',
      ).map((statement) => ({ id, statement })),
    );

  it('are the ones that use SSM where the hosts are, and may assume only the member role, in the organization', () => {
    const holders = assumeStatements().map(({ id }) => id.replace(/Role[A-Za-z0-9]*$/, ''));
    for (const expected of [
      'ExportWorkflowExportCertificate',
      'ExportWorkflowRecordAndInstall',
      'ExportWorkflowInstallFinished',
      'ExportWorkflowDryRun',
      'ExportWorkflowUnmap',
      'DriftCheck',
      'DriftCompare',
      'ConvergenceResult',
    ]) {
      expect(
        holders.some((holder) => holder.startsWith(expected)),
        expected,
      ).toBe(true);
    }
    expect(holders.some((holder) => holder.startsWith('ExpiryExpiryScan'))).toBe(false);
    for (const { statement } of assumeStatements()) {
      const document = { Statement: [statement] };
      const assume = (role: string, org: string) =>
        allows(document, { action: 'sts:AssumeRole', resource: role, context: { 'aws:ResourceOrgID': org } });
      expect(assume(`arn:aws:iam::${MEMBER}:role/CertLifecycle-Central-eu-central-1`, ORGANIZATION)).toBe(
        true,
      );
      expect(assume(`arn:aws:iam::${MEMBER}:role/CertLifecycle-Central-eu-central-1`, 'o-zzzzzzzzzz')).toBe(
        false,
      );
      expect(assume(`arn:aws:iam::${MEMBER}:role/Admin`, ORGANIZATION)).toBe(false);
    }
  });

  it("the member role's name is the one they assume", () => {
    const names = ofType(member, 'AWS::IAM::Role').map(([, role]) => role.Properties.RoleName);
    expect(names).toContain('CertLifecycle-Central-eu-central-1');
  });
});

describe('the central event bus', () => {
  const busPolicy = () => {
    const [[, resource]] = ofType(central, 'AWS::Events::EventBusPolicy') as [[string, Resources[string]]];
    return { Statement: [resource.Properties.Statement] };
  };
  const put = (principal: string, org: string) =>
    allows(busPolicy(), {
      action: 'events:PutEvents',
      resource: `arn:aws:events:eu-west-1:${CENTRAL}:event-bus/default`,
      context: { 'aws:PrincipalOrgID': org, 'aws:PrincipalArn': principal },
    });

  it("takes events from the member stacks' forwarding role, by the name the member stack gives it", () => {
    const names = ofType(member, 'AWS::IAM::Role').map(([, role]) => role.Properties.RoleName as string);
    const forwarder = names.find((name) => name.includes('-Forward-'))!;
    expect(put(`arn:aws:iam::${MEMBER}:role/${forwarder}`, ORGANIZATION)).toBe(true);
  });

  it('refuses any other role of the organization, and the same role name in another organization', () => {
    expect(put(`arn:aws:iam::${MEMBER}:role/Admin`, ORGANIZATION)).toBe(false);
    expect(put(`arn:aws:iam::${MEMBER}:role/CertLifecycle-Forward-eu-central-1`, 'o-zzzzzzzzzz')).toBe(false);
  });
});

describe('the export sharing a secret', () => {
  it('may put a resource policy only on the mapping secrets, and only with BlockPublicPolicy', () => {
    const statements = ofType(central, 'AWS::IAM::Policy').flatMap(
      ([, resource]) => (resource.Properties.PolicyDocument as { Statement: unknown[] }).Statement,
    );
    const document = { Statement: statements };
    const put = (secret: string, block: string | undefined) =>
      allows(document, {
        action: 'secretsmanager:PutResourcePolicy',
        resource: `arn:aws:secretsmanager:eu-west-1:${CENTRAL}:secret:${secret}`,
        context: { 'secretsmanager:BlockPublicPolicy': block },
      });
    expect(put('acm-passphrase/web/0123456789abcdef-AbCdEf', 'true')).toBe(true);
    expect(put('acm-passphrase/web/0123456789abcdef-AbCdEf', 'false')).toBe(false);
    expect(put('acm-passphrase/web/0123456789abcdef-AbCdEf', undefined)).toBe(false);
    expect(put('acm-export/0123-AbCdEf', 'true')).toBe(false);
  });
});
