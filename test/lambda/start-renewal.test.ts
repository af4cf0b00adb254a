import { ACMClient, DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type RenewalEvent,
  renewalExecutionName,
  renewedCertificateArn,
  startRenewal,
} from '../../lambda/start-renewal/start-renewal.js';
import { recordExport } from '../../lambda/shared/mapping-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { aboutCertificate, fixtureEvent } from '../helpers/events.js';
import { CERTIFICATE_ARN, REGION, REQUEST } from '../helpers/fixtures.js';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:ExportInstall';
const OLD_SERIAL = '0a:0b:0c';
const NEW_SERIAL = '1d:2e:3f';

const acm = mockClient(ACMClient);
const sfn = mockClient(SFNClient);
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

const run = (event: RenewalEvent, concurrency?: number) =>
  startRenewal(event, {
    acm: new ACMClient({ region: REGION }),
    sfn: new SFNClient({ region: REGION }),
    db: dynamo.db,
    tableName,
    stateMachineArn: STATE_MACHINE,
    ...(concurrency ? { concurrency } : {}),
  });

async function map(tagValue: string, serial = OLD_SERIAL, certName = REQUEST.CertName, profile?: string) {
  await recordExport(
    dynamo.db,
    tableName,
    { ...REQUEST, CertName: certName, TargetTagValue: tagValue },
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
  ])('starts one export-install execution per mapping of %s', async (_, event) => {
    await map('dev');
    await map('prod');
    const outcome = await run(event());

    expect(outcome.started).toHaveLength(2);
    expect(outcome.serial).toBe(NEW_SERIAL);
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
    expect(
      [...executions.values()]
        .map((input) => JSON.parse(input))
        .sort((a, b) => a.TargetTagValue.localeCompare(b.TargetTagValue)),
    ).toEqual([
      { ...REQUEST, TargetTagValue: 'dev', Profile: 'haproxy' },
      { ...REQUEST, TargetTagValue: 'prod' },
    ]);
  });

  it('names executions deterministically, within what Step Functions allows', async () => {
    await map('dev');
    const outcome = await run(privateRenewal());
    const [name] = outcome.started;
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
    const again = await run(privateRenewal());
    const health = await run(healthEvent());
    expect(executions.size).toBe(1);
    expect(again.started).toEqual([]);
    expect(again.alreadyStarted).toHaveLength(1);
    expect(health.alreadyStarted).toEqual(again.alreadyStarted);
  });

  it('leaves alone a mapping that already has the current serial', async () => {
    await map('dev', NEW_SERIAL);
    await map('prod');
    const outcome = await run(privateRenewal());
    expect(outcome.upToDate).toEqual(['web-server@env=dev']);
    expect(outcome.started).toHaveLength(1);
  });

  it('does nothing for a certificate with no mapping', async () => {
    const outcome = await run(privateRenewal());
    expect(outcome.started).toEqual([]);
    expect(acm).not.toHaveReceivedAnyCommand();
    expect(sfn).not.toHaveReceivedAnyCommand();
  });

  it('does nothing for a certificate deleted since', async () => {
    await map('dev');
    acm
      .on(DescribeCertificateCommand)
      .rejects(Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' }));
    expect((await run(privateRenewal())).started).toEqual([]);
    expect(sfn).not.toHaveReceivedAnyCommand();
  });

  it('starts 100 mappings exactly once through throttling: a partial failure throws, redelivery finishes it', async () => {
    for (let index = 0; index < 100; index += 1) await map(`host-${index}`);
    throttleEvery = 7;

    await expect(run(privateRenewal(), 10)).rejects.toThrow(
      expect.objectContaining({
        name: 'RenewalStartError',
        message: expect.stringMatching(/could not start 14 of 100 renewal executions/),
      }),
    );
    // EventBridge delivers the event again (retry policy) until the handler succeeds.
    let deliveries = 1;
    let finished = false;
    while (!finished && deliveries < 10) {
      deliveries += 1;
      finished = await run(privateRenewal(), 10).then(
        () => true,
        () => false,
      );
    }
    expect(finished).toBe(true);
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
