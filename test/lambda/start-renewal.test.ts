import { ACMClient, DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SQSClient, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type RenewalEvent,
  renewalExecutionName,
  renewedCertificateArn,
  startRenewal,
} from '../../lambda/start-renewal/start-renewal.js';
import { startQueuedRenewals } from '../../lambda/renewal-executions/renewal-executions.js';
import { recordExport } from '../../lambda/shared/mapping-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { aboutCertificate, fixtureEvent } from '../helpers/events.js';
import { CERTIFICATE_ARN, KMS_KEY_ARN, REGION, REQUEST } from '../helpers/fixtures.js';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:ExportInstall';
const OLD_SERIAL = '0a:0b:0c';
const NEW_SERIAL = '1d:2e:3f';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/111122223333/renewals';
const acm = mockClient(ACMClient);
const sfn = mockClient(SFNClient);
const sqs = mockClient(SQSClient);
/** The renewal queue: what SendMessageBatch accepted, waiting for the consumer. */
let queue: { messageId: string; body: string }[];
/** Entries the fake SQS refuses once, by position among all entries sent (1-based), none twice. */
let refuseEntryEvery: number;
let dynamo: LocalDynamo;
let tableName: string;
/** Executions the fake Step Functions has started, by name, with their input. */
let executions: Map<string, string>;
let throttleEvery: number;
let throttledNames: Set<string>;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  acm.reset();
  sfn.reset();
  sqs.reset();
  queue = [];
  refuseEntryEvery = 0;
  let entries = 0;
  const refused = new Set<string>();
  sqs
    .on(SendMessageBatchCommand)
    .callsFake((input: { QueueUrl: string; Entries: { Id: string; MessageBody: string }[] }) => {
      const failed: { Id: string; SenderFault: boolean; Code: string }[] = [];
      for (const entry of input.Entries) {
        entries += 1;
        if (refuseEntryEvery > 0 && entries % refuseEntryEvery === 0 && !refused.has(entry.MessageBody)) {
          refused.add(entry.MessageBody);
          failed.push({ Id: entry.Id, SenderFault: false, Code: 'InternalError' });
        } else queue.push({ messageId: `m-${entries}`, body: entry.MessageBody });
      }
      return { Successful: [], Failed: failed };
    });
  tableName = await dynamo.createInventoryTable();
  executions = new Map();
  throttleEvery = 0;
  throttledNames = new Set();
  let calls = 0;
  acm
    .on(DescribeCertificateCommand)
    .resolves({ Certificate: { CertificateArn: CERTIFICATE_ARN, Serial: NEW_SERIAL, Status: 'ISSUED' } });
  sfn
    .on(StartExecutionCommand)
    .callsFake((input: { name: string; input: string; stateMachineArn: string }) => {
      calls += 1;
      // Throttling is transient: every n-th call is refused, but no name is refused twice.
      if (throttleEvery > 0 && calls % throttleEvery === 0 && !throttledNames.has(input.name)) {
        throttledNames.add(input.name);
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      }
      if (executions.has(input.name)) {
        throw Object.assign(new Error(`Execution Already Exists: '${input.name}'`), {
          name: 'ExecutionAlreadyExists',
        });
      }
      executions.set(input.name, input.input);
      return {
        executionArn: `${STATE_MACHINE.replace('stateMachine', 'execution')}:${input.name}`,
        startDate: new Date(),
      };
    });
});

const privateRenewal = () =>
  aboutCertificate(
    fixtureEvent<RenewalEvent & { resources: string[] }>('acm-certificate-available-renewal-private'),
    CERTIFICATE_ARN,
  );
const publicRenewal = () =>
  aboutCertificate(
    fixtureEvent<RenewalEvent & { resources: string[] }>('acm-certificate-available-renewal-public'),
    CERTIFICATE_ARN,
  );
const healthEvent = () =>
  aboutCertificate(
    fixtureEvent<RenewalEvent & { resources: string[] }>('aws-health-acm-renewal-state-change'),
    CERTIFICATE_ARN,
  );

// The certificate these tests describe has no export option (not exportable): start-renewal queues the
// executions without an export, and each says why. renewal-export.test.ts covers the one export.
const run = async (event: RenewalEvent) =>
  startRenewal(event, {
    acm: new ACMClient({ region: REGION }),
    secrets: new SecretsManagerClient({ region: REGION }),
    sqs: new SQSClient({ region: REGION }),
    db: dynamo.db,
    claims: { db: dynamo.db, tableName: await dynamo.createExportClaimsTable() },
    kmsKeyId: KMS_KEY_ARN,
    tableName,
    queueUrl: QUEUE_URL,
    now: () => new Date(),
  });

/**
 * What SQS and the consumer do with the queue: batches of 10, each message that failed delivered again,
 * until the queue is empty (or `rounds` deliveries). Returns every consumer outcome.
 */
async function drain(rounds = 10) {
  const outcomes = [];
  for (let round = 0; round < rounds && queue.length > 0; round += 1) {
    const delivered = queue.splice(0, queue.length);
    for (let index = 0; index < delivered.length; index += 10) {
      const batch = delivered.slice(index, index + 10);
      const outcome = await startQueuedRenewals(batch, {
        sfn: new SFNClient({ region: REGION }),
        stateMachineArn: STATE_MACHINE,
        intervalMs: 0,
        now: () => 0,
        sleep: async () => undefined,
      });
      outcomes.push(outcome);
      const again = new Set(outcome.batchItemFailures.map((failure) => failure.itemIdentifier));
      queue.push(...batch.filter((message) => again.has(message.messageId)));
    }
  }
  return outcomes;
}

async function map(
  tagValue: string,
  serial = OLD_SERIAL,
  certName = REQUEST.CertName,
  profile?: string,
  location?: { TargetAccount: string; TargetRegion: string },
) {
  await recordExport(
    dynamo.db,
    tableName,
    { ...REQUEST, CertName: certName, TargetTagValue: tagValue, ...location },
    {
      ...(profile ? { profile } : {}),
      expiresAt: '2026-12-01T00:00:00.000Z',
      exportedAt: '2025-12-01T00:00:00.000Z',
      secretId: 'acm-passphrase/web-server/0123456789abcdef',
      serial,
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:first',
      commandId: 'cmd-0',
      installStatus: 'Success',
    },
  );
}

describe('startRenewal', () => {
  it.each([
    ['a private certificate (ACM event)', privateRenewal],
    ['a public certificate (ACM event)', publicRenewal],
    ['a private certificate (AWS Health event)', healthEvent],
  ])('queues, and so starts, one export-install execution per mapping of %s', async (_, event) => {
    await map('dev');
    await map('prod');
    const outcome = await run(event());

    expect(outcome.queued).toHaveLength(2);
    expect(outcome.serial).toBe(NEW_SERIAL);
    expect(sqs).toHaveReceivedCommandWith(SendMessageBatchCommand, { QueueUrl: QUEUE_URL });
    await drain();
    expect(queue).toEqual([]);
    expect(
      [...executions.values()]
        .map((input) => JSON.parse(input))
        .sort((a, b) => a.TargetTagValue.localeCompare(b.TargetTagValue)),
    ).toEqual([
      { ...REQUEST, TargetTagValue: 'dev' },
      { ...REQUEST, TargetTagValue: 'prod' },
    ]);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: STATE_MACHINE });
  });

  it('renews each mapping with the install profile it was exported with', async () => {
    await map('dev', OLD_SERIAL, REQUEST.CertName, 'haproxy');
    await map('prod');
    await run(privateRenewal());
    await drain();
    expect(
      [...executions.values()]
        .map((input) => JSON.parse(input))
        .sort((a, b) => a.TargetTagValue.localeCompare(b.TargetTagValue)),
    ).toEqual([
      { ...REQUEST, TargetTagValue: 'dev', Profile: 'haproxy' },
      { ...REQUEST, TargetTagValue: 'prod' },
    ]);
  });

  it('renews the mappings of three accounts in two Regions, each where its hosts are, the same tag in each a mapping of its own', async () => {
    const places = [
      undefined,
      { TargetAccount: '444455556666', TargetRegion: REGION },
      { TargetAccount: '444455556666', TargetRegion: 'eu-central-1' },
      { TargetAccount: '777788889999', TargetRegion: 'eu-central-1' },
    ];
    for (const place of places) await map('prod', OLD_SERIAL, REQUEST.CertName, undefined, place);
    const outcome = await run(privateRenewal());

    expect(outcome.queued).toHaveLength(4);
    expect(new Set(outcome.queued).size).toBe(4);
    await drain();
    const started = [...executions.values()].map((input) => JSON.parse(input) as Record<string, string>);
    expect(started).toHaveLength(4);
    expect(
      started.map((input) => `${input.TargetAccount ?? 'here'}/${input.TargetRegion ?? 'here'}`).sort(),
    ).toEqual([
      '444455556666/eu-central-1',
      `444455556666/${REGION}`,
      '777788889999/eu-central-1',
      'here/here',
    ]);
    for (const input of started) expect(input).toMatchObject({ ...REQUEST, TargetTagValue: 'prod' });
  });

  it('names executions deterministically, within what Step Functions allows', async () => {
    await map('dev');
    const outcome = await run(privateRenewal());
    const [name] = outcome.queued;
    expect(name).toMatch(/^[0-9A-Za-z_-]{1,80}$/);
    expect(name).toBe(
      renewalExecutionName(CERTIFICATE_ARN, NEW_SERIAL, {
        TagKeyValue: 'env=dev',
        CertName: REQUEST.CertName,
      } as never),
    );
    expect(
      renewalExecutionName(CERTIFICATE_ARN, OLD_SERIAL, {
        TagKeyValue: 'env=dev',
        CertName: REQUEST.CertName,
      } as never),
    ).not.toBe(name);
  });

  it('starts nothing new for a duplicate event, or the same renewal reported by AWS Health', async () => {
    await map('dev');
    await run(privateRenewal());
    await drain();
    await run(privateRenewal());
    await run(healthEvent());
    const [both] = await drain();
    expect(executions.size).toBe(1);
    expect(both!.started).toEqual([]);
    expect(both!.alreadyStarted).toHaveLength(2);
    expect(new Set(both!.alreadyStarted).size).toBe(1);
  });

  it('leaves alone a mapping that already has the current serial', async () => {
    await map('dev', NEW_SERIAL);
    await map('prod');
    const outcome = await run(privateRenewal());
    expect(outcome.upToDate).toEqual(['web-server@env=dev']);
    expect(outcome.queued).toHaveLength(1);
  });

  it('does nothing for a certificate with no mapping', async () => {
    const outcome = await run(privateRenewal());
    expect(outcome.queued).toEqual([]);
    expect(acm).not.toHaveReceivedAnyCommand();
    expect(sqs).not.toHaveReceivedAnyCommand();
  });

  it('does nothing for a certificate deleted since', async () => {
    await map('dev');
    acm
      .on(DescribeCertificateCommand)
      .rejects(Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' }));
    expect((await run(privateRenewal())).queued).toEqual([]);
    expect(sqs).not.toHaveReceivedAnyCommand();
  });

  it('queues 1,000 mappings 10 to a call, sending again what SQS refused, and fails only if it still cannot', async () => {
    for (let index = 0; index < 1_000; index += 1) await map(`host-${index}`);
    refuseEntryEvery = 7;
    const outcome = await run(privateRenewal());
    expect(outcome.queued).toHaveLength(1_000);
    expect(queue).toHaveLength(1_000);
    const batches = sqs
      .commandCalls(SendMessageBatchCommand)
      .map((call) => call.args[0].input.Entries!.length);
    expect(Math.max(...batches)).toBe(10);
    expect(batches.slice(0, 100)).toEqual(Array(100).fill(10));

    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error('down'), { name: 'InternalError' }));
    await expect(run(privateRenewal())).rejects.toThrow(
      expect.objectContaining({
        name: 'RenewalStartError',
        message: expect.stringMatching(/could not queue 1000 of 1000 renewal executions/),
      }),
    );
  });

  it('starts every queued execution exactly once through throttling: the throttled messages alone come back', async () => {
    for (let index = 0; index < 100; index += 1) await map(`host-${index}`);
    throttleEvery = 7;
    await run(privateRenewal());
    const outcomes = await drain();
    expect(outcomes[0]!.batchItemFailures.length).toBeGreaterThan(0);
    expect(queue).toEqual([]);
    expect(executions.size).toBe(100);
    expect(new Set([...executions.values()].map((input) => JSON.parse(input).TargetTagValue)).size).toBe(100);
    expect(throttledNames.size).toBeGreaterThanOrEqual(14);
  });

  it('refuses an event that names no certificate', async () => {
    await expect(run({ 'detail-type': 'ACM Certificate Available', resources: [] })).rejects.toThrow(
      /names no ACM certificate/,
    );
  });
});

describe('renewedCertificateArn', () => {
  it('reads the certificate from resources, or from the Health event affected entities', () => {
    expect(renewedCertificateArn(privateRenewal())).toBe(CERTIFICATE_ARN);
    const health = healthEvent();
    expect(renewedCertificateArn({ ...health, resources: [] })).toBe(CERTIFICATE_ARN);
  });
});
