import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { startQueuedRenewals } from '../../lambda/renewal-executions/renewal-executions.js';
import { parseQueuedRenewal } from '../../lambda/shared/renewal-queue.js';
import { REGION, REQUEST } from '../helpers/fixtures.js';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:ExportInstall';
const name = (n: number) => `renew-0123abcd-${n.toString(16).padStart(40, '0')}`;
const message = (n: number, input: Record<string, unknown> = { ...REQUEST, TargetTagValue: `t${n}` }) => ({
  messageId: `m-${n}`,
  body: JSON.stringify({ name: name(n), input }),
});

const sfn = mockClient(SFNClient);
let clock: number;
let slept: number[];
beforeEach(() => {
  sfn.reset();
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn', startDate: new Date() });
  clock = 0;
  slept = [];
});

const consume = (records: { messageId: string; body: string }[], intervalMs = 1000) =>
  startQueuedRenewals(records, {
    sfn: new SFNClient({ region: REGION }),
    stateMachineArn: STATE_MACHINE,
    intervalMs,
    now: () => clock,
    sleep: async (ms) => {
      slept.push(ms);
      clock += ms;
    },
  });

describe('the renewal queue consumer', () => {
  it('starts each queued execution by its name, with the mapping as input', async () => {
    const outcome = await consume([message(1, { ...REQUEST, Profile: 'haproxy' })]);
    expect(outcome).toEqual({ started: [name(1)], alreadyStarted: [], batchItemFailures: [] });
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE,
      name: name(1),
      input: JSON.stringify({ ...REQUEST, Profile: 'haproxy' }),
    });
  });

  it('keeps its pace: one start per interval, waiting only for what the calls did not take', async () => {
    sfn.on(StartExecutionCommand).callsFake(() => {
      clock += 300;
      return { executionArn: 'arn', startDate: new Date() };
    });
    await consume([1, 2, 3, 4].map((n) => message(n)));
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 4);
    expect(slept).toEqual([700, 700, 700]);
  });

  it('counts an execution that already exists as started, and sends back only the throttled message', async () => {
    sfn
      .on(StartExecutionCommand, { name: name(2) })
      .rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }))
      .on(StartExecutionCommand, { name: name(3) })
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const outcome = await consume([1, 2, 3].map((n) => message(n)));
    expect(outcome).toEqual({
      started: [name(1)],
      alreadyStarted: [name(2)],
      batchItemFailures: [{ itemIdentifier: 'm-3' }],
    });
  });

  it('starts nothing for a message that is not a valid renewal, and sends it back (then to the DLQ)', async () => {
    const outcome = await consume([
      { messageId: 'bad-name', body: JSON.stringify({ name: 'x; rm', input: REQUEST }) },
      message(2, { ...REQUEST, CertName: '../etc' }),
      message(3, { ...REQUEST, Profile: '/bin/sh' }),
      { messageId: 'not-json', body: '{' },
    ]);
    expect(outcome.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual([
      'bad-name',
      'm-2',
      'm-3',
      'not-json',
    ]);
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});

describe('queued renewal messages', () => {
  it('carry only the four request fields and a valid profile', () => {
    expect(parseQueuedRenewal(message(1, { ...REQUEST, Extra: 'x', Profile: 'tomcat' }).body)).toEqual({
      name: name(1),
      input: { ...REQUEST, Profile: 'tomcat' },
    });
  });
});
