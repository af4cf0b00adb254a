import {
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRoleTagsCommand,
  NoSuchEntityException,
} from '@aws-sdk/client-iam';
import {
  type CommandInvocation,
  type CommandInvocationStatus,
  type CommandPluginStatus,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { collectDryRun, type DryRunReport } from '../../lambda/dry-run/dry-run.js';
import {
  type HostCheckCommand,
  collectHostAnswers,
  roleNameOf,
  sendHostCheck,
} from '../../lambda/dry-run/host-check.js';
import { mappingSecretName } from '../../lambda/shared/certificate-secret.js';
import { hostCheckLines } from '../../lambda/shared/host-check.js';
import { profileSettings } from '../../lambda/shared/install-parameters.js';
import type { CertificateMapping } from '../../lambda/shared/mapping-store.js';
import {
  ACCOUNT_ID,
  CERTIFICATE_ARN,
  INSTANCE_ACCESS_POLICY_ARN,
  PROFILES,
  REGION,
  REQUEST,
} from '../helpers/fixtures.js';

/*
 * SendCommand, ListCommandInvocations (with Details, as the SSM API reference shows it) and IAM's
 * ListRoleTags and ListAttachedRolePolicies are mocked; the hosts' lines are those the install script
 * prints for Preflight and Rehearse (its own tests run it for real).
 */

const ssm = mockClient(SSMClient);
const iam = mockClient(IAMClient);
beforeEach(() => {
  ssm.reset();
  iam.reset();
});

const COMMAND_ID = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';
const SENT_AT = new Date('2026-12-06T10:00:00Z');
const ROLE_IDENTITY = `arn:aws:sts::${ACCOUNT_ID}:assumed-role/web-hosts/i-0123456789abcdef0`;
const ids = (count: number) => Array.from({ length: count }, (_, i) => `i-${String(i).padStart(17, '0')}`);

const command = (instanceIds: string[], mode: HostCheckCommand['mode'] = 'preflight'): HostCheckCommand => ({
  mode,
  commandId: COMMAND_ID,
  secretId: mappingSecretName(REQUEST),
  tagKey: REQUEST.TargetTagKey,
  tagValue: REQUEST.TargetTagValue,
  deadline: new Date(SENT_AT.getTime() + 300_000).toISOString(),
  pending: true,
  instanceIds,
});

function invocation(
  instanceId: string,
  status: CommandInvocationStatus & CommandPluginStatus,
  lines: string[],
): CommandInvocation {
  return {
    CommandId: COMMAND_ID,
    InstanceId: instanceId,
    Status: status,
    CommandPlugins: [{ Name: 'dryRunInstall', Status: status, Output: lines.join('\n') }],
  };
}

const READY_LINES = [
  'CHECK tools ok OpenSSL 3.0.13, aws-cli/2.22.0, flock',
  'CHECK owner ok the files would belong to root:root',
  `CHECK secret note ${mappingSecretName(REQUEST)} does not exist until the first export; Secrets Manager answered as ${ROLE_IDENTITY}`,
  'CHECK CertDirectory ok /etc/ssl/certs exists, belongs to root and no one else may write it',
  'CHECK reload ok systemctl reload nginx: unit nginx.service is loaded',
  `RESULT cert_name=${REQUEST.CertName} mode=preflight problems=0 identity=${ROLE_IDENTITY} status=ready`,
];

const DENIED_LINES = [
  'CHECK tools ok OpenSSL 3.0.13, aws-cli/2.22.0, flock',
  `CHECK secret problem cannot read ${mappingSecretName(REQUEST)}: AccessDeniedException`,
  `RESULT cert_name=${REQUEST.CertName} mode=rehearse problems=1 identity=${ROLE_IDENTITY} status=not-ready`,
];

/** The host's role carries the target tag and has the instance access policy attached. */
function roleSetUpRight() {
  iam
    .on(ListRoleTagsCommand)
    .resolves({ Tags: [{ Key: REQUEST.TargetTagKey, Value: REQUEST.TargetTagValue }] });
  iam.on(ListAttachedRolePoliciesCommand).resolves({
    AttachedPolicies: [{ PolicyName: 'InstanceAccess', PolicyArn: INSTANCE_ACCESS_POLICY_ARN }],
  });
}

function collectDeps(now = new Date(SENT_AT.getTime() + 30_000)) {
  return {
    ssm: new SSMClient({ region: REGION }),
    iam: new IAMClient({ region: REGION }),
    accountId: ACCOUNT_ID,
    instanceAccessPolicyArn: INSTANCE_ACCESS_POLICY_ARN,
    now: () => now,
  };
}

describe('sending the dry run to the hosts', () => {
  it('asks the first 50 ready hosts for a preflight of the secret the first export will write', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
    const sent = await sendHostCheck(REQUEST, profileSettings(PROFILES), undefined, ids(60), {
      ssm: new SSMClient({ region: REGION }),
      region: REGION,
      documentName: 'CertLifecycle-DryRun-ACMCertificate',
      now: () => SENT_AT,
    });
    const [call] = ssm.commandCalls(SendCommandCommand);
    expect(call!.args[0].input).toMatchObject({
      DocumentName: 'CertLifecycle-DryRun-ACMCertificate',
      InstanceIds: ids(50),
      Parameters: {
        Action: ['Preflight'],
        CertName: [REQUEST.CertName],
        SecretId: [mappingSecretName(REQUEST)],
        Region: [REGION],
        ReloadCommand: ['systemctl reload nginx'],
      },
      TimeoutSeconds: 120,
    });
    expect(JSON.stringify(call!.args[0].input)).not.toMatch(/Passphrase|PRIVATE KEY/);
    expect(sent).toEqual(command(ids(50)));
  });

  it("rehearses a mapping that exists against that mapping's own secret", async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
    const mapping = { SecretId: 'acm-passphrase/web-server/feedfacecafebeef' } as CertificateMapping;
    const sent = await sendHostCheck(REQUEST, profileSettings(PROFILES), mapping, ids(1), {
      ssm: new SSMClient({ region: REGION }),
      region: REGION,
      documentName: 'CertLifecycle-DryRun-ACMCertificate',
    });
    expect(ssm.commandCalls(SendCommandCommand)[0]!.args[0].input.Parameters).toMatchObject({
      Action: ['Rehearse'],
      SecretId: [mapping.SecretId],
    });
    expect(sent).toMatchObject({ mode: 'rehearsal', secretId: mapping.SecretId });
  });
});

describe("reading the hosts' answers", () => {
  it('waits while a host is still running the check and the deadline has not passed', async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation(ids(1)[0]!, 'InProgress', [])],
    });
    expect(await collectHostAnswers(command(ids(1)), collectDeps())).toBeUndefined();
    expect(ssm.commandCalls(ListCommandInvocationsCommand)[0]!.args[0].input).toMatchObject({
      CommandId: COMMAND_ID,
      Details: true,
    });
  });

  it('reports a host that is still running at the deadline as giving no answer', async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation(ids(1)[0]!, 'InProgress', [])],
    });
    const answers = await collectHostAnswers(
      command(ids(1)),
      collectDeps(new Date(SENT_AT.getTime() + 301_000)),
    );
    expect(answers!.get(ids(1)[0]!)).toMatchObject({
      status: 'no answer',
      error: 'still InProgress after 300 s',
    });
  });

  it("reads a host's checks, and before the first export checks its role, as no secret exists to read", async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation(ids(1)[0]!, 'Success', READY_LINES)],
    });
    roleSetUpRight();
    const answer = (await collectHostAnswers(command(ids(1)), collectDeps()))!.get(ids(1)[0]!)!;
    expect(answer.status).toBe('ready');
    expect(answer.checks.map((check) => `${check.item} ${check.verdict}`)).toEqual([
      'tools ok',
      'owner ok',
      'secret note',
      'CertDirectory ok',
      'reload ok',
      'role-tag ok',
      'role-policy ok',
    ]);
  });

  it('asks IAM nothing of a host that read the secret', async () => {
    const rehearsed = [
      `CHECK secret ok this host's role reads ${mappingSecretName(REQUEST)}`,
      `rehearsal: would install serial 0a1b, replacing 09ff`,
      `RESULT cert_name=${REQUEST.CertName} mode=rehearse problems=0 identity=${ROLE_IDENTITY} would=install status=ready`,
    ];
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation(ids(1)[0]!, 'Success', rehearsed)],
    });
    const answer = (await collectHostAnswers(command(ids(1), 'rehearsal'), collectDeps()))!.get(ids(1)[0]!)!;
    expect(answer).toMatchObject({
      status: 'ready',
      would: 'install',
      rehearsal: 'would install serial 0a1b, replacing 09ff',
    });
    expect(iam.calls()).toHaveLength(0);
  });

  it("says which of the role's tag and policy keep a host from the secret, asking IAM once per role", async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: ids(2).map((id) => invocation(id, 'Success', DENIED_LINES)),
    });
    iam.on(ListRoleTagsCommand).resolves({ Tags: [{ Key: REQUEST.TargetTagKey, Value: 'staging' }] });
    iam.on(ListAttachedRolePoliciesCommand).resolves({
      AttachedPolicies: [
        { PolicyName: 'AmazonSSMManagedInstanceCore', PolicyArn: 'arn:aws:iam::aws:policy/x' },
      ],
    });
    const answers = (await collectHostAnswers(command(ids(2), 'rehearsal'), collectDeps()))!;
    for (const answer of answers.values()) {
      expect(answer.status).toBe('not ready');
      expect(answer.checks.filter((check) => check.item.startsWith('role'))).toEqual([
        {
          item: 'role-tag',
          verdict: 'problem',
          words: `role web-hosts carries ${REQUEST.TargetTagKey}=staging; tag it ${REQUEST.TargetTagKey}=${REQUEST.TargetTagValue} so it may read the secret`,
        },
        {
          item: 'role-policy',
          verdict: 'problem',
          words: `role web-hosts does not have the instance access policy ${INSTANCE_ACCESS_POLICY_ARN} attached; attach it`,
        },
      ]);
    }
    expect(iam.commandCalls(ListRoleTagsCommand)).toHaveLength(1);
    expect(iam.commandCalls(ListRoleTagsCommand)[0]!.args[0].input).toMatchObject({ RoleName: 'web-hosts' });
  });

  it('confirms a role that is set up right, and notes one IAM would not describe', async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation(ids(1)[0]!, 'Success', DENIED_LINES)],
    });
    roleSetUpRight();
    const found = (await collectHostAnswers(command(ids(1)), collectDeps()))!.get(ids(1)[0]!)!;
    expect(
      found.checks.filter((check) => check.item.startsWith('role')).map((check) => check.verdict),
    ).toEqual(['ok', 'ok']);

    iam.reset();
    iam.on(ListRoleTagsCommand).rejects(new NoSuchEntityException({ message: 'no role', $metadata: {} }));
    const unread = (await collectHostAnswers(command(ids(1)), collectDeps()))!.get(ids(1)[0]!)!;
    expect(unread.checks.at(-1)).toMatchObject({ item: 'role', verdict: 'note' });
    expect(unread.checks.at(-1)!.words).toContain('NoSuchEntityException');
  });

  it("leaves a role of another account alone: this account's IAM cannot describe it", async () => {
    const other = 'arn:aws:sts::444455556666:assumed-role/web-hosts/i-0123456789abcdef0';
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        invocation(ids(1)[0]!, 'Success', [
          `CHECK secret problem cannot read it: AccessDeniedException`,
          `RESULT cert_name=${REQUEST.CertName} mode=preflight problems=1 identity=${other} status=not-ready`,
        ]),
      ],
    });
    await collectHostAnswers(command(ids(1)), collectDeps());
    expect(iam.calls()).toHaveLength(0);
  });
});

describe('the dry run report with the answers', () => {
  const instances = ids(52).map((instanceId) => ({ instanceId, ready: true }));
  const report: DryRunReport & { hostCheck: HostCheckCommand } = {
    dryRun: true,
    certificateArn: CERTIFICATE_ARN,
    target: `${REQUEST.TargetTagKey}=${REQUEST.TargetTagValue}`,
    exportable: true,
    profile: 'default',
    instances: [
      ...instances,
      { instanceId: 'i-offline000000000', ready: false, notReadyBecause: 'agent is ConnectionLost' },
    ],
    hostCheck: command(ids(50)),
    ready: false,
  };

  it('marks each checked host by its answer, hosts past the first 50 as not checked, and ends the wait', async () => {
    const answered = ids(50).map((id, i) =>
      i === 1
        ? invocation(id, 'Failed', ['ERROR: the reload command systemctl reload nginx is not there'])
        : invocation(id, 'Success', READY_LINES),
    );
    roleSetUpRight();
    // SSM may split the runs over pages: every page is read.
    ssm
      .on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: answered.slice(0, 2), NextToken: 'page-2' })
      .resolves({ CommandInvocations: answered.slice(2) });
    const done = await collectDryRun(report, collectDeps());
    const byId = new Map(done.instances.map((instance) => [instance.instanceId, instance]));
    expect(byId.get(ids(1)[0]!)).toMatchObject({ ready: true, host: { status: 'ready' } });
    expect(byId.get(ids(2)[1]!)).toMatchObject({
      ready: false,
      host: { status: 'failed' },
      notReadyBecause: 'the reload command systemctl reload nginx is not there',
    });
    expect(byId.get(ids(51)[50]!)).toMatchObject({
      ready: false,
      notReadyBecause: 'not checked: a dry run looks at the first 50 ready hosts',
    });
    expect(byId.get('i-offline000000000')).toMatchObject({ notReadyBecause: 'agent is ConnectionLost' });
    expect(done.hostCheck!.pending).toBe(false);
    expect(done.ready).toBe(false);
  });

  it('keeps the report pending, unchanged, while hosts are still answering', async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation(ids(1)[0]!, 'Pending', [])],
    });
    expect(await collectDryRun(report, collectDeps())).toBe(report);
  });
});

describe('reading what a host printed', () => {
  it('takes CHECK lines only, and a role name only from an assumed-role identity of this account', () => {
    expect(
      hostCheckLines(
        'noise\nCHECK tools problem missing: flock\r\nCHECK journal note x y z\nCHECK bad maybe',
      ),
    ).toEqual([
      { item: 'tools', verdict: 'problem', words: 'missing: flock' },
      { item: 'journal', verdict: 'note', words: 'x y z' },
    ]);
    expect(roleNameOf(ROLE_IDENTITY, ACCOUNT_ID)).toBe('web-hosts');
    expect(roleNameOf(`arn:aws-us-gov:sts::${ACCOUNT_ID}:assumed-role/a.b@c/s`, ACCOUNT_ID)).toBe('a.b@c');
    expect(roleNameOf(`arn:aws:iam::${ACCOUNT_ID}:user/admin`, ACCOUNT_ID)).toBeUndefined();
    expect(roleNameOf(ROLE_IDENTITY, '444455556666')).toBeUndefined();
  });
});
