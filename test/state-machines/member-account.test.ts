import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCertificate, makeCertificate } from '../helpers/certificates.js';
import { REQUEST } from '../helpers/fixtures.js';
import { FakeHost } from '../helpers/install-script.js';
import { FakeWindowsHost, thumbprintOf } from '../helpers/windows-host.js';
import { type WorkflowHarness, startWorkflowHarness } from '../helpers/workflow-harness.js';

/**
 * A mapping whose hosts are in a member account, through the very ASL the stack deploys: the handlers
 * act through the member role's clients (SSM's fake answers every client alike, so the Region each call
 * went through is what tells), the hosts run the member account's documents and read the central secret
 * by its ARN, and the failure path records on the member mapping's own key.
 */
const MEMBER = { TargetAccount: '444455556666', TargetRegion: 'eu-central-1' };
const SECRETS_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:';
const MEMBER_REQUEST = { ...REQUEST, ...MEMBER };

let harness: WorkflowHarness;
let certificate: TestCertificate;
beforeAll(async () => {
  harness = await startWorkflowHarness();
  certificate = makeCertificate('rsa');
});
afterAll(async () => harness.stop());

describe('an export to hosts in a member account', () => {
  it('installs on its Linux and Windows hosts, which read the central secret by ARN, and keys the mapping by account and Region', async () => {
    const linux = new FakeHost({ secretsArn: SECRETS_ARN });
    const windows = new FakeWindowsHost({ secretsArn: SECRETS_ARN });
    try {
      const result = await harness.run(MEMBER_REQUEST, { certificate, hosts: [linux, windows] });

      expect(result.status).toBe('SUCCEEDED');
      expect(result.output).toMatchObject({ summary: { targets: 2, succeeded: 2, failed: 0 } });
      expect(result.commandRegions).toEqual(['eu-central-1']);
      expect(readFileSync(path.join(linux.certDirectory, 'web-server-cert.pem'), 'utf8').trim()).toBe(
        certificate.certificatePem.trim(),
      );
      expect(windows.store()).toEqual({ [thumbprintOf(certificate)]: true });
      const secretId = (result.output as { secretId: string }).secretId;
      expect(windows.calls()).toContain(`read ${SECRETS_ARN}${secretId} eu-west-1`);
      expect(result.inventoryItems).toEqual([
        expect.objectContaining({
          TagKeyValue: '444455556666/eu-central-1/env=dev',
          TargetAccount: '444455556666',
          TargetRegion: 'eu-central-1',
          LastInstallStatus: 'Success',
        }),
      ]);
      // The association the member account keeps converging the tag with lists this secret.
      expect(result.createdAssociations).toEqual([
        expect.objectContaining({ Parameters: expect.objectContaining({ Certificates: [secretId] }) }),
      ]);
    } finally {
      windows.remove();
    }
  });

  it('fails clearly, recorded on the member mapping and alerted with its account, when a host cannot install', async () => {
    const host = new FakeHost({ secretsArn: SECRETS_ARN });
    host.addCommand('openssl', '#!/bin/bash\necho "openssl: cannot load the provider" >&2\nexit 1');
    const result = await harness.run(MEMBER_REQUEST, { certificate, hosts: [host] });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InstallFailed');
    expect(result.inventoryItems).toEqual([
      expect.objectContaining({
        TagKeyValue: '444455556666/eu-central-1/env=dev',
        LastInstallStatus: 'Failed',
      }),
    ]);
    expect(result.alerts[0]!.Message).toContain('"TargetAccount":"444455556666"');
  });

  it("records a failure before the install on the member mapping's key (the workflow's own failure path)", async () => {
    const result = await harness.run(MEMBER_REQUEST, {
      certificate,
      hosts: [new FakeHost({ secretsArn: SECRETS_ARN })],
      lambdaServiceErrors: { RecordAndInstall: 20 },
    });

    expect(result.status).toBe('FAILED');
    expect(result.transitions).toContain('MemberTargetPartition');
    expect(result.inventoryItems).toEqual([
      expect.objectContaining({
        TagKeyValue: '444455556666/eu-central-1/env=dev',
        LastInstallStatus: 'Failed',
        LastInstallSummary: expect.stringMatching(/^Lambda\.ServiceException/),
      }),
    ]);
  });

  it('refuses a Region outside the configured ones before exporting anything', async () => {
    const result = await harness.run(
      { ...MEMBER_REQUEST, TargetRegion: 'ap-south-1' },
      { certificate, hosts: [new FakeHost({ secretsArn: SECRETS_ARN })] },
    );

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidExportRequestError');
    expect(result.cause).toMatch(
      /TargetRegion ap-south-1 is not allowed: this deployment installs in eu-west-1, eu-central-1/,
    );
    expect(result.exports).toBe(0);
    expect(result.sendCommands).toEqual([]);
    expect(result.inventoryItems).toEqual([]);
  });

  it('keeps the same tag here a mapping of its own', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const here = await harness.run(REQUEST, { certificate, hosts: [new FakeHost()], tableName });
    const there = await harness.run(MEMBER_REQUEST, {
      certificate,
      hosts: [new FakeHost({ secretsArn: SECRETS_ARN })],
      tableName,
    });

    expect([here.status, there.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(here.commandRegions).toEqual(['eu-west-1']);
    expect(there.commandRegions).toEqual(['eu-central-1']);
    expect(there.inventoryItems.map((item) => item.TagKeyValue).sort()).toEqual([
      '444455556666/eu-central-1/env=dev',
      'env=dev',
    ]);
    expect((here.output as { secretId: string }).secretId).not.toBe(
      (there.output as { secretId: string }).secretId,
    );
  });

  it("dry-runs in the member account: lists its tagged instances and asks each, through the member role there, with the member stack's document", async () => {
    const result = await harness.run(
      { ...MEMBER_REQUEST, DryRun: true },
      { certificate, hosts: [new FakeHost({ secretsArn: SECRETS_ARN })] },
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      dryRun: true,
      target: 'env=dev in account 444455556666 (eu-central-1)',
      exportable: true,
      instances: [expect.objectContaining({ ready: true, platformType: 'Linux' })],
      hostCheck: {
        mode: 'preflight',
        pending: false,
        location: { TargetAccount: '444455556666', TargetRegion: 'eu-central-1' },
      },
    });
    expect(result.sendCommands).toEqual([
      expect.objectContaining({ DocumentName: 'CertLifecycle-DryRun-ACMCertificate' }),
    ]);
    expect(result.commandRegions).toEqual(['eu-central-1']);
    expect(result.exports).toBe(0);
  });

  it('dry-runs a location the deployment may not install in as not ready, saying why', async () => {
    const result = await harness.run(
      { ...MEMBER_REQUEST, TargetRegion: 'ap-south-1', DryRun: true },
      { certificate, hosts: [new FakeHost({ secretsArn: SECRETS_ARN })] },
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      ready: false,
      instances: [],
      locationNotReadyBecause: expect.stringMatching(/^TargetRegion ap-south-1 is not allowed/),
    });
  });
});
