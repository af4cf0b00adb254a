import { ListCommandInvocationsCommand, ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CheckInstallInput,
  checkInstallStatus,
} from '../../lambda/check-install-status/install-status.js';
import { mappingKey, recordExport } from '../../lambda/shared/mapping-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { REGION, REQUEST } from '../helpers/fixtures.js';
import { invocation } from '../helpers/ssm-fake.js';

const NOW = new Date('2026-11-24T10:05:00.000Z');
const INPUT: CheckInstallInput = { ...REQUEST, commandId: 'cmd-1', attempt: 0 };

const ssm = mockClient(SSMClient);
let dynamo: LocalDynamo;
let tableName: string;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  ssm.reset();
  tableName = await dynamo.createInventoryTable();
  await recordExport(dynamo.db, tableName, REQUEST, {
    expiresAt: '2027-12-24T23:59:59.000Z',
    exportedAt: '2026-11-24T10:00:00.000Z',
    secretId: 'acm-passphrase/web-server/0123456789abcdef',
    serial: '0a:1b',
    executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1',
    commandId: 'cmd-1',
    installStatus: 'CommandSent',
  });
});

const check = (input: Partial<CheckInstallInput> = {}, maxAttempts = 10) =>
  checkInstallStatus(
    { ...INPUT, ...input },
    { ssm: new SSMClient({ region: REGION }), db: dynamo.db, tableName, maxAttempts, now: () => NOW },
  );

const mapping = async () =>
  (await dynamo.db.send(new GetCommand({ TableName: tableName, Key: mappingKey(REQUEST) }))).Item;

function commandIs(status: string, targetCount: number, extra: Record<string, unknown> = {}) {
  ssm.on(ListCommandsCommand, { CommandId: 'cmd-1' }).resolves({
    Commands: [
      {
        CommandId: 'cmd-1',
        Status: status as never,
        StatusDetails: status,
        TargetCount: targetCount,
        ...extra,
      },
    ],
  });
}

describe('checkInstallStatus', () => {
  it('reports a command still running as InProgress, with the next wait, and records nothing', async () => {
    commandIs('InProgress', 3, { CompletedCount: 1 });
    const report = await check({ attempt: 0 });
    expect(report).toMatchObject({ outcome: 'InProgress', nextPoll: { attempt: 1, waitSeconds: 10 } });
    expect(ssm).not.toHaveReceivedCommand(ListCommandInvocationsCommand);
    expect(await mapping()).toMatchObject({ LastInstallStatus: 'CommandSent' });
  });

  it('treats a command SSM does not list yet as pending (eventual consistency)', async () => {
    ssm.on(ListCommandsCommand).resolves({ Commands: [] });
    expect(await check()).toMatchObject({ outcome: 'InProgress' });
  });

  it('reports Success with a per-instance summary and the install result lines', async () => {
    commandIs('Success', 2);
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        invocation(
          'i-0aaa',
          'Success',
          'Success',
          'installing\nRESULT cert_name=web-server serial=0a:1b not_after=2027-12-24T23:59:59Z',
        ),
        invocation('mi-0bbb', 'Success'),
      ],
    });
    const report = await check();
    expect(report).toMatchObject({
      outcome: 'Success',
      summary: { targets: 2, succeeded: 2, failed: 0 },
      instances: [
        {
          instanceId: 'i-0aaa',
          status: 'Success',
          result: { cert_name: 'web-server', serial: '0a:1b', not_after: '2027-12-24T23:59:59Z' },
        },
        { instanceId: 'mi-0bbb', status: 'Success' },
      ],
    });
    expect(ssm).toHaveReceivedCommandWith(ListCommandInvocationsCommand, {
      CommandId: 'cmd-1',
      Details: true,
    });
    expect(await mapping()).toMatchObject({
      LastInstallStatus: 'Success',
      LastInstallSummary: 'installed on 2 of 2 instances',
      LastInstallDate: NOW.toISOString(),
    });
  });

  it('names the failed instances and why, failed ones first', async () => {
    commandIs('Failed', 5);
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        invocation('i-0001', 'Success'),
        invocation('i-0abc', 'TimedOut', 'Execution Timed Out'),
        invocation('i-0002', 'Success'),
        invocation('i-0def', 'Failed', 'Failed'),
        invocation('i-0003', 'Success'),
      ],
    });
    const report = await check();
    expect(report.outcome).toBe('Failed');
    expect(report.reason).toBe('2 of 5 instances failed: i-0abc Execution Timed Out, i-0def Failed');
    expect(report.instances.slice(0, 2).map((instance) => instance.instanceId)).toEqual(['i-0abc', 'i-0def']);
    expect(await mapping()).toMatchObject({ LastInstallStatus: 'Failed', LastInstallSummary: report.reason });
  });

  it('counts an instance whose agent never got the command as failed, even if SSM calls the command a success', async () => {
    commandIs('Success', 2);
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation('i-0aaa', 'Success'), invocation('i-0off', 'Failed', 'Undeliverable')],
    });
    expect(await check()).toMatchObject({
      outcome: 'Failed',
      reason: '1 of 2 instances failed: i-0off Undeliverable',
    });
  });

  it('fails with the tag named when no managed instance matched', async () => {
    commandIs('Success', 0);
    const report = await check();
    expect(report.outcome).toBe('Failed');
    expect(report.reason).toMatch(/^no managed instance has tag env=dev/);
    expect(ssm).not.toHaveReceivedCommand(ListCommandInvocationsCommand);
  });

  it('fails on an unknown command status rather than polling forever', async () => {
    commandIs('Exploded', 1);
    expect(await check()).toMatchObject({
      outcome: 'Failed',
      reason: 'SSM reported an unknown status "Exploded" for command cmd-1',
    });
  });

  it('reports TimedOut once the attempt limit is reached, and records it', async () => {
    commandIs('InProgress', 4, { CompletedCount: 3 });
    const report = await check({ attempt: 9 }, 10);
    expect(report.outcome).toBe('TimedOut');
    expect(report.reason).toMatch(/still InProgress after \d+ seconds \(3 of 4 instances finished\)/);
    expect(await mapping()).toMatchObject({ LastInstallStatus: 'TimedOut' });
  });

  it('reads every page of invocations and keeps at most 50 in the report', async () => {
    commandIs('Success', 120);
    const all = Array.from({ length: 120 }, (_, index) =>
      invocation(`i-${String(index).padStart(4, '0')}`, 'Success'),
    );
    ssm
      .on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: all.slice(0, 50), NextToken: 'p2' })
      .resolvesOnce({ CommandInvocations: all.slice(50, 100), NextToken: 'p3' })
      .resolvesOnce({ CommandInvocations: all.slice(100) });
    const report = await check();
    expect(report.summary).toEqual({ targets: 120, succeeded: 120, failed: 0 });
    expect(report.instances).toHaveLength(50);
    expect(ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 3);
    expect(ssm).toHaveReceivedCommandWith(ListCommandInvocationsCommand, { MaxResults: 50 });
  });

  it('does not overwrite the result of a newer command for the same mapping', async () => {
    commandIs('Failed', 1);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation('i-0abc', 'Failed')] });
    await recordExport(dynamo.db, tableName, REQUEST, {
      expiresAt: '2027-12-24T23:59:59.000Z',
      exportedAt: '2026-11-24T10:03:00.000Z',
      secretId: 'acm-passphrase/web-server/0123456789abcdef',
      serial: '0c:0d',
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-2',
      commandId: 'cmd-2',
      installStatus: 'CommandSent',
    });
    await check();
    expect(await mapping()).toMatchObject({ LastCommandId: 'cmd-2', LastInstallStatus: 'CommandSent' });
  });
});
