/**
 * Renewal from end to end, locally: ACM's renewal event reaches the start-renewal handler, which queues
 * the renewal; the queue's consumer starts the export-install workflow (the deployed ASL, run with the real handlers), whose install command runs
 * the install document's own script on two temporary hosts.
 */
import { ACMClient } from '@aws-sdk/client-acm';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SQSClient, SendMessageBatchCommand, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startQueuedRenewals } from '../../lambda/renewal-executions/renewal-executions.js';
import { certificateExportSecretName, exportVersionId } from '../../lambda/shared/certificate-export.js';
import { mappingKey, mappingsForCertificate } from '../../lambda/shared/mapping-store.js';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import {
  type RenewalEvent,
  type RenewalOutcome,
  startRenewal,
} from '../../lambda/start-renewal/start-renewal.js';
import { certificateDetail, fakeAcmAndSecrets } from '../helpers/acm-fake.js';
import { type TestCertificate, makeCertificate } from '../helpers/certificates.js';
import { aboutCertificate, fixtureEvent } from '../helpers/events.js';
import { CERTIFICATE_ARN, KMS_KEY_ARN, REGION, REQUEST } from '../helpers/fixtures.js';
import { FakeHost } from '../helpers/install-script.js';
import { invocation } from '../helpers/ssm-fake.js';
import { FakeWindowsHost, thumbprintOf } from '../helpers/windows-host.js';
import { type WorkflowHarness, startWorkflowHarness } from '../helpers/workflow-harness.js';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:ExportInstall';

let harness: WorkflowHarness;
beforeAll(async () => {
  harness = await startWorkflowHarness();
});
afterAll(async () => harness.stop());

/**
 * Delivers the renewal event to the start-renewal logic, with ACM now holding `renewed` (in the same
 * account as the harness's runs: its secrets and export claims), then hands what it queued to the
 * queue's consumer, as the SQS event source would. Returns the executions started, by name.
 */
async function deliver(event: RenewalEvent, renewed: TestCertificate, tableName: string) {
  const account = await harness.account(tableName);
  const fakes = fakeAcmAndSecrets(renewed, certificateDetail(renewed), { stored: account.secrets });
  const sqs = mockClient(SQSClient);
  const sfn = mockClient(SFNClient);
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
      secrets: new SecretsManagerClient({ region: REGION }),
      sqs: new SQSClient({ region: REGION }),
      db: harness.dynamo.db,
      claims: { db: harness.dynamo.db, tableName: account.exportClaimsTable },
      kmsKeyId: KMS_KEY_ARN,
      tableName,
      queueUrl: 'https://sqs.eu-west-1.amazonaws.com/111122223333/renewals',
      now: () => new Date(),
    });
    await startQueuedRenewals(queued, {
      sfn: new SFNClient({ region: REGION }),
      stateMachineArn: STATE_MACHINE,
      intervalMs: 0,
      now: () => 0,
      sleep: async () => undefined,
    });
    const started = new Map(
      sfn
        .commandCalls(StartExecutionCommand)
        .map((call) => [call.args[0].input.name!, JSON.parse(call.args[0].input.input!)] as const),
    );
    return { outcome, inputs: [...started.values()], started, exports: fakes.exports.exports };
  } finally {
    fakes.acm.restore();
    fakes.secrets.restore();
    sqs.restore();
    sfn.restore();
  }
}

describe('renewal, end to end', () => {
  it('puts the renewed certificate on every host, Linux and Windows, keeps the old one, and does it once', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const linuxHosts = [new FakeHost(), new FakeHost()];
    const windows = new FakeWindowsHost();
    onTestFinished(() => windows.remove());
    const hosts = [...linuxHosts, windows];
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
    const { inputs, exports } = await deliver(event, renewed, tableName);
    // The renewal carries the mapping's recorded profile, so its hosts get the files as before, and the
    // serial start-renewal exported the certificate at, once.
    expect(inputs).toEqual([{ ...REQUEST, Profile: 'default', ExportedSerial: renewed.acmSerial }]);
    expect(exports).toBe(1);

    const second = await harness.run(inputs[0], { certificate: renewed, hosts, tableName });
    expect(second.status).toBe('SUCCEEDED');
    expect(second.exports).toBe(0);
    for (const host of linuxHosts) {
      expect(installedCertificate(host)).toBe(renewed.certificatePem.trim());
      expect(installedCertificate(host, '.previous')).toBe(original.certificatePem.trim());
    }
    // The Windows host's store: the renewed certificate with its key, the original kept for rollback.
    expect(windows.store()).toEqual({ [thumbprintOf(renewed)]: true, [thumbprintOf(original)]: true });
    expect(windows.state('web-server')).toMatchObject({
      Current: thumbprintOf(renewed),
      Previous: thumbprintOf(original),
    });
    const [mapping] = await mappingsForCertificate(harness.dynamo.db, tableName, CERTIFICATE_ARN);
    expect(mapping).toMatchObject({ Serial: renewed.acmSerial, LastInstallStatus: 'Success' });

    const again = await deliver(event, renewed, tableName);
    expect(again.inputs).toEqual([]);
    expect(again.outcome.upToDate).toEqual(['web-server@env=dev']);
  });

  it('renews mappings in three accounts and two Regions: one export, each execution installing where its hosts are', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const original = makeCertificate('rsa');
    const renewed = makeCertificate('rsa');
    const SECRETS_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:';
    const places = [
      { where: 'here', location: {}, host: new FakeHost() },
      {
        where: '444455556666/eu-west-1',
        location: { TargetAccount: '444455556666', TargetRegion: 'eu-west-1' },
        host: new FakeHost({ secretsArn: SECRETS_ARN }),
      },
      {
        where: '444455556666/eu-central-1',
        location: { TargetAccount: '444455556666', TargetRegion: 'eu-central-1' },
        host: new FakeHost({ secretsArn: SECRETS_ARN }),
      },
      {
        where: '777788889999/eu-central-1',
        location: { TargetAccount: '777788889999', TargetRegion: 'eu-central-1' },
        host: new FakeHost({ secretsArn: SECRETS_ARN }),
      },
    ];
    for (const place of places) {
      const first = await harness.run(
        { ...REQUEST, ...place.location },
        { certificate: original, hosts: [place.host], tableName },
      );
      expect(first.status, place.where).toBe('SUCCEEDED');
    }

    const event = aboutCertificate(
      fixtureEvent<RenewalEvent & { resources: string[] }>('acm-certificate-available-renewal-private'),
      CERTIFICATE_ARN,
    );
    const { inputs, exports } = await deliver(event, renewed, tableName);
    expect(exports).toBe(1);
    expect(inputs).toHaveLength(4);

    for (const place of places) {
      const input = inputs.find(
        (candidate: Record<string, string>) =>
          candidate.TargetAccount === (place.location as { TargetAccount?: string }).TargetAccount &&
          candidate.TargetRegion === (place.location as { TargetRegion?: string }).TargetRegion,
      );
      expect(input, place.where).toBeDefined();
      // Each execution's hosts are only those of its own place.
      const run = await harness.run(input, { certificate: renewed, hosts: [place.host], tableName });
      expect(run.status, place.where).toBe('SUCCEEDED');
      expect(run.exports).toBe(0);
      expect(run.commandRegions).toEqual([
        (place.location as { TargetRegion?: string }).TargetRegion ?? REGION,
      ]);
      expect(
        readFileSync(path.join(place.host.certDirectory, 'web-server-cert.pem'), 'utf8').trim(),
        place.where,
      ).toBe(renewed.certificatePem.trim());
    }
    const mappings = await mappingsForCertificate(harness.dynamo.db, tableName, CERTIFICATE_ARN);
    expect(
      mappings.map((mapping) => [mapping.TagKeyValue, mapping.Serial, mapping.LastInstallStatus]).sort(),
    ).toEqual([
      ['444455556666/eu-central-1/env=dev', renewed.acmSerial, 'Success'],
      ['444455556666/eu-west-1/env=dev', renewed.acmSerial, 'Success'],
      ['777788889999/eu-central-1/env=dev', renewed.acmSerial, 'Success'],
      ['env=dev', renewed.acmSerial, 'Success'],
    ]);
  });

  it('leaves unmapped a mapping removed after its renewal was queued: nothing restored, exported or installed', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const host = new FakeHost();
    const original = makeCertificate('rsa');
    const renewed = makeCertificate('rsa');
    const first = await harness.run(REQUEST, { certificate: original, hosts: [host], tableName });
    expect(first.status).toBe('SUCCEEDED');
    const event = aboutCertificate(
      fixtureEvent<RenewalEvent & { resources: string[] }>('acm-certificate-available-renewal-private'),
      CERTIFICATE_ARN,
    );
    const { inputs } = await deliver(event, renewed, tableName);
    expect(inputs).toHaveLength(1);

    // The unmap, before the queued execution runs: the mapping goes, its secret is scheduled for deletion.
    const account = await harness.account(tableName);
    const secretId = (first.output as { secretId: string }).secretId;
    account.secrets.get(secretId)!.scheduledForDeletion = true;
    await harness.dynamo.db.send(new DeleteCommand({ TableName: tableName, Key: mappingKey(REQUEST) }));

    const late = await harness.run(inputs[0], { certificate: renewed, hosts: [host], tableName });
    expect(late.status).toBe('FAILED');
    expect(late.error).toBe('MappingRemovedError');
    expect(late.cause).toMatch(
      /was unmapped after its renewal was queued: nothing was exported, restored or installed/,
    );
    expect(late.inventoryItems).toEqual([]);
    expect(account.secrets.get(secretId)!.scheduledForDeletion).toBe(true);
    expect(late.sendCommands).toEqual([]);
    expect(readFileSync(path.join(host.certDirectory, 'web-server-cert.pem'), 'utf8').trim()).toBe(
      original.certificatePem.trim(),
    );
  });

  it('exports a renewed certificate with twelve mappings once, through duplicate events and faults', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const original = makeCertificate('rsa');
    const renewed = makeCertificate('rsa');
    const values = Array.from({ length: 12 }, (_, index) => `web-${index}`);
    const installed = { invocations: [invocation('i-0aaa', 'Success')], tableName };
    let firstExports = 0;
    for (const value of values) {
      const run = await harness.run(
        { ...REQUEST, TargetTagValue: value },
        { certificate: original, ...installed },
      );
      expect(run.status).toBe('SUCCEEDED');
      firstExports += run.exports;
    }
    // Twelve mappings, one export of the original serial.
    expect(firstExports).toBe(1);

    // ACM's event, delivered twice, and AWS Health's notice of the same renewal.
    const acmEvent = aboutCertificate(
      fixtureEvent<RenewalEvent & { resources: string[] }>('acm-certificate-available-renewal-private'),
      CERTIFICATE_ARN,
    );
    const healthEvent = aboutCertificate(
      fixtureEvent<RenewalEvent & { resources: string[] }>('aws-health-acm-renewal-state-change'),
      CERTIFICATE_ARN,
    );
    const deliveries = [
      await deliver(acmEvent, renewed, tableName),
      await deliver(acmEvent, renewed, tableName),
      await deliver(healthEvent, renewed, tableName),
    ];
    expect(deliveries.map((delivery) => delivery.exports)).toEqual([1, 0, 0]);
    // Every delivery names the same twelve executions: Step Functions starts each once.
    const executions = new Map(deliveries.flatMap((delivery) => [...delivery.started]));
    expect(executions.size).toBe(12);

    let renewalExports = 0;
    let faults = 0;
    let seed = 0;
    for (const input of executions.values()) {
      seed += 1;
      const run = await harness.run(input, {
        certificate: renewed,
        ...installed,
        faults: { seed, rate: 0.05 },
      });
      expect({ status: run.status, error: run.error, cause: run.cause }).toEqual({
        status: 'SUCCEEDED',
        error: undefined,
        cause: undefined,
      });
      renewalExports += run.exports;
      faults += run.faults.before + run.faults.after + run.faults.lostResponses;
    }
    expect(faults).toBeGreaterThan(0);
    expect(renewalExports).toBe(0);

    // Every mapping's secret holds the one export of the renewed serial, each in its own secret.
    const { secrets } = await harness.account(tableName);
    const exported = secrets.get(certificateExportSecretName(CERTIFICATE_ARN))!;
    expect(exported.contents.get(exportVersionId(CERTIFICATE_ARN, renewed.acmSerial))).toBe(exported.value);
    const mappings = await mappingsForCertificate(harness.dynamo.db, tableName, CERTIFICATE_ARN);
    expect(mappings).toHaveLength(12);
    for (const mapping of mappings) {
      expect(mapping).toMatchObject({ Serial: renewed.acmSerial, LastInstallStatus: 'Success' });
      expect(secrets.get(mapping.SecretId!)!.value).toBe(exported.value);
    }
    expect(new Set(mappings.map((mapping) => mapping.SecretId)).size).toBe(12);
  });
});
