import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  type InstanceAssociationEvent,
  handleConvergenceResult,
} from '../../lambda/convergence-result/convergence-result.js';
import { driftFindingId } from '../../lambda/shared/certificate-finding.js';
import { hostStates } from '../../lambda/shared/host-state.js';
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
    association: { id: 'assoc-1', name: 'Install-ACMCertificate.web-server.0123456789abcdef' },
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
    securityHub: new SecurityHubClient({ region: REGION }),
    sns: new SNSClient({ region: REGION }),
    topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
    securityHubRegion: REGION,
    now: () => new Date('2026-11-25T02:00:05.000Z'),
  });

describe('a mapping association run on a host', () => {
  it('is recorded per host: status, when it last ran and succeeded, the serial it holds', async () => {
    expect(await handle(ran('Success'))).toMatchObject({ action: 'recorded' });
    expect(await hostStates(dynamo.db, hostsTable, 'assoc-1')).toEqual([
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
    expect(outcome).toMatchObject({ action: 'raised' });
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
    expect(await handle(ran('Failed', { 'last-execution-date': '2026-11-26T02:00:00.000Z' }))).toMatchObject({
      action: 'updated',
    });
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
  });

  it('converging, archives the finding', async () => {
    await handle(ran('Failed'));
    expect(await handle(ran('Success'))).toMatchObject({ action: 'resolved' });
    expect(hub.stored.get(driftFindingId(CERTIFICATE_ARN, 'i-0abc'))!.RecordState).toBe('ARCHIVED');
  });

  it('is ignored once the mapping is gone (unmapped)', async () => {
    expect(await handle({ detail: { ...ran('Failed').detail, 'association-id': 'assoc-unknown' } })).toEqual({
      action: 'ignored',
      why: 'the association belongs to no mapping (unmapped?)',
    });
  });
});
