import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { ListCommandInvocationsCommand, ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handleInstallFinished } from '../../lambda/install-finished/install-finished.js';
import { type InstallWait, completeIfFinished, registerWait } from '../../lambda/shared/install-wait.js';
import { mappingKey, recordExport } from '../../lambda/shared/mapping-store.js';
import type { InstallStatusReport } from '../../lambda/shared/workflow-state.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { REGION, REQUEST } from '../helpers/fixtures.js';
import { invocation } from '../helpers/ssm-fake.js';

const NOW = new Date('2026-11-24T10:05:00.000Z');

const WAIT: InstallWait = {
  ...REQUEST,
  CommandId: 'cmd-1',
  TaskToken: 'token-1',
  ExecutionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1',
  AssociationId: 'assoc-1',
  AssociationChange: 'unchanged',
  SentAt: '2026-11-24T10:00:00.000Z',
  Deadline: '2026-11-24T10:15:00.000Z',
  ExpiresAt: Date.parse('2026-11-25T10:15:00.000Z') / 1000,
};

const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);
let dynamo: LocalDynamo;
let tableName: string;
let waitsTable: string;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  ssm.reset();
  sfn.reset();
  tableName = await dynamo.createInventoryTable();
  waitsTable = await dynamo.createWaitsTable();
  await recordExport(dynamo.db, tableName, REQUEST, {
    expiresAt: '2027-12-24T23:59:59.000Z',
    exportedAt: '2026-11-24T10:00:00.000Z',
    secretId: 'acm-passphrase/web-server/0123456789abcdef',
    serial: '0a:1b',
    executionArn: WAIT.ExecutionArn,
    commandId: 'cmd-1',
    installStatus: 'CommandSent',
  });
});

const deps = () => ({
  ssm: new SSMClient({ region: REGION }),
  sfn: new SFNClient({ region: REGION }),
  db: dynamo.db,
  tableName,
  waits: { db: dynamo.db, tableName: waitsTable },
  now: () => NOW,
});

/** Registers the wait, looks at the command once, and says what the waiting execution was handed. */
async function check(wait: Partial<InstallWait> = {}): Promise<InstallStatusReport & { outcome: string }> {
  await registerWait({ db: dynamo.db, tableName: waitsTable }, { ...WAIT, ...wait });
  const report = await completeIfFinished('cmd-1', deps());
  return (
    report ?? {
      outcome: 'InProgress',
      commandStatus: '',
      summary: { targets: 0, succeeded: 0, failed: 0 },
      instances: [],
    }
  );
}

const mapping = async () =>
  (await dynamo.db.send(new GetCommand({ TableName: tableName, Key: mappingKey(REQUEST) }))).Item;
const storedWait = async () =>
  (await dynamo.db.send(new GetCommand({ TableName: waitsTable, Key: { CommandId: 'cmd-1' } }))).Item;

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

describe('an install command looked at once (completeIfFinished)', () => {
  it('leaves a command still running alone: nothing recorded, nothing handed back, the wait kept', async () => {
    commandIs('InProgress', 3, { CompletedCount: 1 });
    const report = await check();
    expect(report.outcome).toBe('InProgress');
    expect(ssm).not.toHaveReceivedCommand(ListCommandInvocationsCommand);
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(await mapping()).toMatchObject({ LastInstallStatus: 'CommandSent' });
    expect(await storedWait()).toBeDefined();
  });

  it('hands the outcome to the waiting execution with its token, and removes the wait', async () => {
    commandIs('Success', 1);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation('i-0aaa', 'Success')] });
    await check();
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    const { taskToken, output } = sfn.commandCalls(SendTaskSuccessCommand)[0]!.args[0].input;
    expect(taskToken).toBe('token-1');
    expect(JSON.parse(output!)).toEqual({
      outcome: 'Success',
      commandStatus: 'Success',
      summary: { targets: 1, succeeded: 1, failed: 0 },
      instances: [
        { instanceId: 'i-0aaa', status: 'Success', result: expect.objectContaining({ status: 'installed' }) },
      ],
      commandId: 'cmd-1',
      associationId: 'assoc-1',
      associationChange: 'unchanged',
    });
    expect(await storedWait()).toBeUndefined();
  });

  it('takes a task already settled (the other completer won, or the execution stopped) calmly', async () => {
    commandIs('Success', 1);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation('i-0aaa', 'Success')] });
    sfn
      .on(SendTaskSuccessCommand)
      .rejects(Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut' }));
    expect((await check()).outcome).toBe('Success');
    expect(await storedWait()).toBeUndefined();
  });

  it('does nothing for a command no execution waits for (a renewal sent long ago, another document)', async () => {
    commandIs('Success', 1);
    expect(await completeIfFinished('cmd-unknown', deps())).toBeUndefined();
    expect(ssm).not.toHaveReceivedAnyCommand();
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

  it('counts a host as installed only when it said so: a skipped step or a silent success fails, with why', async () => {
    commandIs('Success', 3);
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        invocation('i-0aaa', 'Success'),
        invocation(
          'i-0mac',
          'Success',
          'Success',
          'Step execution skipped due to unsatisfied preconditions: \'"StringEquals": [platformType, Linux]\'. Step name: installCertificate',
        ),
        invocation('i-0odd', 'Success', 'Success', 'installed, probably'),
      ],
    });
    expect(await check()).toMatchObject({
      outcome: 'Failed',
      summary: { targets: 3, succeeded: 1, failed: 2 },
      reason:
        '2 of 3 instances failed: i-0mac Skipped: neither Linux nor Windows, i-0odd Success without the install RESULT line',
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

  it('reports TimedOut once the deadline has passed, and records it', async () => {
    commandIs('InProgress', 4, { CompletedCount: 3 });
    const report = await check({ Deadline: '2026-11-24T10:04:59.000Z' });
    expect(report.outcome).toBe('TimedOut');
    expect(report.reason).toMatch(/still InProgress after 300 seconds \(3 of 4 instances finished\)/);
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

describe('the install-finished handler', () => {
  it("looks at the command SSM's status-change event names", async () => {
    commandIs('Success', 1);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation('i-0aaa', 'Success')] });
    await registerWait({ db: dynamo.db, tableName: waitsTable }, WAIT);
    const outcome = await handleInstallFinished(
      { 'detail-type': 'EC2 Command Status-change Notification', detail: { 'command-id': 'cmd-1' } },
      deps(),
    );
    expect(outcome.completed.map((entry) => entry.commandId)).toEqual(['cmd-1']);
  });

  it('on its schedule, looks at every wait: ended ones are handed back, running ones kept', async () => {
    await registerWait({ db: dynamo.db, tableName: waitsTable }, WAIT);
    await registerWait(
      { db: dynamo.db, tableName: waitsTable },
      { ...WAIT, CommandId: 'cmd-2', TaskToken: 'token-2' },
    );
    commandIs('Success', 1);
    ssm.on(ListCommandsCommand, { CommandId: 'cmd-2' }).resolves({
      Commands: [{ CommandId: 'cmd-2', Status: 'InProgress', TargetCount: 1 }],
    });
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation('i-0aaa', 'Success')] });
    const outcome = await handleInstallFinished({ 'detail-type': 'Scheduled Event' }, deps());
    expect(outcome).toMatchObject({ completed: [{ commandId: 'cmd-1' }], stillRunning: 1 });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: 'token-1' });
    expect(sfn).not.toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: 'token-2' });
  });
});
