/**
 * One ACM renewal of a certificate mapped 1, 100 and 10,000 times: how many exports it makes, the calls
 * it costs, and how long until every execution (and so every install) has started. start-renewal runs
 * for real over a simulated inventory (every call takes 10 ms; 1 MB query pages of about 1,400
 * mappings) and exports the certificate once; the export step of each execution runs for real against
 * the fake Secrets Manager for the first 100 mappings. The start time is the floor the documented
 * quotas set: the renewal pace (renewalStartsPerSecond), Secrets Manager's PutSecretValue (50 a second,
 * one per execution), Step Functions' StartExecution (800 burst + 150 a second outside the three largest
 * Regions). Beside it, the design this replaced: one ACM export per mapping, paced at 2 a second to stay
 * under ExportCertificate's 5 a second.
 */
import { ACMClient, ExportCertificateCommand } from '@aws-sdk/client-acm';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SQSClient, SendMessageBatchCommand, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportCertificate } from '../../lambda/export-certificate/export-certificate.js';
import { startQueuedRenewals } from '../../lambda/renewal-executions/renewal-executions.js';
import { mappingSecretName } from '../../lambda/shared/certificate-secret.js';
import { parseQueuedRenewal } from '../../lambda/shared/renewal-queue.js';
import { startRenewal } from '../../lambda/start-renewal/start-renewal.js';
import { DEFAULT_RENEWAL_STARTS_PER_SECOND } from '../../lib/renewal-trigger.js';
import { certificateDetail, fakeAcmAndSecrets } from '../helpers/acm-fake.js';
import { makeCertificate } from '../helpers/certificates.js';
import {
  ACCOUNT_ID,
  CERTIFICATE_ARN,
  EXPORT_STEP_SETTINGS,
  KMS_KEY_ARN,
  REGION,
  REQUEST,
} from '../helpers/fixtures.js';

const LATENCY_MS = 10;
const PAGE = 1_400;
const START_BURST = 800;
const START_RATE = 150;
const PUT_SECRET_RATE = 50;
const PACE = DEFAULT_RENEWAL_STARTS_PER_SECOND;
/** What the replaced design did: every execution exported, 2 started a second (ACM: 5 exports a second). */
const OLD_PACE = 2;
/** Executions whose export step runs for real here (the rest do the same). */
const SAMPLED = 100;

export async function benchRenewalFanout(): Promise<void> {
  console.log(
    `\nRenewal of one certificate (simulated: ${LATENCY_MS} ms a call; start pace ${PACE}/s; PutSecretValue ${PUT_SECRET_RATE}/s; StartExecution ${START_BURST} burst + ${START_RATE}/s)`,
  );
  console.log(
    `  ${'mappings'.padStart(8)}  ${'ACM exports'.padStart(11)}  ${'calls: Query SendMessageBatch'.padEnd(30)} ${'per execution: ACM SM'.padEnd(22)} ${'start-renewal'.padStart(13)}  ${'all started after'.padStart(17)}  ${'before: exports, started after'}`,
  );
  const certificate = makeCertificate('rsa');
  for (const count of [1, 100, 10_000]) {
    const items = Array.from({ length: count }, (_, index) => ({
      ...REQUEST,
      TagKeyValue: `env=host-${index}`,
      TargetTagValue: `host-${index}`,
      Serial: '0a',
    }));
    const calls = { Query: 0, SendMessageBatch: 0 };
    const fakes = fakeAcmAndSecrets(certificate, certificateDetail(certificate));
    const db = mockClient(DynamoDBDocumentClient);
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
    db.on(PutCommand).resolves({});
    const queued: { messageId: string; body: string }[] = [];
    sqs.on(SendMessageBatchCommand).callsFake(async (input: SendMessageBatchCommandInput) => {
      calls.SendMessageBatch += 1;
      await sleep(LATENCY_MS);
      for (const entry of input.Entries ?? [])
        queued.push({ messageId: String(queued.length), body: entry.MessageBody! });
      return { Successful: [], Failed: [] };
    });
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn', startDate: new Date() });
    const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION }));
    const secrets = new SecretsManagerClient({ region: REGION });
    const acm = new ACMClient({ region: REGION });
    const claims = { db: documents, tableName: 'claims' };

    const started = performance.now();
    await startRenewal(
      { id: 'event-1', resources: [CERTIFICATE_ARN] },
      {
        acm,
        secrets,
        sqs: new SQSClient({ region: REGION }),
        db: documents,
        claims,
        kmsKeyId: KMS_KEY_ARN,
        tableName: 'inventory',
        queueUrl: 'q',
        now: () => new Date(),
      },
    );
    const renewalSeconds = (performance.now() - started) / 1000;

    // The executions' export steps: each takes the stored export into its mapping's secret.
    const acmBefore = fakes.acm.calls().length;
    const secretsBefore = fakes.secrets.calls().length;
    const sample = queued.slice(0, SAMPLED);
    // A renewal finds each mapping's secret made at its first export.
    for (const message of sample) {
      fakes.stored.set(mappingSecretName(parseQueuedRenewal(message.body).input), {
        value: '',
        versions: 0,
        versionIds: [],
        contents: new Map(),
        tags: [],
      });
    }
    for (const [index, message] of sample.entries()) {
      await exportCertificate(
        parseQueuedRenewal(message.body).input,
        {
          ...EXPORT_STEP_SETTINGS,
          acm,
          secrets,
          claims,
          now: () => new Date(),
        },
        { executionArn: `arn:aws:states:${REGION}:${ACCOUNT_ID}:execution:ExportInstall:renew-${index}` },
      );
    }
    const acmPerExecution = (fakes.acm.calls().length - acmBefore) / sample.length;
    const secretsPerExecution = (fakes.secrets.calls().length - secretsBefore) / sample.length;
    // One consumer batch at the real pace, to show the pace holds.
    await startQueuedRenewals(queued.slice(0, 10), {
      sfn: new SFNClient({ region: REGION }),
      stateMachineArn: 'arn',
      intervalMs: 0,
      now: () => Date.now(),
      sleep: (ms) => sleep(ms),
    });

    const exports = fakes.acm.commandCalls(ExportCertificateCommand).length;
    const allStarted = Math.max(
      count / PACE,
      count / PUT_SECRET_RATE,
      Math.max(0, count - START_BURST) / START_RATE,
    );
    const before = `${count.toLocaleString('en')}, ${formatSeconds(count / OLD_PACE)}`;
    console.log(
      `  ${count.toLocaleString('en').padStart(8)}  ${String(exports).padStart(11)}  ${`${calls.Query} ${calls.SendMessageBatch}`.padEnd(30)} ${`${acmPerExecution} ${secretsPerExecution}`.padEnd(22)} ${`${renewalSeconds.toFixed(1)} s`.padStart(13)}  ${formatSeconds(allStarted).padStart(17)}  ${before}`,
    );
    for (const mock of [db, sqs, sfn, fakes.acm, fakes.secrets]) mock.restore();
  }
}

function formatSeconds(seconds: number): string {
  return seconds >= 120 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(1)} s`;
}
