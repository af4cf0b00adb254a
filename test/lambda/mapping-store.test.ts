import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ExportRecord,
  mappingKey,
  mappingsForCertificate,
  recordExport,
  recordExportStarted,
  recordInstallResult,
} from '../../lambda/shared/mapping-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { CERTIFICATE_ARN, REQUEST } from '../helpers/fixtures.js';

let inventory: LocalDynamo;
let tableName: string;
beforeAll(async () => {
  inventory = await startLocalDynamo();
});
afterAll(async () => inventory.stop());
beforeEach(async () => {
  tableName = await inventory.createInventoryTable();
});

const EXPORT: ExportRecord = {
  expiresAt: '2027-12-24T23:59:59.000Z',
  exportedAt: '2026-11-24T10:00:00.000Z',
  secretId: 'acm-passphrase/web-server/0123456789abcdef',
  serial: '0a:1b:2c',
  executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:one',
  commandId: 'command-1',
  installStatus: 'CommandSent',
};

async function item() {
  return (await inventory.db.send(new GetCommand({ TableName: tableName, Key: mappingKey(REQUEST) }))).Item;
}

describe('the inventory', () => {
  it('keys a mapping by TagKeyValue and CertificateArn#CertName', () => {
    expect(mappingKey(REQUEST)).toEqual({
      TagKeyValue: 'env=dev',
      'CertificateArn#CertName': `${CERTIFICATE_ARN}#web-server`,
    });
  });

  it('makes a new mapping, Exporting, before its secret is first written, and leaves an existing one as it is', async () => {
    const started = { secretId: EXPORT.secretId, profile: 'default', executionArn: EXPORT.executionArn };
    expect(await recordExportStarted(inventory.db, tableName, REQUEST, started)).toBe(true);
    expect(await item()).toEqual({
      ...mappingKey(REQUEST),
      ...REQUEST,
      SecretId: EXPORT.secretId,
      Profile: 'default',
      LastExecutionArn: EXPORT.executionArn,
      LastInstallStatus: 'Exporting',
    });
    expect(await recordExport(inventory.db, tableName, REQUEST, EXPORT)).toBe(true);
    const exported = await item();
    const again = { ...started, executionArn: `${EXPORT.executionArn}-2` };
    expect(await recordExportStarted(inventory.db, tableName, REQUEST, again)).toBe(false);
    expect(await item()).toEqual(exported);
  });

  it('records an export with ISO-8601 dates and names only', async () => {
    expect(await recordExport(inventory.db, tableName, REQUEST, EXPORT)).toBe(true);
    expect(await item()).toEqual({
      TagKeyValue: 'env=dev',
      'CertificateArn#CertName': `${CERTIFICATE_ARN}#web-server`,
      CertificateArn: CERTIFICATE_ARN,
      CertName: 'web-server',
      TargetTagKey: 'env',
      TargetTagValue: 'dev',
      CertExpiryDate: '2027-12-24T23:59:59.000Z',
      LastExportedDate: '2026-11-24T10:00:00.000Z',
      SecretId: EXPORT.secretId,
      Serial: '0a:1b:2c',
      LastExecutionArn: EXPORT.executionArn,
      LastCommandId: 'command-1',
      LastInstallStatus: 'CommandSent',
    });
  });

  it('updates the same item on the next export and clears the previous install result', async () => {
    await recordExport(inventory.db, tableName, REQUEST, EXPORT);
    await recordInstallResult(inventory.db, tableName, REQUEST, {
      commandId: 'command-1',
      status: 'Success',
      summary: 'installed on 2 of 2 instances',
      finishedAt: '2026-11-24T10:01:00.000Z',
    });
    await recordExport(inventory.db, tableName, REQUEST, {
      ...EXPORT,
      exportedAt: '2027-10-01T00:00:00.000Z',
      serial: '0d:0e',
      commandId: 'command-2',
    });
    const updated = await item();
    expect(updated).toMatchObject({
      Serial: '0d:0e',
      LastCommandId: 'command-2',
      LastInstallStatus: 'CommandSent',
    });
    expect(updated).not.toHaveProperty('LastInstallSummary');
    expect(updated).not.toHaveProperty('LastInstallDate');
  });

  it('never lets an older export overwrite a newer one', async () => {
    await recordExport(inventory.db, tableName, REQUEST, {
      ...EXPORT,
      exportedAt: '2027-01-01T00:00:00.000Z',
      serial: 'new',
    });
    expect(await recordExport(inventory.db, tableName, REQUEST, { ...EXPORT, serial: 'old' })).toBe(false);
    expect(await item()).toMatchObject({ Serial: 'new' });
  });

  it('records an install result only for the command the mapping points at', async () => {
    await recordExport(inventory.db, tableName, REQUEST, { ...EXPORT, commandId: 'command-2' });
    const stale = await recordInstallResult(inventory.db, tableName, REQUEST, {
      commandId: 'command-1',
      status: 'Failed',
      summary: 'old news',
      finishedAt: '2026-11-24T10:05:00.000Z',
    });
    expect(stale).toBe(false);
    expect(await item()).toMatchObject({ LastInstallStatus: 'CommandSent' });
  });

  it('finds every mapping of a certificate through the CertificateArn index, across pages', async () => {
    const targets = Array.from({ length: 23 }, (_, index) => ({
      ...REQUEST,
      TargetTagValue: `host-${index}`,
    }));
    for (const target of targets) await recordExport(inventory.db, tableName, target, EXPORT);
    await recordExport(
      inventory.db,
      tableName,
      { ...REQUEST, CertificateArn: CERTIFICATE_ARN.replace('1234-5678', '9999-5678') },
      EXPORT,
    );

    const found = await mappingsForCertificate(inventory.db, tableName, CERTIFICATE_ARN, { pageSize: 5 });
    expect(found.map((mapping) => mapping.TargetTagValue).sort()).toEqual(
      targets.map((target) => target.TargetTagValue).sort(),
    );
  });
});
