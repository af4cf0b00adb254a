/**
 * Renewal from end to end, locally: ACM's renewal event reaches the start-renewal handler, which queues
 * the renewal; the queue's consumer starts the export-install workflow (the deployed ASL, run with the real handlers), whose install command runs
 * the install document's own script on two temporary hosts.
 */
import { ACMClient, DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SQSClient, SendMessageBatchCommand, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startQueuedRenewals } from '../../lambda/renewal-executions/renewal-executions.js';
import { mappingsForCertificate } from '../../lambda/shared/mapping-store.js';
import {
  type RenewalEvent,
  type RenewalOutcome,
  startRenewal,
} from '../../lambda/start-renewal/start-renewal.js';
import { makeCertificate } from '../helpers/certificates.js';
import { aboutCertificate, fixtureEvent } from '../helpers/events.js';
import { CERTIFICATE_ARN, REGION, REQUEST } from '../helpers/fixtures.js';
import { FakeHost } from '../helpers/install-script.js';
import { type WorkflowHarness, startWorkflowHarness } from '../helpers/workflow-harness.js';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:ExportInstall';

let harness: WorkflowHarness;
beforeAll(async () => {
  harness = await startWorkflowHarness();
});
afterAll(async () => harness.stop());

/**
 * Delivers the renewal event to the start-renewal logic, with ACM now describing `serial`, then hands
 * what it queued to the queue's consumer, as the SQS event source would.
 */
async function deliver(event: RenewalEvent, serial: string, tableName: string) {
  const acm = mockClient(ACMClient);
  const sqs = mockClient(SQSClient);
  const sfn = mockClient(SFNClient);
  acm
    .on(DescribeCertificateCommand)
    .resolves({ Certificate: { CertificateArn: CERTIFICATE_ARN, Serial: serial } });
  const queued: { messageId: string; body: string }[] = [];
  sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
    for (const entry of input.Entries ?? []) {
      queued.push({ messageId: `m-${queued.length}`, body: entry.MessageBody! });
    }
    return { Successful: [], Failed: [] };
  });
  sfn.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE}:renewal`, startDate: new Date() });
  try {
    const outcome: RenewalOutcome = await startRenewal(event, {
      acm: new ACMClient({ region: REGION }),
      sqs: new SQSClient({ region: REGION }),
      db: harness.dynamo.db,
      tableName,
      queueUrl: 'https://sqs.eu-west-1.amazonaws.com/111122223333/renewals',
    });
    await startQueuedRenewals(queued, {
      sfn: new SFNClient({ region: REGION }),
      stateMachineArn: STATE_MACHINE,
      intervalMs: 0,
      now: () => 0,
      sleep: async () => undefined,
    });
    const inputs = sfn
      .commandCalls(StartExecutionCommand)
      .map((call) => JSON.parse(call.args[0].input.input!));
    return { outcome, inputs };
  } finally {
    acm.restore();
    sqs.restore();
    sfn.restore();
  }
}

describe('renewal, end to end', () => {
  it('puts the renewed certificate on every host, keeps the old one as .previous, and does it once', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const hosts = [new FakeHost(), new FakeHost()];
    const original = makeCertificate('rsa');
    const renewed = makeCertificate('rsa');
    const installedCertificate = (host: FakeHost, suffix = '') =>
      readFileSync(path.join(host.certDirectory, `web-server-cert.pem${suffix}`), 'utf8').trim();

    const first = await harness.run(REQUEST, { certificate: original, hosts, tableName });
    expect(first.status).toBe('SUCCEEDED');

    const event = aboutCertificate(
      fixtureEvent<RenewalEvent & { resources: string[] }>('acm-certificate-available-renewal-private'),
      CERTIFICATE_ARN,
    );
    const { inputs } = await deliver(event, renewed.acmSerial, tableName);
    // The renewal carries the mapping's recorded profile, so its hosts get the files as before.
    expect(inputs).toEqual([{ ...REQUEST, Profile: 'default' }]);

    const second = await harness.run(inputs[0], { certificate: renewed, hosts, tableName });
    expect(second.status).toBe('SUCCEEDED');
    for (const host of hosts) {
      expect(installedCertificate(host)).toBe(renewed.certificatePem.trim());
      expect(installedCertificate(host, '.previous')).toBe(original.certificatePem.trim());
    }
    const [mapping] = await mappingsForCertificate(harness.dynamo.db, tableName, CERTIFICATE_ARN);
    expect(mapping).toMatchObject({ Serial: renewed.acmSerial, LastInstallStatus: 'Success' });

    const again = await deliver(event, renewed.acmSerial, tableName);
    expect(again.inputs).toEqual([]);
    expect(again.outcome.upToDate).toEqual(['web-server@env=dev']);
  });
});
