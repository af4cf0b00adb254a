import {
  DeleteSecretCommand,
  InvalidRequestException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DeleteAssociationCommand,
  DescribeAssociationCommand,
  ListAssociationsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { associationName } from '../../lambda/shared/mapping-association.js';
import { mappingKey, recordExport } from '../../lambda/shared/mapping-store.js';
import { unmap } from '../../lambda/unmap/unmap.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { PROFILES, REGION, REQUEST } from '../helpers/fixtures.js';

/*
 * The inventory is a real DynamoDB engine (dynalite). State Manager (ListAssociations,
 * DescribeAssociation, DeleteAssociation), SendCommand and Secrets Manager's DeleteSecret are mocked
 * with the shapes their API references document: no local engine implements associations.
 */

const NAME = associationName('Install-ACMCertificate', REQUEST);
const SECRET_ID = 'acm-passphrase/web-server/0123456789abcdef';

const ssm = mockClient(SSMClient);
const secrets = mockClient(SecretsManagerClient);
let dynamo: LocalDynamo;
let tableName: string;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  ssm.reset();
  secrets.reset();
  tableName = await dynamo.createInventoryTable();
  ssm.on(DescribeAssociationCommand, { AssociationId: 'assoc-1' }).resolves({
    AssociationDescription: { AssociationId: 'assoc-1', AssociationName: NAME },
  });
  ssm.on(ListAssociationsCommand).resolves({ Associations: [] });
  ssm.on(DeleteAssociationCommand).resolves({});
  secrets
    .on(DeleteSecretCommand)
    .resolves({ Name: SECRET_ID, DeletionDate: new Date('2026-12-25T10:00:00.000Z') });
});

async function mapped(): Promise<void> {
  await recordExport(dynamo.db, tableName, REQUEST, {
    expiresAt: '2027-12-24T23:59:59.000Z',
    exportedAt: '2026-11-24T10:00:00.000Z',
    secretId: SECRET_ID,
    serial: '0a:1b',
    executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1',
    commandId: 'cmd-1',
    association: { id: 'assoc-1', name: NAME },
    installStatus: 'Success',
  });
  // State Manager as it is: the association is listed until it is deleted.
  let associations = [{ AssociationId: 'assoc-1', AssociationName: NAME }];
  ssm.on(ListAssociationsCommand).callsFake(() => ({ Associations: associations }));
  ssm.on(DeleteAssociationCommand).callsFake(() => {
    associations = [];
    return {};
  });
}

const run = (options: { removeFiles?: boolean } = {}) => {
  const ssmClient = new SSMClient({ region: REGION });
  return unmap(
    REQUEST,
    {
      stateManager: ssmClient,
      commands: ssmClient,
      secrets: new SecretsManagerClient({ region: REGION }),
      db: dynamo.db,
      tableName,
      documentName: 'Install-ACMCertificate',
      recoveryWindowDays: 30,
      removal: {
        documentName: 'CertLifecycle-Remove-ACMCertificate',
        maxConcurrency: '25%',
        maxErrors: '0',
        deliveryTimeoutSeconds: 600,
        profiles: PROFILES,
      },
    },
    options,
  );
};

const storedMapping = async () =>
  (await dynamo.db.send(new GetCommand({ TableName: tableName, Key: mappingKey(REQUEST) }))).Item;

describe('unmap', () => {
  it('deletes the association, schedules the secret for deletion with the window, then the mapping', async () => {
    await mapped();
    const outcome = await run();
    expect(ssm).toHaveReceivedCommandWith(DeleteAssociationCommand, { AssociationId: 'assoc-1' });
    expect(secrets).toHaveReceivedCommandWith(DeleteSecretCommand, {
      SecretId: SECRET_ID,
      RecoveryWindowInDays: 30,
    });
    expect(await storedMapping()).toBeUndefined();
    expect(outcome).toMatchObject({
      unmapped: true,
      associationDeleted: true,
      secretDeletionDate: '2026-12-25T10:00:00.000Z',
      message: expect.stringMatching(
        /is unmapped: no host gets it any more; its secret is deleted on 2026-12-25/,
      ),
    });
  });

  it('leaves the files on the hosts unless asked', async () => {
    await mapped();
    await run();
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('asked to, sends the Remove document to the tag after the association is gone, names only', async () => {
    await mapped();
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-remove' } });
    const outcome = await run({ removeFiles: true });
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'CertLifecycle-Remove-ACMCertificate',
      DocumentVersion: '$LATEST',
      Targets: [{ Key: 'tag:env', Values: ['dev'] }],
      Parameters: {
        CertName: ['web-server'],
        CertDirectory: ['/etc/cert-lifecycle/certs'],
        KeyDirectory: ['/etc/cert-lifecycle/private'],
        FileOwner: ['root'],
        FileGroup: ['root'],
      },
      MaxConcurrency: '25%',
      MaxErrors: '0',
      TimeoutSeconds: 600,
    });
    const calls = ssm
      .calls()
      .map((call) => (call.args[0] as { constructor: { name: string } }).constructor.name);
    expect(calls.indexOf('DeleteAssociationCommand')).toBeLessThan(calls.indexOf('SendCommandCommand'));
    expect(outcome).toMatchObject({ removeCommandId: 'cmd-remove' });
    expect(outcome.message).toMatch(/Command cmd-remove removes the installed files from the hosts/);
  });

  it('says a second unmap of the same mapping has nothing to do, and touches no secret', async () => {
    await mapped();
    await run();
    secrets.resetHistory();
    const outcome = await run();
    expect(outcome).toMatchObject({ unmapped: false, associationDeleted: false });
    expect(outcome.message).toMatch(/was not mapped: nothing to do$/);
    expect(secrets).not.toHaveReceivedAnyCommand();
  });

  it('finishes an unmap that stopped half-way: association gone, secret already scheduled', async () => {
    await mapped();
    ssm
      .on(DescribeAssociationCommand)
      .rejects(Object.assign(new Error('association not found'), { name: 'AssociationDoesNotExist' }));
    secrets.on(DeleteSecretCommand).rejects(
      new InvalidRequestException({
        message: "You can't perform this operation on the secret because it was marked for deletion.",
        $metadata: {},
      }),
    );
    const outcome = await run();
    expect(outcome).toMatchObject({ unmapped: true, associationDeleted: false });
    expect(await storedMapping()).toBeUndefined();
  });

  it('asks nothing of an association that is gone, which IAM would refuse to describe, when unmapped again', async () => {
    await mapped();
    await run();
    ssm.reset();
    ssm.on(ListAssociationsCommand).resolves({ Associations: [] });
    ssm
      .on(DescribeAssociationCommand)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    const again = await run();
    expect(again).toMatchObject({ unmapped: false, associationDeleted: false });
    expect(ssm).not.toHaveReceivedCommand(DescribeAssociationCommand);
    expect(ssm).not.toHaveReceivedCommand(DeleteAssociationCommand);
  });

  it('removes a left-over association found by its name even when no mapping was recorded', async () => {
    ssm
      .on(ListAssociationsCommand)
      .resolves({ Associations: [{ AssociationId: 'assoc-1', AssociationName: NAME }] });
    const outcome = await run();
    expect(outcome).toMatchObject({ unmapped: false, associationDeleted: true });
  });
});
