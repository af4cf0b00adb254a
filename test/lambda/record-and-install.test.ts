import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type InstallCommandSettings,
  type RecordAndInstallInput,
  recordAndInstall,
} from '../../lambda/record-and-install/record-and-install.js';
import { DEFAULT_HOST_INSTALL } from '../../lambda/shared/install-parameters.js';
import { mappingKey } from '../../lambda/shared/mapping-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { REGION, REQUEST } from '../helpers/fixtures.js';

const SETTINGS: InstallCommandSettings = {
  documentName: 'Install-ACMCertificate',
  maxConcurrency: '25%',
  maxErrors: '0',
  deliveryTimeoutSeconds: 600,
  region: REGION,
  host: { ...DEFAULT_HOST_INSTALL, reloadCommand: 'systemctl reload nginx' },
};

const INPUT: RecordAndInstallInput = {
  ...REQUEST,
  export: {
    certificateArn: REQUEST.CertificateArn,
    certName: REQUEST.CertName,
    certificateType: 'PRIVATE',
    serial: '0a:1b:2c',
    notAfter: '2027-12-24T23:59:59.000Z',
    secretId: 'acm-passphrase/web-server/0123456789abcdef',
    secretVersionId: 'v1',
    exportedAt: '2026-11-24T10:00:00.000Z',
  },
  executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1',
};

const ssm = mockClient(SSMClient);
let dynamo: LocalDynamo;
let tableName: string;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  tableName = await dynamo.createInventoryTable();
  ssm.reset();
});
afterEach(() => ssm.reset());

const run = (input: RecordAndInstallInput = INPUT) =>
  recordAndInstall(input, {
    ssm: new SSMClient({ region: REGION }),
    db: dynamo.db,
    tableName,
    command: SETTINGS,
  });

const storedMapping = async () =>
  (await dynamo.db.send(new GetCommand({ TableName: tableName, Key: mappingKey(REQUEST) }))).Item;

describe('recordAndInstall', () => {
  it('sends the install document to the instances with the target tag, with names only as parameters', async () => {
    ssm
      .on(SendCommandCommand)
      .resolves({ Command: { CommandId: 'cmd-1', RequestedDateTime: new Date('2026-11-24T10:00:01Z') } });
    const result = await run();

    expect(ssm).toHaveReceivedCommandExactlyOnceWith(SendCommandCommand, {
      DocumentName: 'Install-ACMCertificate',
      DocumentVersion: '$LATEST',
      Targets: [{ Key: 'tag:env', Values: ['dev'] }],
      Parameters: {
        CertName: ['web-server'],
        SecretId: ['acm-passphrase/web-server/0123456789abcdef'],
        Region: [REGION],
        CertDirectory: ['/etc/ssl/certs'],
        KeyDirectory: ['/etc/ssl/private'],
        FileOwner: ['root'],
        FileGroup: ['root'],
        ReloadCommand: ['systemctl reload nginx'],
      },
      MaxConcurrency: '25%',
      MaxErrors: '0',
      TimeoutSeconds: 600,
      Comment: 'Install web-server serial 0a:1b:2c',
    });
    expect(result).toEqual({
      commandId: 'cmd-1',
      documentName: 'Install-ACMCertificate',
      requestedAt: '2026-11-24T10:00:01.000Z',
    });
  });

  it('records the mapping with the command id after sending', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    await run();
    expect(await storedMapping()).toMatchObject({
      CertificateArn: REQUEST.CertificateArn,
      CertExpiryDate: '2027-12-24T23:59:59.000Z',
      LastExportedDate: '2026-11-24T10:00:00.000Z',
      SecretId: INPUT.export.secretId,
      Serial: '0a:1b:2c',
      LastExecutionArn: INPUT.executionArn,
      LastCommandId: 'cmd-1',
      LastInstallStatus: 'CommandSent',
    });
  });

  it('keeps a comment within the 100 characters SSM allows', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    await run({ ...INPUT, CertName: 'c'.repeat(64), export: { ...INPUT.export, serial: 'ab:'.repeat(20) } });
    const comment = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input.Comment!;
    expect(comment.length).toBeLessThanOrEqual(100);
  });

  it('records the mapping and fails clearly when SSM rejects the command', async () => {
    ssm.on(SendCommandCommand).rejects(
      Object.assign(new Error('Document Install-ACMCertificate does not exist'), {
        name: 'InvalidDocument',
      }),
    );
    await expect(run()).rejects.toThrow(
      expect.objectContaining({
        name: 'InstallCommandRejectedError',
        message:
          'SSM rejected the install command (InvalidDocument): Document Install-ACMCertificate does not exist',
      }),
    );
    expect(await storedMapping()).toMatchObject({ LastInstallStatus: 'CommandRejected', Serial: '0a:1b:2c' });
  });

  it('lets a throttling error through for the workflow to retry, recording nothing yet', async () => {
    ssm
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(
      recordAndInstall(INPUT, {
        ssm: new SSMClient({ region: REGION, maxAttempts: 1 }),
        db: dynamo.db,
        tableName,
        command: SETTINGS,
      }),
    ).rejects.toThrow(expect.objectContaining({ name: 'ThrottlingException' }));
    expect(await storedMapping()).toBeUndefined();
  });

  it('re-checks the request it is given, so no unchecked tag reaches a target', async () => {
    await expect(run({ ...INPUT, TargetTagKey: 'aws:autoscaling:groupName' })).rejects.toThrow(
      expect.objectContaining({ name: 'InvalidExportRequestError' }),
    );
    expect(ssm).not.toHaveReceivedAnyCommand();
  });
});
