import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPLAINED_ERROR_NAMES } from '../../lambda/shared/errors.js';
import { DEFAULT_HOST_INSTALL } from '../../lambda/shared/install-parameters.js';
import { stateMachineFile } from '../../lib/paths.js';
import { type TestCertificate, makeCertificate } from '../helpers/certificates.js';
import { INSTANCE_ACCESS_POLICY_ARN, REQUEST } from '../helpers/fixtures.js';
import { FakeHost } from '../helpers/install-script.js';
import { invocation } from '../helpers/ssm-fake.js';
import { startTlsServer } from '../helpers/tls-server.js';
import { FakeWindowsHost, thumbprintOf } from '../helpers/windows-host.js';
import {
  type WorkflowHarness,
  type WorkflowRun,
  hostInstanceId,
  startWorkflowHarness,
} from '../helpers/workflow-harness.js';

let harness: WorkflowHarness;
let certificate: TestCertificate;
const runs: WorkflowRun[] = [];

beforeAll(async () => {
  harness = await startWorkflowHarness();
  certificate = makeCertificate('rsa');
});
afterAll(async () => harness.stop());

async function run(input: unknown, scenario: Omit<Parameters<WorkflowHarness['run']>[1], 'certificate'>) {
  const result = await harness.run(input, { certificate, ...scenario });
  runs.push(result);
  return result;
}

describe('export-install workflow', () => {
  it('exports, records and installs, then succeeds with a per-instance summary', async () => {
    const result = await run(REQUEST, {
      commandProgress: [{ status: 'Success', targetCount: 2, completedCount: 2 }],
      invocations: [invocation('i-0aaa', 'Success'), invocation('mi-0bbb', 'Success')],
    });

    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      certificateArn: REQUEST.CertificateArn,
      certName: 'web-server',
      target: { key: 'env', value: 'dev' },
      serial: certificate.acmSerial,
      commandId: 'cmd-0001',
      summary: { targets: 2, succeeded: 2, failed: 0 },
      instances: [
        { instanceId: 'i-0aaa', status: 'Success' },
        { instanceId: 'mi-0bbb', status: 'Success' },
      ],
    });
    expect(result.inventoryItems).toEqual([
      expect.objectContaining({
        TagKeyValue: 'env=dev',
        LastInstallStatus: 'Success',
        LastCommandId: 'cmd-0001',
      }),
    ]);
    expect(result.alerts).toEqual([]);
    const sent = result.logLines.find((line) => line.includes('install command sent'))!;
    expect(JSON.parse(sent)).toMatchObject({
      certificateArn: REQUEST.CertificateArn,
      mapping: 'env=dev',
      executionArn: expect.stringContaining(':execution:'),
      commandId: 'cmd-0001',
    });
    expect(result.logLines.join('\n')).toMatch(/certificate exported[\s\S]*install command sent/);
    // The step waits on its task token: the command's end costs no transition of its own.
    expect(result.transitions).toEqual([
      'Route',
      'ExportCertificate',
      'RecordAndInstall',
      'InstallOutcome',
      'InstallSucceeded',
    ]);
  });

  it("creates the target's association on the first export: the tag, the document, names only", async () => {
    const result = await run(REQUEST, { invocations: [invocation('i-0aaa', 'Success')] });
    expect(result.createdAssociations).toEqual([
      {
        AssociationName: expect.stringMatching(/^Install-ACMCertificate\.default\.[0-9a-f]{16}$/),
        Name: 'Install-ACMCertificate',
        DocumentVersion: '$LATEST',
        Targets: [{ Key: 'tag:env', Values: ['dev'] }],
        Parameters: expect.objectContaining({
          Certificates: [expect.stringMatching(/^acm-passphrase\/web-server\/[0-9a-f]{16}$/)],
        }),
        ScheduleExpression: 'rate(1 day)',
        MaxConcurrency: '10%',
        MaxErrors: '10%',
        ComplianceSeverity: 'HIGH',
        SyncCompliance: 'AUTO',
        ApplyOnlyAtCronInterval: false,
        Tags: [{ Key: 'cert-lifecycle:deployment', Value: 'CertLifecycle' }],
      },
    ]);
    expect(result.output).toMatchObject({ associationId: 'assoc-0001' });
    expect(result.inventoryItems[0]).toMatchObject({
      AssociationId: 'assoc-0001',
      AssociationName: result.createdAssociations[0]!.AssociationName,
    });
  });

  it('hears of the end from the slow sweep when the status-change event is lost, at no extra transition', async () => {
    const result = await run(REQUEST, {
      commandProgress: [
        { status: 'InProgress', targetCount: 1 },
        { status: 'InProgress', targetCount: 1 },
        { status: 'Success', targetCount: 1, completedCount: 1 },
      ],
      invocations: [invocation('i-0aaa', 'Success')],
      eventLost: true,
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.completedBy).toBe('sweep');
    expect(result.transitions).toHaveLength(5);
  });

  it('installs the certificate on every tagged host by running the install document itself', async () => {
    const hosts = [new FakeHost(), new FakeHost()];
    const result = await run(REQUEST, { hosts });

    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ summary: { targets: 2, succeeded: 2, failed: 0 } });
    const instances = (result.output as { instances: { result: Record<string, string> }[] }).instances;
    expect(instances.map((instance) => instance.result.serial)).toEqual([
      certificate.acmSerial,
      certificate.acmSerial,
    ]);
    for (const host of hosts) {
      const installed = readFileSync(path.join(host.certDirectory, 'web-server-cert.pem'), 'utf8');
      expect(installed.trim()).toBe(certificate.certificatePem.trim());
      expect(readFileSync(path.join(host.keyDirectory, 'web-server-privkey.pem'), 'utf8')).toMatch(
        /^-----BEGIN PRIVATE KEY-----/,
      );
    }
  });

  it("serves a tag of Linux and Windows hosts with one mapping: each host runs its platform's step", async () => {
    const linux = new FakeHost();
    const windows = new FakeWindowsHost();
    try {
      const result = await run(REQUEST, { hosts: [linux, windows] });

      expect(result.status).toBe('SUCCEEDED');
      expect(result.output).toMatchObject({ summary: { targets: 2, succeeded: 2, failed: 0 } });
      const instances = (result.output as { instances: { result: Record<string, string> }[] }).instances;
      expect(instances.map((instance) => instance.result.serial)).toEqual([
        certificate.acmSerial,
        certificate.acmSerial,
      ]);
      expect(instances[1]!.result.thumbprint).toBe(thumbprintOf(certificate));
      expect(readFileSync(path.join(linux.certDirectory, 'web-server-cert.pem'), 'utf8').trim()).toBe(
        certificate.certificatePem.trim(),
      );
      // The keystore the export made, imported with its key.
      expect(windows.store()).toEqual({ [thumbprintOf(certificate)]: true });
      expect(windows.compliance()).toEqual([
        expect.objectContaining({ Id: 'web-server', Status: 'COMPLIANT' }),
      ]);
    } finally {
      windows.remove();
    }
  });

  it('reports a host that could not install, by instance and reason', async () => {
    const hosts = [new FakeHost(), new FakeHost()];
    hosts[1]!.addCommand('openssl', '#!/bin/bash\nexit 1\n');
    const result = await run(REQUEST, { hosts });
    expect(result.status).toBe('FAILED');
    expect(result.cause).toBe(
      '1 of 2 instances failed: i-00000000000000001 Failed (cannot decrypt the private key with the passphrase stored beside it; export the certificate again)',
    );
    expect(readFileSync(path.join(hosts[0]!.certDirectory, 'web-server-cert.pem'), 'utf8')).toContain(
      'BEGIN',
    );
  });

  it('fails a host whose service does not serve the new certificate, saying what it serves, and keeps its files', async () => {
    const host = new FakeHost();
    const server = await startTlsServer(host.root, makeCertificate('ec'));
    const saved = process.env.INSTALL_PROFILES;
    process.env.INSTALL_PROFILES = JSON.stringify({
      ...JSON.parse(saved!),
      checked: {
        ...DEFAULT_HOST_INSTALL,
        formats: 'pem,pkcs12',
        verifyEndpoint: `127.0.0.1:${server.port}`,
        verifySeconds: '0',
      },
    });
    try {
      const result = await run({ ...REQUEST, Profile: 'checked' }, { hosts: [host] });
      expect(result.status).toBe('FAILED');
      expect(result.cause).toMatch(
        /^1 of 1 instances failed: i-0+ Failed \(the service does not serve the new certificate \(serial [0-9a-f:]+\) after 0 s: 127\.0\.0\.1:\d+ serves serial [0-9a-f:]+; the previous files are restored\)$/,
      );
      expect(result.sendCommands[0]!.Parameters).toMatchObject({
        Formats: ['pem,pkcs12'],
        VerifyEndpoint: [`127.0.0.1:${server.port}`],
      });
      expect(readdirSync(host.certDirectory)).toEqual([]);
      expect(readdirSync(host.keyDirectory)).toEqual([]);
    } finally {
      process.env.INSTALL_PROFILES = saved;
      server.stop();
    }
  });

  it('only reports on a dry run: the certificate, the instances the tag selects and what each ready host says of itself', async () => {
    const host = new FakeHost();
    const before = host.state();
    const result = await run(
      { ...REQUEST, DryRun: true },
      {
        hosts: [host],
        hostRole: { tags: { env: 'dev' }, policyArns: [INSTANCE_ACCESS_POLICY_ARN] },
        instanceInformation: [
          {
            InstanceId: hostInstanceId(0),
            PingStatus: 'Online',
            PlatformType: 'Linux',
            PlatformName: 'Amazon Linux',
            AgentVersion: '3.3.3050.0',
          },
          {
            InstanceId: 'mi-0bbb',
            PingStatus: 'ConnectionLost',
            PlatformType: 'Linux',
            AgentVersion: '3.2.582.0',
          },
        ],
      },
    );
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      dryRun: true,
      exportable: true,
      target: 'env=dev',
      ready: false,
      hostCheck: { mode: 'preflight', pending: false, instanceIds: [hostInstanceId(0)] },
      instances: [
        { instanceId: hostInstanceId(0), ready: true, host: { status: 'ready' } },
        {
          instanceId: 'mi-0bbb',
          ready: false,
          notReadyBecause: 'agent is ConnectionLost; SSM Agent 3.2.582.0 is older than 3.3.2746.0',
        },
      ],
    });
    const checks = (
      result.output!.instances as { host?: { checks: { item: string; verdict: string }[] } }[]
    )[0]!.host!.checks;
    expect(checks.map((check) => `${check.item} ${check.verdict}`)).toEqual([
      'tools ok',
      'owner ok',
      'secret note',
      'CertDirectory ok',
      'KeyDirectory ok',
      'reload ok',
      'endpoint ok',
      'role-tag ok',
      'role-policy ok',
    ]);
    // Only the dry run's document went out, to the ready host alone, with names and settings only.
    expect(result.sendCommands).toEqual([
      expect.objectContaining({
        DocumentName: 'CertLifecycle-DryRun-ACMCertificate',
        InstanceIds: [hostInstanceId(0)],
        Parameters: expect.objectContaining({ Action: ['Preflight'], CertName: ['web-server'] }),
      }),
    ]);
    expect(result.secrets.size).toBe(0);
    expect(result.inventoryItems).toEqual([]);
    expect(host.state()).toEqual(before);
    expect(result.transitions).toEqual([
      'Route',
      'DryRun',
      'DryRunHostsAsked',
      'WaitForDryRunHosts',
      'DryRunHostsAnswered',
      'DryRunHostsAsked',
      'DryRunReported',
    ]);
  });

  it("says on a dry run that a host's role lacks the target tag, so it could not read the secret", async () => {
    const result = await run(
      { ...REQUEST, DryRun: true },
      { hosts: [new FakeHost()], hostRole: { tags: { env: 'prod' }, policyArns: [] } },
    );
    expect(result.output).toMatchObject({
      ready: false,
      instances: [
        {
          ready: false,
          notReadyBecause:
            `role web-hosts carries env=prod; tag it env=dev so it may read the secret; ` +
            `role web-hosts does not have the instance access policy ${INSTANCE_ACCESS_POLICY_ARN} attached; attach it`,
        },
      ],
    });
  });

  it('rehearses an existing mapping on its hosts against the current secret: nothing written, nothing reloaded', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const host = new FakeHost();
    const exported = await run(REQUEST, { hosts: [host], tableName });
    expect(exported.status).toBe('SUCCEEDED');
    const before = host.state();
    const result = await run({ ...REQUEST, DryRun: true }, { hosts: [host], tableName });
    expect(result.output).toMatchObject({
      ready: true,
      hostCheck: { mode: 'rehearsal' },
      instances: [{ ready: true, host: { status: 'ready', would: 'unchanged' } }],
    });
    expect(result.sendCommands[0]!.Parameters).toMatchObject({
      Action: ['Rehearse'],
      SecretId: [exported.inventoryItems[0]!.SecretId],
    });
    expect(
      Object.fromEntries(Object.entries(host.state()).filter(([file]) => !file.includes('/run/'))),
    ).toEqual(Object.fromEntries(Object.entries(before).filter(([file]) => !file.includes('/run/'))));
  });

  it('says on a dry run that hosts could not read the secret by that tag key', async () => {
    const result = await run({ ...REQUEST, TargetTagKey: 'owner', DryRun: true }, {});
    expect(result.output).toMatchObject({
      exportable: true,
      tagNotGrantedBecause: expect.stringMatching(/"owner"/),
      ready: false,
    });
  });

  it('says on a dry run that the deployment has no such install profile', async () => {
    const result = await run({ ...REQUEST, Profile: 'tomcat', DryRun: true }, {});
    expect(result.output).toMatchObject({
      profile: 'tomcat',
      unknownProfileBecause:
        'install profile "tomcat" does not exist in this deployment; its profiles are: default, haproxy',
      ready: false,
    });
  });

  it('fails an unknown install profile before anything is exported, naming the profiles that exist', async () => {
    const result = await run({ ...REQUEST, Profile: 'tomcat' }, {});
    expect(result).toMatchObject({ status: 'FAILED', error: 'UnknownProfileError' });
    expect(result.cause).toMatch(/its profiles are: default, haproxy$/);
    expect(result.secrets.size).toBe(0);
    expect(result.sendCommands).toEqual([]);
    expect(result.inventoryItems).toEqual([]);
  });

  it("installs with the named profile's settings and records the profile on the mapping", async () => {
    const result = await run(
      { ...REQUEST, Profile: 'haproxy' },
      { invocations: [invocation('i-0aaa', 'Success')] },
    );
    expect(result.status).toBe('SUCCEEDED');
    expect(result.sendCommands[0]!.Parameters).toMatchObject({
      CertDirectory: ['/etc/haproxy/certs'],
      KeyDirectory: ['/etc/haproxy/private'],
      FileGroup: ['haproxy'],
      ReloadCommand: ['systemctl reload haproxy'],
    });
    expect(result.inventoryItems[0]).toMatchObject({ Profile: 'haproxy' });
  });

  it('says on a dry run why a certificate cannot be exported', async () => {
    const result = await run({ ...REQUEST, DryRun: true }, { detail: { Type: 'IMPORTED' } });
    expect(result.output).toMatchObject({
      exportable: false,
      notExportableBecause: expect.stringMatching(/was imported/),
      ready: false,
    });
  });

  it('waits while the command runs, whatever it takes, then succeeds in the same five transitions', async () => {
    const result = await run(REQUEST, {
      commandProgress: [
        { status: 'Pending', targetCount: 0 },
        { status: 'InProgress', targetCount: 1 },
        { status: 'Success', targetCount: 1, completedCount: 1 },
      ],
      invocations: [invocation('i-0aaa', 'Success')],
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.completedBy).toBe('event');
    expect(result.transitions).toHaveLength(5);
  });

  it('hands back at once a command that ended before its wait was registered', async () => {
    const result = await run(REQUEST, { commandProgress: [{ status: 'Success', targetCount: 0 }] });
    expect(result.completedBy).toBe('step');
    expect(result.cause).toMatch(/^no managed instance has tag env=dev/);
  });

  it('fails with the instances that failed named, and alerts', async () => {
    const result = await run(REQUEST, {
      commandProgress: [{ status: 'Failed', targetCount: 5 }],
      invocations: [
        invocation('i-0001', 'Success'),
        invocation('i-0abc', 'TimedOut', 'Execution Timed Out'),
        invocation('i-0002', 'Success'),
        invocation('i-0def', 'Failed'),
        invocation('i-0003', 'Success'),
      ],
    });
    expect(result).toMatchObject({
      status: 'FAILED',
      error: 'InstallFailed',
      cause: '2 of 5 instances failed: i-0abc Execution Timed Out, i-0def Failed',
    });
    expect(result.alerts).toHaveLength(1);
    expect(result.alerts[0]!.Message).toContain('InstallFailed: 2 of 5 instances failed');
    expect(result.alerts[0]!.MessageAttributes.event_type!.StringValue).toBe('ExportInstallFailed');
    expect(result.inventoryItems[0]).toMatchObject({ LastInstallStatus: 'Failed' });
  });

  it('fails with the tag named when no managed instance carries it', async () => {
    const result = await run(REQUEST, { commandProgress: [{ status: 'Success', targetCount: 0 }] });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InstallFailed');
    expect(result.cause).toMatch(/^no managed instance has tag env=dev/);
    expect(result.alerts).toHaveLength(1);
  });

  it('reports a command still running at the configured maximum wait as timed out', async () => {
    const result = await run(REQUEST, {
      commandProgress: [{ status: 'InProgress', targetCount: 3, completedCount: 1 }],
      maxWaitSeconds: 0,
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InstallTimedOut');
    expect(result.cause).toMatch(/still InProgress after \d+ seconds \(1 of 3 instances finished\)/);
    expect(result.inventoryItems[0]).toMatchObject({ LastInstallStatus: 'TimedOut' });
  });

  it('retries a transient Lambda service error and carries on', async () => {
    const result = await run(REQUEST, {
      invocations: [invocation('i-0aaa', 'Success')],
      lambdaServiceErrors: { ExportCertificate: 2, RecordAndInstall: 1 },
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.events.filter((event) => event.type === 'StateRetried')).toHaveLength(3);
  });

  it('leaves a mapping renewals reach, marked Failed with why, when the install step cannot run at all', async () => {
    const result = await run(REQUEST, { lambdaServiceErrors: { RecordAndInstall: 10 } });
    expect(result.status).toBe('FAILED');
    expect(result.sendCommands).toEqual([]);
    expect(result.inventoryItems).toHaveLength(1);
    expect(result.inventoryItems[0]).toMatchObject({
      SecretId: expect.stringMatching(/^acm-passphrase\/web-server\//),
      LastInstallStatus: 'Failed',
      LastInstallSummary: expect.stringMatching(/^Lambda\.ServiceException: /),
    });
    expect(result.inventoryItems[0]).not.toHaveProperty('LastCommandId');
    expect(result.alerts).toHaveLength(1);
  });

  it("keeps the install's own outcome on the mapping when the install failed or timed out", async () => {
    const failed = await run(REQUEST, {
      commandProgress: [{ status: 'Failed', targetCount: 1 }],
      invocations: [invocation('i-0def', 'Failed')],
    });
    expect(failed.inventoryItems[0]).toMatchObject({
      LastInstallStatus: 'Failed',
      LastInstallSummary: '1 of 1 instances failed: i-0def Failed',
    });
    const timedOut = await run(REQUEST, {
      commandProgress: [{ status: 'InProgress', targetCount: 1 }],
      maxWaitSeconds: 0,
    });
    expect(timedOut.inventoryItems[0]).toMatchObject({ LastInstallStatus: 'TimedOut' });
  });

  it('leaves a new mapping whose export kept failing Failed with the reason, and no secret without it', async () => {
    const result = await run(REQUEST, { exportThrottles: 100 });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('TransientAwsError');
    // The mapping was made (Exporting) before any secret could be; the failure path ended its status.
    expect(result.inventoryItems).toEqual([
      expect.objectContaining({
        CertName: REQUEST.CertName,
        LastInstallStatus: 'Failed',
        LastInstallSummary: expect.stringContaining('ThrottlingException: Rate exceeded'),
      }),
    ]);
    expect(result.inventoryItems[0]).not.toHaveProperty('Serial');
    expect(result.secrets.size).toBe(0);
    expect(result.alerts).toHaveLength(1);
  });

  it('sends one install command however often the install step is retried after it took effect', async () => {
    const result = await run(REQUEST, {
      invocations: [invocation('i-0aaa', 'Success')],
      lostResponses: { RecordAndInstall: 2 },
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.sendCommands).toHaveLength(1);
    expect(result.events.filter((event) => event.type === 'StateRetried')).toHaveLength(2);
    expect(result.inventoryItems[0]).toMatchObject({
      LastCommandId: 'cmd-0001',
      LastInstallStatus: 'Success',
    });
  });

  it('exports once however often the export step is retried after it took effect', async () => {
    const result = await run(REQUEST, {
      invocations: [invocation('i-0aaa', 'Success')],
      lostResponses: { ExportCertificate: 2 },
    });
    expect(result.status).toBe('SUCCEEDED');
    const [secret] = [...result.secrets.values()];
    expect(secret!.versions).toBe(1);
    expect(result.events.filter((event) => event.type === 'StateRetried')).toHaveLength(2);
  });

  it('retries an export ACM throttled, then succeeds with one secret version per successful export', async () => {
    const result = await run(REQUEST, { invocations: [invocation('i-0aaa', 'Success')], exportThrottles: 2 });
    expect(result.status).toBe('SUCCEEDED');
    const retries = result.events.filter((event) => event.type === 'StateRetried');
    expect(retries.map((event) => event.state?.name)).toEqual(['ExportCertificate', 'ExportCertificate']);
    // The mapping's secret and the certificate's export, one version each, from one export.
    expect([...result.secrets.values()].map((secret) => secret.versions)).toEqual([1, 1]);
    expect(result.exports).toBe(1);
  });

  it('fails with a sentence a human understands when the certificate is not exportable', async () => {
    const result = await run(REQUEST, { detail: { Type: 'AMAZON_ISSUED', Options: { Export: 'DISABLED' } } });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('CertificateNotExportableError');
    expect(result.cause).toMatch(/^certificate is not exportable: .* was requested with Export=DISABLED/);
    expect(result.sendCommands).toEqual([]);
    expect(result.inventoryItems).toEqual([]);
    expect(result.alerts[0]!.Message).toContain(
      'CertificateNotExportableError: certificate is not exportable',
    );
  });

  it('rejects a malformed request before exporting anything, and still alerts', async () => {
    const result = await run({ CertificateArn: REQUEST.CertificateArn, CertName: '../../etc/shadow' }, {});
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidExportRequestError');
    expect(result.cause).toContain('CertName is not valid');
    expect(result.cause).toContain('TargetTagKey is required');
    expect(result.secrets.size).toBe(0);
    expect(result.alerts).toHaveLength(1);
  });

  it.each([
    ['a string', 'web-server'],
    ['an array', [REQUEST]],
    ['a number', 42],
    ['a dry run missing a field', { ...REQUEST, CertName: undefined, DryRun: true }],
    ['a dry run with an extra field', { ...REQUEST, DryRun: true, Extra: 'x' }],
  ])('fails %s with the named error and an alert, exporting nothing', async (_, input) => {
    const result = await run(input, {});
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidExportRequestError');
    expect(result.alerts).toHaveLength(1);
    expect(result.secrets.size).toBe(0);
    expect(result.sendCommands).toEqual([]);
  });

  it('still fails with the original error when the alert cannot be sent', async () => {
    const result = await run(REQUEST, {
      commandProgress: [{ status: 'Success', targetCount: 0 }],
      notificationFails: true,
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InstallFailed');
  });
});

describe('nothing secret leaks from the workflow', () => {
  it('no passphrase or private key appears in state, logs, items, commands or alerts', () => {
    expect(runs.length).toBeGreaterThanOrEqual(9);
    const exported = runs.filter((result) => result.secrets.size > 0);
    expect(exported.length).toBeGreaterThan(0);
    for (const result of runs) {
      const secrets = [...result.secrets.values()].flatMap(({ value }) => secretMaterialIn(value));
      const everythingWritten = JSON.stringify([
        result.events,
        result.output,
        result.cause,
        result.logLines,
        result.inventoryItems,
        result.sendCommands,
        result.alerts,
      ]);
      for (const secret of [...secrets, certificate.privateKeyPem, keyBody(certificate.privateKeyPem)]) {
        expect(everythingWritten).not.toContain(secret);
      }
    }
  });
});

describe('the definition', () => {
  const definition = JSON.parse(readFileSync(stateMachineFile('export-install'), 'utf8')) as {
    States: Record<
      string,
      {
        Type: string;
        Resource?: string;
        Retry?: { ErrorEquals: string[]; MaxAttempts?: number }[];
        Catch?: { ErrorEquals: string[] }[];
      }
    >;
  };
  const lambdaTasks = Object.entries(definition.States).filter(
    ([, state]) =>
      state.Type === 'Task' &&
      (state.Resource?.endsWith('FunctionArn}') || state.Resource?.includes(':lambda:invoke')),
  );

  it("retries every Lambda task on Lambda's own faults and on TransientAwsError, with bounded backoff and jitter", () => {
    expect(lambdaTasks.map(([name]) => name)).toEqual([
      'DryRun',
      'DryRunHostsAnswered',
      'ExportCertificate',
      'RecordAndInstall',
    ]);
    for (const [, state] of lambdaTasks) {
      const [retry] = state.Retry!;
      expect(retry!.ErrorEquals).toEqual(
        expect.arrayContaining([
          'TransientAwsError',
          'Lambda.ServiceException',
          'Lambda.TooManyRequestsException',
        ]),
      );
      expect(retry).toMatchObject({ MaxAttempts: 5, MaxDelaySeconds: 30, JitterStrategy: 'FULL' });
    }
  });

  it('retries the failure alert on every throttling the KMS-encrypted topic can answer', () => {
    const notify = definition.States.NotifyFailure as unknown as { Retry: { ErrorEquals: string[] }[] };
    expect(notify.Retry[0]!.ErrorEquals).toEqual(
      expect.arrayContaining([
        'SNS.ThrottledException',
        'SNS.KMSThrottlingException',
        'SNS.InternalErrorException',
      ]),
    );
  });

  it('the dry run too catches by name the errors written for humans', () => {
    const dryRun = lambdaTasks.find(([name]) => name === 'DryRun')![1];
    expect(dryRun.Catch![0]!.ErrorEquals).toEqual([...EXPLAINED_ERROR_NAMES]);
  });

  it('catches by name exactly the errors the handlers raise for humans to read', () => {
    for (const [name, state] of lambdaTasks) {
      const named = state.Catch?.find((catcher) => !catcher.ErrorEquals.includes('States.ALL'));
      // The dry run reports outcomes instead of raising them; reading the hosts' answers raises nothing for humans.
      if (name.startsWith('DryRun')) continue;
      expect(named?.ErrorEquals).toEqual([...EXPLAINED_ERROR_NAMES]);
    }
  });

  it('waits for the install on a task token, bounded by a backstop past the longest configurable wait', () => {
    const install = definition.States.RecordAndInstall as unknown as {
      Resource: string;
      TimeoutSeconds: number;
    };
    expect(install.Resource).toBe('arn:${Partition}:states:::lambda:invoke.waitForTaskToken');
    expect(install.TimeoutSeconds).toBeGreaterThan(86_400);
  });

  it('sends every task failure to the alert before failing', () => {
    for (const [, state] of Object.entries(definition.States).filter(([, state]) => state.Type === 'Task')) {
      expect(state.Catch?.some((catcher) => catcher.ErrorEquals.includes('States.ALL'))).toBe(true);
    }
  });
});

/** The passphrase and key lines as they sit in a stored bundle, each long enough to be unique. */
function secretMaterialIn(bundle: string): string[] {
  const passphrase = /-----BEGIN ACM EXPORT PASSPHRASE-----\n(.*)\n/.exec(bundle)?.[1] ?? '';
  const decoded = Buffer.from(passphrase, 'base64').toString('utf8');
  const encryptedKey = /-----BEGIN ENCRYPTED PRIVATE KEY-----\n([\s\S]*?)-----END/.exec(bundle)?.[1] ?? '';
  return [passphrase, decoded, ...encryptedKey.split('\n').filter((line) => line.length >= 32)].filter(
    Boolean,
  );
}

function keyBody(pem: string): string {
  return pem.split('\n').find((line) => line.length >= 60) ?? pem;
}
