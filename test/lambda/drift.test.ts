import { ACMClient, DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkParameters, startDriftChecks } from '../../lambda/drift-check/drift-check.js';
import { handleDriftResult } from '../../lambda/drift-result/drift-result.js';
import { driftFinding } from '../../lambda/shared/certificate-finding.js';
import { recordExport } from '../../lambda/shared/mapping-store.js';
import { asffProblems } from '../helpers/asff.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { CERTIFICATE_ARN, PROFILES, REGION, REQUEST } from '../helpers/fixtures.js';
import { fakeSecurityHub } from '../helpers/security-hub-fake.js';
import { invocation } from '../helpers/ssm-fake.js';

const NOW = new Date('2026-11-24T12:00:00.000Z');
const CURRENT = '1d:2e:3f';
const ssm = mockClient(SSMClient);
const acm = mockClient(ACMClient);
const sns = mockClient(SNSClient);
let hub: ReturnType<typeof fakeSecurityHub>;

/** ListCommands' answer for the drift check command, with the check document's parameters. */
const checkCommand = (parameters: Record<string, string[]> = {}) => ({
  Commands: [
    {
      CommandId: 'check-1',
      Parameters: {
        CertName: ['web-server'],
        CertificateArn: [CERTIFICATE_ARN],
        CertDirectory: ['/etc/cert-lifecycle/certs'],
        ...parameters,
      },
      Targets: [{ Key: 'tag:env', Values: ['dev'] }],
    },
  ],
});

beforeEach(() => {
  ssm.reset();
  acm.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  acm
    .on(DescribeCertificateCommand)
    .resolves({ Certificate: { CertificateArn: CERTIFICATE_ARN, Serial: CURRENT } });
  ssm.on(ListCommandsCommand).resolves(checkCommand());
  hub = fakeSecurityHub();
});
afterEach(() => hub.client.restore());

const compare = () =>
  handleDriftResult(
    {
      detail: {
        'command-id': 'check-1',
        'document-name': 'CertLifecycle-Check-ACMCertificate',
        status: 'Success',
      },
    },
    {
      ssm: new SSMClient({ region: REGION }),
      acm: new ACMClient({ region: REGION }),
      securityHub: new SecurityHubClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
      securityHubRegion: REGION,
      now: () => NOW,
    },
  );

const answer = (instanceId: string, fields: string) =>
  invocation(instanceId, 'Success', 'Success', `RESULT cert_name=web-server ${fields}`);

describe('drift result', () => {
  it('raises a finding and one alert for hosts with an old certificate or none, and leaves in-sync hosts alone', async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        answer('i-0current', `status=present serial=${CURRENT.toUpperCase()}`),
        answer('i-0old', 'status=present serial=0a:0b:0c'),
        answer('mi-0missing', 'status=missing'),
        invocation('i-0offline', 'Failed', 'Undeliverable'),
      ],
    });
    const outcome = await compare();
    expect(outcome).toMatchObject({
      checked: 3,
      drifted: [{ instanceId: 'i-0old', serial: '0a:0b:0c' }, { instanceId: 'mi-0missing' }],
      unreachable: ['i-0offline'],
    });
    const findings = [...hub.stored.values()];
    expect(findings.map((finding) => finding.Title).sort()).toEqual([
      'Host i-0old serves an old certificate web-server',
      'Host mi-0missing is missing the certificate web-server',
    ]);
    for (const finding of findings) expect(asffProblems(finding)).toEqual([]);
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe('Certificate drift: 2 hosts not serving the current web-server');
    expect(input.MessageAttributes?.event_type?.StringValue).toBe('HostDrift');
    const email = JSON.parse(input.Message!).email as string;
    expect(email).toContain('i-0old                 serves serial 0a:0b:0c');
    expect(email).toContain('mi-0missing            files missing');
  });

  it('archives the finding of a host that is back in sync, and sends nothing when all are', async () => {
    const stale = driftFinding(
      { certificateArn: CERTIFICATE_ARN, certName: 'web-server', currentSerial: CURRENT },
      { instanceId: 'i-0aaa', serial: '0a:0b:0c' },
      { securityHubRegion: REGION, now: new Date(NOW.getTime() - 86_400_000) },
    );
    hub.stored.set(stale.Id!, stale);
    ssm
      .on(ListCommandInvocationsCommand)
      .resolves({ CommandInvocations: [answer('i-0aaa', `status=present serial=${CURRENT}`)] });
    const outcome = await compare();
    expect(outcome.resolved).toBe(1);
    expect(hub.stored.get(stale.Id!)?.RecordState).toBe('ARCHIVED');
    expect(sns).not.toHaveReceivedAnyCommand();
  });

  it('with an endpoint in the profile, counts a host whose files are current but whose service is not as drift', async () => {
    ssm.on(ListCommandsCommand).resolves(checkCommand({ VerifyEndpoint: ['127.0.0.1:443'] }));
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        answer('i-0good', `status=present serial=${CURRENT} served=${CURRENT}`),
        answer('i-0stale', `status=present serial=${CURRENT} served=0a:0b:0c`),
        answer('i-0down', `status=present serial=${CURRENT} served=none`),
      ],
    });
    const outcome = await compare();
    expect(outcome.drifted).toEqual([
      { instanceId: 'i-0stale', serial: CURRENT, served: { endpoint: '127.0.0.1:443', serial: '0a:0b:0c' } },
      { instanceId: 'i-0down', serial: CURRENT, served: { endpoint: '127.0.0.1:443' } },
    ]);
    const findings = [...hub.stored.values()];
    expect(
      findings.map((finding) => [finding.Title, finding.FindingProviderFields?.Severity?.Label]).sort(),
    ).toEqual([
      ['Host i-0down does not serve TLS with the certificate web-server', 'HIGH'],
      ['Host i-0stale serves an old certificate web-server', 'MEDIUM'],
    ]);
    expect(findings.find((finding) => finding.Title?.includes('i-0stale'))?.Description).toContain(
      `holds ACM's current ${CURRENT} of web-server in its files, but its service at 127.0.0.1:443 serves serial 0a:0b:0c`,
    );
    const email = JSON.parse(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!).email as string;
    expect(email).toContain('i-0down                files current, but nothing answers TLS at 127.0.0.1:443');
  });

  it('does nothing when the certificate no longer exists', async () => {
    acm
      .on(DescribeCertificateCommand)
      .rejects(Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' }));
    expect(await compare()).toMatchObject({ checked: 0, drifted: [] });
    expect(ssm).not.toHaveReceivedCommand(ListCommandInvocationsCommand);
  });
});

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());

/** A mapping of `request` with ACM's current serial, as an export leaves it. */
const mapped = (tableName: string, request: Parameters<typeof recordExport>[2]) =>
  recordExport(dynamo.db, tableName, request, {
    expiresAt: '2027-01-01T00:00:00.000Z',
    exportedAt: '2026-01-01T00:00:00.000Z',
    secretId: 'acm-passphrase/web-server/0123456789abcdef',
    serial: CURRENT,
    executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:x:y',
    installStatus: 'Success',
  });

describe('drift check', () => {
  it("asks the hosts of a profile with an endpoint what they serve there, from the mapping's recorded profile", () => {
    const mapping = { ...REQUEST, Profile: 'haproxy' } as unknown as Parameters<typeof checkParameters>[0];
    expect(checkParameters(mapping, PROFILES.haproxy)).toEqual({
      CertName: ['web-server'],
      CertDirectory: ['/etc/haproxy/certs'],
      FileOwner: [PROFILES.haproxy!.fileOwner],
      CertificateArn: [CERTIFICATE_ARN],
      VerifyEndpoint: ['127.0.0.1:443'],
    });
  });

  it('sends the read-only check document to the instances of every mapping', async () => {
    const tableName = await dynamo.createInventoryTable();
    for (const value of ['dev', 'prod']) await mapped(tableName, { ...REQUEST, TargetTagValue: value });
    let n = 0;
    ssm.on(SendCommandCommand).callsFake(() => ({ Command: { CommandId: `check-${++n}` } }));
    const outcome = await startDriftChecks({
      ssm: new SSMClient({ region: REGION }),
      db: dynamo.db,
      tableName,
      documentName: 'CertLifecycle-Check-ACMCertificate',
      profiles: PROFILES,
    });
    expect(outcome).toMatchObject({ mappings: 2, failed: 0 });
    const sent = ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input);
    expect(sent.map((input) => input.Targets)).toEqual(
      expect.arrayContaining([[{ Key: 'tag:env', Values: ['dev'] }], [{ Key: 'tag:env', Values: ['prod'] }]]),
    );
    expect(sent[0]!.Parameters).not.toHaveProperty('VerifyEndpoint');
    expect(sent[0]).toMatchObject({
      DocumentName: 'CertLifecycle-Check-ACMCertificate',
      Parameters: {
        CertName: ['web-server'],
        CertDirectory: ['/etc/cert-lifecycle/certs'],
        CertificateArn: [CERTIFICATE_ARN],
      },
    });
  });
});

describe('drift in a member account', () => {
  const MEMBER = { TargetAccount: '444455556666', TargetRegion: 'eu-central-1' };
  const memberClient = new SSMClient({ region: 'eu-central-1' });

  it("sends a member mapping's check through the member role there, and this deployment's through its own", async () => {
    const tableName = await dynamo.createInventoryTable();
    for (const location of [{}, MEMBER]) await mapped(tableName, { ...REQUEST, ...location });
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'check-m' } });
    const home = new SSMClient({ region: REGION });
    const outcome = await startDriftChecks({
      ssm: home,
      ssmAt: () => memberClient,
      db: dynamo.db,
      tableName,
      documentName: 'CertLifecycle-Check-ACMCertificate',
      profiles: PROFILES,
    });
    expect(outcome).toMatchObject({ mappings: 2, failed: 0 });
    expect(
      ssm
        .commandCalls(SendCommandCommand)
        .map((call) => call.thisValue)
        .sort(),
    ).toEqual([home, memberClient].sort());
  });

  it("compares a member check's answers read there, and names the host's account and Region", async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [answer('i-0old', 'status=present serial=0a:0b:0c')],
    });
    const outcome = await handleDriftResult(
      {
        account: MEMBER.TargetAccount,
        region: MEMBER.TargetRegion,
        detail: {
          'command-id': 'check-1',
          'document-name': 'CertLifecycle-Check-ACMCertificate',
          status: 'Success',
        },
      },
      {
        ssm: new SSMClient({ region: REGION }),
        ssmAt: () => memberClient,
        home: { account: '111122223333', region: REGION },
        acm: new ACMClient({ region: REGION }),
        securityHub: new SecurityHubClient({ region: REGION }),
        sns: new SNSClient({ region: REGION }),
        topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
        securityHubRegion: REGION,
        now: () => NOW,
      },
    );
    expect(outcome.drifted).toEqual([
      {
        instanceId: 'i-0old',
        serial: '0a:0b:0c',
        location: { account: '444455556666', region: 'eu-central-1' },
      },
    ]);
    for (const call of ssm.calls()) expect(call.thisValue).toBe(memberClient);
    const [finding] = [...hub.stored.values()];
    expect(finding!.Resources![0]!.Id).toBe('arn:aws:ec2:eu-central-1:444455556666:instance/i-0old');
    expect(asffProblems(finding!)).toEqual([]);
  });
});
