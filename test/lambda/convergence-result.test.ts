import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { ListComplianceItemsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  type InstanceAssociationEvent,
  handleConvergenceResult,
} from '../../lambda/convergence-result/convergence-result.js';
import { driftFindingId } from '../../lambda/shared/certificate-finding.js';
import { hostStatePartition, hostStates } from '../../lambda/shared/host-state.js';
import { recordExport } from '../../lambda/shared/mapping-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { CERTIFICATE_ARN, REGION, REQUEST } from '../helpers/fixtures.js';
import { fakeSecurityHub } from '../helpers/security-hub-fake.js';

/*
 * The inventory and the host states are real DynamoDB tables (dynalite); Security Hub is the fake that
 * keeps findings by Id; SNS is mocked. The events have the detail fields of the "EC2 State Manager
 * Instance Association State Change" example in the Systems Manager user guide's EventBridge event
 * examples (association-id, instance-id, document-name, status, detailed-status, error-code,
 * execution-summary, last-execution-date, last-successful-execution-date).
 */

const sns = mockClient(SNSClient);
const ssm = mockClient(SSMClient);
const SECRET_ID = 'acm-passphrase/web-server/0123456789abcdef';
const OTHER = {
  ...REQUEST,
  CertificateArn: CERTIFICATE_ARN.replace('12345678', '87654321'),
  CertName: 'api-server',
};
const OTHER_SECRET = 'acm-passphrase/api-server/fedcba9876543210';
const partition = (request: typeof REQUEST = REQUEST) =>
  hostStatePartition({ ...request, AssociationId: 'assoc-1' })!;
let hub: ReturnType<typeof fakeSecurityHub>;
let dynamo: LocalDynamo;
let tableName: string;
let hostsTable: string;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  ssm.reset();
  // A node that recorded nothing of its own (an agent or role without PutComplianceItems).
  ssm.on(ListComplianceItemsCommand).resolves({ ComplianceItems: [] });
  hub = fakeSecurityHub();
  tableName = await dynamo.createInventoryTable();
  hostsTable = await dynamo.createHostStatesTable();
  await recordExport(dynamo.db, tableName, REQUEST, {
    expiresAt: '2027-12-24T23:59:59.000Z',
    exportedAt: '2026-11-24T10:00:00.000Z',
    secretId: 'acm-passphrase/web-server/0123456789abcdef',
    serial: '0a:1b:2c',
    executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1',
    commandId: 'cmd-1',
    association: { id: 'assoc-1', name: 'Install-ACMCertificate.default.0123456789abcdef' },
    installStatus: 'Success',
  });
});
afterEach(() => hub.client.restore());

const ran = (
  status: string,
  extra: Record<string, string> = {},
  instanceId = 'i-0abc',
): InstanceAssociationEvent => ({
  detail: {
    'association-id': 'assoc-1',
    'instance-id': instanceId,
    status,
    'detailed-status': status,
    'execution-summary': `1 out of 1 plugin processed, ${status === 'Success' ? '1 success' : '1 failed'}, 0 timedout, 0 skipped.`,
    'last-execution-date': '2026-11-25T02:00:00.000Z',
    'last-successful-execution-date':
      status === 'Success' ? '2026-11-25T02:00:00.000Z' : '2026-11-24T02:00:00.000Z',
    ...extra,
  },
});

const handle = (event: InstanceAssociationEvent) =>
  handleConvergenceResult(event, {
    db: dynamo.db,
    tableName,
    hostsTableName: hostsTable,
    ssm: new SSMClient({ region: REGION }),
    securityHub: new SecurityHubClient({ region: REGION }),
    sns: new SNSClient({ region: REGION }),
    topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
    securityHubRegion: REGION,
    now: () => new Date('2026-11-25T02:00:05.000Z'),
  });

/** What the node recorded for one certificate, as ListComplianceItems returns it. */
const item = (secretId: string, certName: string, compliant: boolean, details: Record<string, string>) => ({
  ComplianceType: `Custom:CertLifecycle_${secretId.slice(-16)}`,
  ResourceType: 'ManagedInstance',
  ResourceId: 'i-0abc',
  Id: certName,
  Title: certName,
  Status: compliant ? ('COMPLIANT' as const) : ('NON_COMPLIANT' as const),
  Severity: 'HIGH' as const,
  ExecutionSummary: { ExecutionTime: new Date('2026-11-25T02:00:03.000Z'), ExecutionType: 'Command' },
  Details: { ...details, secret_id: secretId },
});
const certificates = (outcome: Awaited<ReturnType<typeof handle>>) =>
  'certificates' in outcome ? outcome.certificates.map((c) => [c.certName, c.action, c.host.Status]) : [];

describe("a target's association run on a host", () => {
  it('is recorded per host: status, when it last ran and succeeded, the serial it holds', async () => {
    expect(certificates(await handle(ran('Success')))).toEqual([['web-server', 'recorded', 'Success']]);
    expect(await hostStates(dynamo.db, hostsTable, partition())).toEqual([
      expect.objectContaining({
        InstanceId: 'i-0abc',
        Status: 'Success',
        LastExecutionDate: '2026-11-25T02:00:00.000Z',
        LastSuccessfulExecutionDate: '2026-11-25T02:00:00.000Z',
        Serial: '0a:1b:2c',
      }),
    ]);
    expect(sns).not.toHaveReceivedAnyCommand();
  });

  it('failing, raises the host drift finding and one alert that say which host and why', async () => {
    const outcome = await handle(ran('Failed', { 'error-code': 'Failed' }));
    expect(certificates(outcome)).toEqual([['web-server', 'raised', 'Failed']]);
    const finding = hub.stored.get(driftFindingId(CERTIFICATE_ARN, 'i-0abc'))!;
    expect(finding.Title).toBe('Host i-0abc cannot install the certificate web-server');
    expect(finding.Description).toMatch(
      /cannot install serial 0a:1b:2c of web-server: Failed; 1 out of 1 plugin processed, 1 failed/,
    );
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message).toMatch(
      /i-0abc\s+install failing: Failed/,
    );
  });

  it('failing again, updates the finding and sends no second alert', async () => {
    await handle(ran('Failed'));
    expect(
      certificates(await handle(ran('Failed', { 'last-execution-date': '2026-11-26T02:00:00.000Z' }))),
    ).toEqual([['web-server', 'updated', 'Failed']]);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
  });

  it('converging, archives the finding', async () => {
    await handle(ran('Failed'));
    expect(certificates(await handle(ran('Success')))).toEqual([['web-server', 'resolved', 'Success']]);
    expect(hub.stored.get(driftFindingId(CERTIFICATE_ARN, 'i-0abc'))!.RecordState).toBe('ARCHIVED');
  });

  it('is ignored once the mapping is gone (unmapped)', async () => {
    expect(await handle({ detail: { ...ran('Failed').detail, 'association-id': 'assoc-unknown' } })).toEqual({
      action: 'ignored',
      why: 'the association belongs to no mapping (unmapped?)',
    });
  });

  it("takes each certificate's outcome from what the node recorded for it: one failing among two", async () => {
    await recordExport(dynamo.db, tableName, OTHER, {
      expiresAt: '2027-12-24T23:59:59.000Z',
      exportedAt: '2026-11-24T10:00:00.000Z',
      secretId: OTHER_SECRET,
      serial: '0d:0e',
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-2',
      commandId: 'cmd-2',
      association: { id: 'assoc-1', name: 'Install-ACMCertificate.default.0123456789abcdef' },
      installStatus: 'Success',
    });
    ssm.on(ListComplianceItemsCommand).resolves({
      ComplianceItems: [
        item(SECRET_ID, 'web-server', true, { status: 'unchanged', serial: '0a:1b:2c' }),
        item(OTHER_SECRET, 'api-server', false, {
          status: 'failed',
          error:
            'systemctl reload nginx failed: Job for nginx.service failed; the previous files are restored',
        }),
      ],
    });
    const outcome = await handle(ran('Failed'));

    expect(certificates(outcome).sort()).toEqual([
      ['api-server', 'raised', 'Failed'],
      ['web-server', 'recorded', 'Success'],
    ]);
    expect(ssm).toHaveReceivedCommandWith(ListComplianceItemsCommand, {
      ResourceIds: ['i-0abc'],
      ResourceTypes: ['ManagedInstance'],
      Filters: [{ Key: 'ComplianceType', Values: ['Custom:CertLifecycle_'], Type: 'BEGIN_WITH' }],
    });
    expect(await hostStates(dynamo.db, hostsTable, partition(OTHER))).toEqual([
      expect.objectContaining({
        InstanceId: 'i-0abc',
        Status: 'Failed',
        Error: 'systemctl reload nginx failed: Job for nginx.service failed; the previous files are restored',
      }),
    ]);
    expect(hub.stored.get(driftFindingId(OTHER.CertificateArn, 'i-0abc'))!.Description).toMatch(
      /systemctl reload nginx failed/,
    );
    expect(hub.stored.has(driftFindingId(CERTIFICATE_ARN, 'i-0abc'))).toBe(false);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
  });

  it("does not take a node's report from an earlier run for this run's", async () => {
    ssm.on(ListComplianceItemsCommand).resolves({
      ComplianceItems: [
        {
          ...item(SECRET_ID, 'web-server', true, { status: 'installed', serial: '0a:1b:2c' }),
          ExecutionSummary: { ExecutionTime: new Date('2026-11-20T02:00:00.000Z') },
        },
      ],
    });
    expect(certificates(await handle(ran('Failed')))).toEqual([['web-server', 'raised', 'Failed']]);
  });
});

describe("a member account's association run, forwarded to the central bus", () => {
  const MEMBER = { TargetAccount: '444455556666', TargetRegion: 'eu-central-1' };
  const HOME = { account: '111122223333', region: REGION };
  const memberClient = new SSMClient({ region: 'eu-central-1' });
  const asked: unknown[] = [];
  beforeEach(async () => {
    asked.length = 0;
    // The member mapping's association has an id of the member account's own.
    await recordExport(
      dynamo.db,
      tableName,
      { ...REQUEST, ...MEMBER },
      {
        expiresAt: '2027-12-24T23:59:59.000Z',
        exportedAt: '2026-11-24T10:00:00.000Z',
        secretId: 'acm-passphrase/web-server/fedcba9876543210',
        serial: '0a:1b:2c',
        executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-m',
        commandId: 'cmd-m',
        association: { id: 'assoc-m', name: 'Install-ACMCertificate.default.0123456789abcdef' },
        installStatus: 'Success',
      },
    );
  });
  const handleFrom = (account: string, region: string, event: InstanceAssociationEvent) =>
    handleConvergenceResult(
      { ...event, account, region },
      {
        db: dynamo.db,
        tableName,
        hostsTableName: hostsTable,
        ssm: new SSMClient({ region: REGION }),
        ssmAt: (location) => {
          asked.push(location);
          return memberClient;
        },
        home: HOME,
        securityHub: new SecurityHubClient({ region: REGION }),
        sns: new SNSClient({ region: REGION }),
        topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
        securityHubRegion: REGION,
        now: () => new Date('2026-11-25T02:00:05.000Z'),
      },
    );
  const memberRun = (status: string) => ({
    ...ran(status),
    detail: { ...ran(status).detail, 'association-id': 'assoc-m' },
  });

  it("reads the node's report in the member account, and names the account and Region in the finding and the alert", async () => {
    const outcome = await handleFrom(MEMBER.TargetAccount, MEMBER.TargetRegion, memberRun('Failed'));
    expect(certificates(outcome)).toEqual([['web-server', 'raised', 'Failed']]);
    expect(asked).toEqual([MEMBER]);
    const [read] = ssm.commandCalls(ListComplianceItemsCommand);
    expect(read!.thisValue).toBe(memberClient);
    const [finding] = [...hub.stored.values()];
    expect(finding!.Resources![0]!.Id).toBe('arn:aws:ec2:eu-central-1:444455556666:instance/i-0abc');
    expect(finding!.AwsAccountId).toBe('111122223333');
    expect(finding!.Description).toContain('in account 444455556666 (eu-central-1)');
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message).toContain(
      '(account 444455556666, eu-central-1)',
    );
  });

  it('is ignored when it comes from another account than the mapping of its association id', async () => {
    const outcome = await handleFrom('777788889999', 'eu-central-1', memberRun('Failed'));
    expect(outcome).toEqual({ action: 'ignored', why: 'the association belongs to no mapping (unmapped?)' });
    expect(asked).toEqual([]);
    expect(hub.stored.size).toBe(0);
  });

  it("leaves this deployment's own runs to this deployment's client", async () => {
    const outcome = await handleFrom(HOME.account, HOME.region, ran('Success'));
    expect(certificates(outcome)).toEqual([['web-server', 'recorded', 'Success']]);
    expect(asked).toEqual([]);
  });
});
