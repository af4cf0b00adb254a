import {
  DeleteSecretCommand,
  InvalidRequestException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DeleteAssociationCommand,
  DescribeAssociationCommand,
  ListAssociationsCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { associationName } from '../../lambda/shared/mapping-association.js';
import { mappingKey, recordExport } from '../../lambda/shared/mapping-store.js';
import { unmap } from '../../lambda/unmap/unmap.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { REGION, REQUEST } from '../helpers/fixtures.js';

/*
 * The inventory is a real DynamoDB engine (dynalite). State Manager (ListAssociations,
 * DescribeAssociation, DeleteAssociation) and Secrets Manager's DeleteSecret are mocked with the shapes
 * their API references document: no local engine implements associations.
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
}

const run = () =>
  unmap(REQUEST, {
    stateManager: new SSMClient({ region: REGION }),
    secrets: new SecretsManagerClient({ region: REGION }),
    db: dynamo.db,
    tableName,
    documentName: 'Install-ACMCertificate',
    recoveryWindowDays: 30,
  });

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

  it('removes a left-over association found by its name even when no mapping was recorded', async () => {
    ssm
      .on(ListAssociationsCommand)
      .resolves({ Associations: [{ AssociationId: 'assoc-1', AssociationName: NAME }] });
    const outcome = await run();
    expect(outcome).toMatchObject({ unmapped: false, associationDeleted: true });
  });
});
