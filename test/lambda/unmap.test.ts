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
  UpdateAssociationCommand,
} from '@aws-sdk/client-ssm';
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { certificateExportSecretName } from '../../lambda/shared/certificate-export.js';
import type { ExportRequest } from '../../lambda/shared/export-request.js';
import { mappingKey, recordExport } from '../../lambda/shared/mapping-store.js';
import {
  desiredTargetAssociation,
  targetAssociationName,
  targetOf,
} from '../../lambda/shared/target-association.js';
import { unmap } from '../../lambda/unmap/unmap.js';
import { AssociationStore } from '../helpers/association-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { PROFILES, REGION, REQUEST, TARGET_ASSOCIATIONS } from '../helpers/fixtures.js';

/*
 * The inventory is a real DynamoDB engine (dynalite). State Manager's associations are the store in
 * test/helpers/association-store.ts behind the mocked client; SendCommand and Secrets Manager's
 * DeleteSecret are mocked with the shapes their API references document.
 */

const ASSOCIATIONS = TARGET_ASSOCIATIONS;
const NAME = targetAssociationName('Install-ACMCertificate', targetOf(REQUEST));
const SECRET_ID = 'acm-passphrase/web-server/0123456789abcdef';
const OTHER: ExportRequest = {
  ...REQUEST,
  CertificateArn: REQUEST.CertificateArn.replace('12345678', '87654321'),
  CertName: 'api-server',
};
const OTHER_SECRET = 'acm-passphrase/api-server/fedcba9876543210';

const ssm = mockClient(SSMClient);
const secrets = mockClient(SecretsManagerClient);
let store: AssociationStore;
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
  store = new AssociationStore().serve(ssm);
  secrets
    .on(DeleteSecretCommand)
    .resolves({ Name: SECRET_ID, DeletionDate: new Date('2026-12-25T10:00:00.000Z') });
});

/** The mappings recorded, and their target's association listing their secrets, as an export leaves them. */
async function mapped(mappings: [ExportRequest, string][] = [[REQUEST, SECRET_ID]]): Promise<string> {
  for (const [request, secretId] of mappings) {
    await recordExport(dynamo.db, tableName, request, {
      expiresAt: '2027-12-24T23:59:59.000Z',
      exportedAt: '2026-11-24T10:00:00.000Z',
      secretId,
      serial: '0a:1b',
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1',
      commandId: 'cmd-1',
      association: { id: 'assoc-0001', name: NAME },
      installStatus: 'Success',
      profile: 'default',
    });
  }
  const { AssociationName, ...fields } = desiredTargetAssociation(
    targetOf(REQUEST),
    mappings.map(([, secretId]) => secretId),
    ASSOCIATIONS,
  );
  return store.add({ AssociationName, ...fields });
}

const run = (
  options: { removeFiles?: boolean } = {},
  request: ExportRequest = REQUEST,
  extra: Partial<Parameters<typeof unmap>[1]> = {},
) => {
  const ssmClient = new SSMClient({ region: REGION });
  return unmap(
    request,
    {
      stateManager: ssmClient,
      commands: ssmClient,
      ...extra,
      secrets: new SecretsManagerClient({ region: REGION }),
      db: dynamo.db,
      tableName,
      associations: ASSOCIATIONS,
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
  it("with the target's last certificate, deletes its association, schedules the secret for deletion with the window, then the mapping", async () => {
    const id = await mapped();
    const outcome = await run();
    expect(ssm).toHaveReceivedCommandWith(DeleteAssociationCommand, { AssociationId: id });
    expect(store.associations.size).toBe(0);
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

  it("deletes the certificate's export with its last mapping, with the same window, and keeps it while another remains", async () => {
    const exportSecret = certificateExportSecretName(REQUEST.CertificateArn);
    const otherTarget = { ...REQUEST, TargetTagValue: 'prod' };
    await mapped();
    await recordExport(dynamo.db, tableName, otherTarget, {
      expiresAt: '2027-12-24T23:59:59.000Z',
      exportedAt: '2026-11-24T10:00:00.000Z',
      secretId: 'acm-passphrase/web-server/00000000000000aa',
      serial: '0a:1b',
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-2',
      installStatus: 'Success',
    });
    await run();
    expect(secrets).not.toHaveReceivedCommandWith(DeleteSecretCommand, { SecretId: exportSecret });

    await dynamo.db.send(new DeleteCommand({ TableName: tableName, Key: mappingKey(otherTarget) }));
    await mapped();
    await run();
    expect(secrets).toHaveReceivedCommandWith(DeleteSecretCommand, {
      SecretId: exportSecret,
      RecoveryWindowInDays: 30,
    });
  });

  it("takes the certificate out of its target's association and leaves the target's others listed", async () => {
    await mapped([
      [REQUEST, SECRET_ID],
      [OTHER, OTHER_SECRET],
    ]);
    const outcome = await run();
    expect(outcome).toMatchObject({ unmapped: true, associationDeleted: false });
    expect(store.certificatesOf(store.named(NAME))).toEqual([OTHER_SECRET]);
    expect(ssm).toHaveReceivedCommandWith(UpdateAssociationCommand, {
      AssociationId: 'assoc-0001',
      AssociationVersion: '1',
      Parameters: expect.objectContaining({ Certificates: [OTHER_SECRET] }),
    });
    expect(ssm).not.toHaveReceivedCommand(DeleteAssociationCommand);
  });

  it('leaves the files on the hosts unless asked', async () => {
    await mapped();
    await run();
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('asked to, sends the Remove document to the tag after the certificate left the association, names only', async () => {
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
    store.associations.clear();
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
    const { AssociationName, ...fields } = desiredTargetAssociation(
      targetOf(REQUEST),
      [SECRET_ID],
      ASSOCIATIONS,
    );
    store.add({ AssociationName, ...fields });
    const outcome = await run();
    expect(outcome).toMatchObject({ unmapped: false, associationDeleted: true });
  });
});

describe('unmap of a mapping in a member account', () => {
  const MEMBER_REQUEST: ExportRequest = {
    ...REQUEST,
    TargetAccount: '444455556666',
    TargetRegion: 'eu-central-1',
  };
  const MEMBER_SECRET = 'acm-passphrase/web-server/00000000000000aa';
  const memberClient = new SSMClient({ region: 'eu-central-1' });

  it("acts through the member role there (association and Remove command), and leaves the same tag's mapping here", async () => {
    await mapped(); // the same certificate and tag in this deployment's own account
    await recordExport(dynamo.db, tableName, MEMBER_REQUEST, {
      expiresAt: '2027-12-24T23:59:59.000Z',
      exportedAt: '2026-11-24T10:00:00.000Z',
      secretId: MEMBER_SECRET,
      serial: '0a:1b',
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-m',
      commandId: 'cmd-m',
      association: { id: 'assoc-member', name: NAME },
      installStatus: 'Success',
      profile: 'default',
    });
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-remove-member' } });
    const outcome = await run({ removeFiles: true }, MEMBER_REQUEST, {
      ssmAt: (location) => {
        expect(location).toEqual({ TargetAccount: '444455556666', TargetRegion: 'eu-central-1' });
        return memberClient;
      },
    });

    expect(outcome.message).toMatch(
      /on instances tagged env=dev in account 444455556666 \(eu-central-1\) is unmapped/,
    );
    const [remove] = ssm.commandCalls(SendCommandCommand);
    expect(remove!.thisValue).toBe(memberClient);
    expect(remove!.args[0].input.Targets).toEqual([{ Key: 'tag:env', Values: ['dev'] }]);
    // Every State Manager call went to the member account's.
    for (const call of ssm.calls()) expect(call.thisValue).toBe(memberClient);
    expect(secrets).toHaveReceivedCommandWith(DeleteSecretCommand, { SecretId: MEMBER_SECRET });
    const key = (request: ExportRequest) =>
      dynamo.db.send(new GetCommand({ TableName: tableName, Key: mappingKey(request) }));
    expect((await key(MEMBER_REQUEST)).Item).toBeUndefined();
    expect((await key(REQUEST)).Item).toMatchObject({ SecretId: SECRET_ID });
  });
});
