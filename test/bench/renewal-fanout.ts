/**
 * One ACM renewal of a certificate mapped to 100, 1,000 and 10,000 targets: the calls and the time of
 * the fan-out as it was (one function starting every execution itself, 10 at a time) beside the renewal
 * queue (start-renewal queues 10 messages a call; the consumer starts them paced). The AWS side is
 * simulated: every call takes 10 ms; the inventory answers 1 MB pages (about 1,400 mappings); Step
 * Functions' StartExecution allows a burst of 800 and 150 a second (its documented default outside the
 * three largest Regions, which allow 1,300 and 300); ACM's ExportCertificate allows 5 a second, which
 * every execution calls once. Times past what the calls took here are the floors those rates impose.
 */
import { ACMClient, DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SQSClient, SendMessageBatchCommand, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { setTimeout as sleep } from 'node:timers/promises';
import { startQueuedRenewals } from '../../lambda/renewal-executions/renewal-executions.js';
import { settleWithConcurrency } from '../../lambda/shared/concurrency.js';
import { mappingsForCertificate } from '../../lambda/shared/mapping-store.js';
import { startRenewal } from '../../lambda/start-renewal/start-renewal.js';
import { CERTIFICATE_ARN, REQUEST } from '../helpers/fixtures.js';

const LATENCY_MS = 10;
const PAGE = 1_400;
const START_BURST = 800;
const START_RATE = 150;
const EXPORT_RATE = 5;
/** The renewal pace of this app's default configuration (renewalStartsPerSecond). */
const PACE = 2;
/** How long the workflow keeps retrying a throttled export: 2+4+8+16+30 s between its 5 attempts. */
const EXPORT_RETRY_WINDOW_S = 60;

export async function benchRenewalFanout(): Promise<void> {
  console.log(
    `\nRenewal fan-out of one certificate (simulated: ${LATENCY_MS} ms a call; StartExecution ${START_BURST} burst + ${START_RATE}/s; ExportCertificate ${EXPORT_RATE}/s)`,
  );
  console.log(
    `  ${'mappings'.padStart(8)}  ${'how'.padEnd(34)} ${'calls: Query Send Start'.padEnd(24)} ${'longest invocation'.padStart(18)}  ${'all started after'.padStart(17)}  exports over ACM's rate`,
  );
  for (const count of [100, 1_000, 10_000]) {
    const items = Array.from({ length: count }, (_, index) => ({
      ...REQUEST,
      TagKeyValue: `env=host-${index}`,
      TargetTagValue: `host-${index}`,
      Serial: '0a',
    }));
    const calls = { Query: 0, SendMessageBatch: 0, StartExecution: 0 };
    const db = mockClient(DynamoDBDocumentClient);
    const acm = mockClient(ACMClient);
    const sqs = mockClient(SQSClient);
    const sfn = mockClient(SFNClient);
    db.on(QueryCommand).callsFake(async (input: { ExclusiveStartKey?: { index: number } }) => {
      calls.Query += 1;
      await sleep(LATENCY_MS);
      const start = input.ExclusiveStartKey?.index ?? 0;
      return {
        Items: items.slice(start, start + PAGE),
        ...(start + PAGE < count ? { LastEvaluatedKey: { index: start + PAGE } } : {}),
      };
    });
    acm.on(DescribeCertificateCommand).resolves({ Certificate: { Serial: '1b' } });
    const queued: { messageId: string; body: string }[] = [];
    sqs.on(SendMessageBatchCommand).callsFake(async (input: SendMessageBatchCommandInput) => {
      calls.SendMessageBatch += 1;
      await sleep(LATENCY_MS);
      for (const entry of input.Entries ?? [])
        queued.push({ messageId: String(queued.length), body: entry.MessageBody! });
      return { Successful: [], Failed: [] };
    });
    sfn.on(StartExecutionCommand).callsFake(async () => {
      calls.StartExecution += 1;
      await sleep(LATENCY_MS);
      return { executionArn: 'arn', startDate: new Date() };
    });
    const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
    const client = { sfn: new SFNClient({ region: 'eu-west-1' }) };

    // As it was: one invocation queries the mappings and starts every execution, 10 at a time.
    let started = performance.now();
    const mappings = await mappingsForCertificate(documents, 'inventory', CERTIFICATE_ARN);
    await settleWithConcurrency(mappings, 10, () =>
      client.sfn.send(new StartExecutionCommand({ stateMachineArn: 'arn', name: 'n', input: '{}' })),
    );
    const directSeconds = (performance.now() - started) / 1000;
    const directSpread = Math.max(directSeconds, Math.max(0, count - START_BURST) / START_RATE);
    print(
      count,
      'one function, 10 starts at a time',
      calls,
      directSpread,
      directSpread,
      exportsBeyond(count, directSpread),
    );

    // The renewal queue: start-renewal queues, the consumer starts 10 a batch at its pace.
    Object.assign(calls, { Query: 0, SendMessageBatch: 0, StartExecution: 0 });
    started = performance.now();
    await startRenewal(
      { resources: [CERTIFICATE_ARN] },
      {
        acm: new ACMClient({ region: 'eu-west-1' }),
        sqs: new SQSClient({ region: 'eu-west-1' }),
        db: documents,
        tableName: 'inventory',
        queueUrl: 'q',
      },
    );
    const queueSeconds = (performance.now() - started) / 1000;
    // One consumer batch at the real pace (two consumers, each one start a second), then the rest counted.
    const intervalMs = (1000 * 2) / PACE;
    started = performance.now();
    await startQueuedRenewals(queued.slice(0, 10), {
      sfn: client.sfn,
      stateMachineArn: 'arn',
      intervalMs,
      now: () => Date.now(),
      sleep: (ms) => sleep(ms),
    });
    const batchSeconds = (performance.now() - started) / 1000;
    calls.StartExecution = queued.length;
    const pacedSpread = queued.length / PACE;
    print(
      count,
      `renewal queue, paced at ${PACE}/s`,
      calls,
      Math.max(queueSeconds, batchSeconds),
      pacedSpread,
      exportsBeyond(count, pacedSpread),
    );
    for (const mock of [db, acm, sqs, sfn]) mock.restore();
  }
}

/** Executions whose export ACM cannot serve within the workflow's retries, when they start over `spread` s. */
function exportsBeyond(count: number, spread: number): number {
  return Math.max(0, Math.round(count - EXPORT_RATE * (spread + EXPORT_RETRY_WINDOW_S)));
}

function print(
  count: number,
  how: string,
  calls: { Query: number; SendMessageBatch: number; StartExecution: number },
  longest: number,
  spread: number,
  beyond: number,
): void {
  const callText = `${calls.Query} ${calls.SendMessageBatch} ${calls.StartExecution}`;
  console.log(
    `  ${count.toLocaleString('en').padStart(8)}  ${how.padEnd(34)} ${callText.padEnd(24)} ${`${longest.toFixed(1)} s`.padStart(18)}  ${`${spread.toFixed(0)} s`.padStart(17)}  ${beyond.toLocaleString('en')}`,
  );
}
