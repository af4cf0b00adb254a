import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import {
  CreateAssociationCommand,
  DescribeAssociationCommand,
  ListAssociationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
  UpdateAssociationCommand,
} from '@aws-sdk/client-ssm';
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type RecordAndInstallInput,
  executionMark,
  recordAndInstall,
} from '../../lambda/record-and-install/record-and-install.js';
import { mappingKey, recordExport } from '../../lambda/shared/mapping-store.js';
import { MAX_CERTIFICATES_PER_TARGET } from '../../lambda/shared/install-parameters.js';
import { AssociationStore } from '../helpers/association-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import {
  RECORD_AND_INSTALL_INPUT,
  REGION,
  REQUEST,
  recordAndInstallDependencies,
} from '../helpers/fixtures.js';

/*
 * SendCommand and ListCommands are mocked as everywhere in the unit tests; the State Manager calls
 * (ListAssociations, DescribeAssociation, CreateAssociation, UpdateAssociation) too, with the request and
 * response shapes of the SSM API reference, since no local engine implements associations.
 */

const INPUT = RECORD_AND_INSTALL_INPUT;

const PARAMETERS = {
  Certificates: ['acm-passphrase/web-server/0123456789abcdef'],
  Region: [REGION],
  CertDirectory: ['/etc/cert-lifecycle/certs'],
  KeyDirectory: ['/etc/cert-lifecycle/private'],
  FileOwner: ['root'],
  FileGroup: ['root'],
  ReloadCommand: ['systemctl reload nginx'],
  Formats: ['pem'],
  Pkcs12Encryption: ['aes-256'],
  VerifySeconds: ['10'],
  KeyExportable: ['false'],
};

const ASSOCIATION_NAME = /^Install-ACMCertificate\.default\.[0-9a-f]{16}$/;

/** Every field of the target's association, as CreateAssociation and UpdateAssociation get them. */
const ASSOCIATION_FIELDS = {
  Name: 'Install-ACMCertificate',
  DocumentVersion: '$LATEST',
  Targets: [{ Key: 'tag:env', Values: ['dev'] }],
  Parameters: PARAMETERS,
  ScheduleExpression: 'rate(1 day)',
  MaxConcurrency: '10%',
  MaxErrors: '10%',
  ComplianceSeverity: 'HIGH' as const,
  SyncCompliance: 'AUTO' as const,
  ApplyOnlyAtCronInterval: false,
};

const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);
let store: AssociationStore;
let dynamo: LocalDynamo;
let tableName: string;
let waitsTable: string;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  tableName = await dynamo.createInventoryTable();
  waitsTable = await dynamo.createWaitsTable();
  ssm.reset();
  sfn.reset();
  store = new AssociationStore().serve(ssm);
  ssm
    .on(ListCommandsCommand)
    .resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'InProgress', TargetCount: 1 }] });
});
afterEach(() => ssm.reset());

const run = (input: RecordAndInstallInput = INPUT, client = new SSMClient({ region: REGION })) =>
  recordAndInstall(
    input,
    recordAndInstallDependencies(dynamo.db, { tableName, waitsTable }, { ssm: client }),
  );

const storedMapping = async () =>
  (await dynamo.db.send(new GetCommand({ TableName: tableName, Key: mappingKey(REQUEST) }))).Item;
const storedWait = async (commandId: string) =>
  (await dynamo.db.send(new GetCommand({ TableName: waitsTable, Key: { CommandId: commandId } }))).Item;

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
      Parameters: PARAMETERS,
      MaxConcurrency: '25%',
      MaxErrors: '0',
      TimeoutSeconds: 600,
      Comment: `Install web-server serial 0a:1b:2c ${executionMark(INPUT.executionArn)}`,
    });
    expect(result).toEqual({
      commandId: 'cmd-1',
      documentName: 'Install-ACMCertificate',
      requestedAt: '2026-11-24T10:00:01.000Z',
      associationId: 'assoc-0001',
      associationChange: 'created',
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
      AssociationId: 'assoc-0001',
      AssociationName: expect.stringMatching(ASSOCIATION_NAME),
    });
  });

  it("sends the named profile's settings and records the profile on the mapping", async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    await run({ ...INPUT, export: { ...INPUT.export, profile: 'haproxy' } });
    expect(ssm.commandCalls(SendCommandCommand)[0]!.args[0].input.Parameters).toEqual({
      ...PARAMETERS,
      CertDirectory: ['/etc/haproxy/certs'],
      KeyDirectory: ['/etc/haproxy/private'],
      FileGroup: ['haproxy'],
      ReloadCommand: ['systemctl reload haproxy'],
      Formats: ['combined'],
      VerifyEndpoint: ['127.0.0.1:443'],
    });
    expect(await storedMapping()).toMatchObject({ Profile: 'haproxy' });
  });

  it('on a retry, follows the command this execution already sent instead of sending another', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    await run();
    // The response was lost; Step Functions runs the step again (a new task token).
    ssm.on(ListCommandsCommand, { CommandId: 'cmd-1' }).resolves({
      Commands: [
        { CommandId: 'cmd-1', Status: 'InProgress', RequestedDateTime: new Date('2026-11-24T10:00:01Z') },
      ],
    });
    const again = await run({ ...INPUT, taskToken: 'token-2' });
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(again.commandId).toBe('cmd-1');
    expect(await storedWait('cmd-1')).toMatchObject({ TaskToken: 'token-2' });
  });

  it("on a retry after the send but before the record, finds the command by the execution's mark", async () => {
    ssm.on(ListCommandsCommand).resolves({
      Commands: [
        {
          CommandId: 'other',
          Comment: `Install web-server serial 0a:1b:2c ${executionMark('another-execution')}`,
        },
        {
          CommandId: 'cmd-7',
          Comment: `Install web-server serial 0a:1b:2c ${executionMark(INPUT.executionArn)}`,
          RequestedDateTime: new Date('2026-11-24T10:00:01Z'),
          Status: 'InProgress',
          TargetCount: 1,
        },
      ],
    });
    const result = await run({ ...INPUT, executionStartedAt: '2026-11-24T09:59:00.000Z' });
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect(result.commandId).toBe('cmd-7');
    expect(ssm).toHaveReceivedCommandWith(ListCommandsCommand, {
      Filters: [
        { key: 'DocumentName', value: 'Install-ACMCertificate' },
        { key: 'InvokedAfter', value: '2026-11-24T09:59:00Z' },
      ],
    });
    expect(await storedMapping()).toMatchObject({ LastCommandId: 'cmd-7' });
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
        message: 'SSM rejected the install (InvalidDocument): Document Install-ACMCertificate does not exist',
      }),
    );
    expect(await storedMapping()).toMatchObject({ LastInstallStatus: 'CommandRejected', Serial: '0a:1b:2c' });
  });

  it('lets a throttling error through for the workflow to retry, recording nothing yet', async () => {
    ssm
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(run(INPUT, new SSMClient({ region: REGION, maxAttempts: 1 }))).rejects.toThrow(
      expect.objectContaining({ name: 'ThrottlingException' }),
    );
    expect(await storedMapping()).toBeUndefined();
  });

  it('re-checks the request it is given, so no unchecked tag reaches a target', async () => {
    await expect(run({ ...INPUT, TargetTagKey: 'aws:autoscaling:groupName' })).rejects.toThrow(
      expect.objectContaining({ name: 'InvalidExportRequestError' }),
    );
    expect(ssm).not.toHaveReceivedAnyCommand();
  });

  it('registers the wait for the command with the task token and a deadline, and leaves it while the command runs', async () => {
    ssm
      .on(SendCommandCommand)
      .resolves({ Command: { CommandId: 'cmd-1', RequestedDateTime: new Date('2026-11-24T10:00:01Z') } });
    await run();
    expect(await storedWait('cmd-1')).toEqual({
      ...REQUEST,
      CommandId: 'cmd-1',
      TaskToken: 'token-1',
      ExecutionArn: INPUT.executionArn,
      AssociationId: 'assoc-0001',
      AssociationChange: 'created',
      SecretId: INPUT.export.secretId,
      SentAt: '2026-11-24T10:00:01.000Z',
      Deadline: '2026-11-24T10:15:01.000Z',
      ExpiresAt: Date.parse('2026-11-25T10:15:01Z') / 1000,
    });
    expect(sfn).not.toHaveReceivedAnyCommand();
  });

  it('hands the outcome back itself when the command had already ended, and removes the wait', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandsCommand).resolves({
      Commands: [
        { CommandId: 'cmd-1', Status: 'Success', StatusDetails: 'No Instances In Tag', TargetCount: 0 },
      ],
    });
    await run();
    const [call] = sfn.commandCalls(SendTaskSuccessCommand);
    expect(call!.args[0].input.taskToken).toBe('token-1');
    expect(JSON.parse(call!.args[0].input.output!)).toMatchObject({
      outcome: 'Failed',
      reason: expect.stringMatching(/^no managed instance has tag env=dev/),
      commandId: 'cmd-1',
      associationId: 'assoc-0001',
    });
    expect(await storedWait('cmd-1')).toBeUndefined();
    expect(await storedMapping()).toMatchObject({ LastInstallStatus: 'Failed' });
  });
});

/** Another certificate for the same target (tag and profile), with its own secret. */
const another = (n: number): RecordAndInstallInput => {
  const CertName = `site${n}.example.com`;
  const CertificateArn = REQUEST.CertificateArn.replace(/[0-9a-f]{12}$/, n.toString(16).padStart(12, '0'));
  return {
    ...INPUT,
    CertificateArn,
    CertName,
    export: {
      ...INPUT.export,
      certificateArn: CertificateArn,
      certName: CertName,
      secretId: `acm-passphrase/${CertName}/${n.toString(16).padStart(16, '0')}`,
    },
    executionArn: `${INPUT.executionArn}-${n}`,
  };
};
const listed = () => store.certificatesOf([...store.associations.values()][0]);

describe("the target's association", () => {
  beforeEach(() => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
  });

  it('is created on the first export: the tag as target, the secret listed, the deployment tag', async () => {
    await run();
    expect(ssm).toHaveReceivedCommandWith(ListAssociationsCommand, {
      AssociationFilterList: [{ key: 'AssociationName', value: expect.stringMatching(ASSOCIATION_NAME) }],
    });
    expect(ssm).toHaveReceivedCommandExactlyOnceWith(CreateAssociationCommand, {
      AssociationName: expect.stringMatching(ASSOCIATION_NAME),
      ...ASSOCIATION_FIELDS,
      Tags: [{ Key: 'cert-lifecycle:deployment', Value: 'CertLifecycle' }],
    });
  });

  it('is left alone on a renewal when nothing about it changed: no update, so no extra run', async () => {
    await run();
    const result = await run({
      ...INPUT,
      export: { ...INPUT.export, exportedAt: '2026-12-24T10:00:00.000Z' },
    });
    expect(result.associationChange).toBe('unchanged');
    expect(ssm).toHaveReceivedCommandTimes(CreateAssociationCommand, 1);
    expect(ssm).not.toHaveReceivedCommand(UpdateAssociationCommand);
  });

  it('is updated, every field sent with the version it replaces, when the deployment changed how hosts install', async () => {
    await run();
    const [association] = store.associations.values();
    association!.Parameters = { ...PARAMETERS, ReloadCommand: ['systemctl reload apache2'] };
    const result = await run({
      ...INPUT,
      export: { ...INPUT.export, exportedAt: '2026-12-24T10:00:00.000Z' },
    });
    expect(result.associationChange).toBe('updated');
    expect(ssm).toHaveReceivedCommandWith(UpdateAssociationCommand, {
      AssociationId: 'assoc-0001',
      AssociationVersion: '1',
      AssociationName: association!.AssociationName,
      ...ASSOCIATION_FIELDS,
    });
  });

  it('takes a second certificate for the same target into the same association, and fifty into one', async () => {
    await run();
    const second = await run(another(2));
    expect(second).toMatchObject({ associationId: 'assoc-0001', associationChange: 'updated' });
    expect(listed()).toEqual([another(2).export.secretId, INPUT.export.secretId].sort());
    for (let n = 3; n <= 50; n++) await run(another(n));
    expect(store.associations.size).toBe(1);
    expect(listed()).toHaveLength(50);
    // A node carrying the tag is targeted by one association, where State Manager allows 20.
    expect(store.targeting({ env: 'dev' })).toBe(1);
  });

  it('lists every certificate when exports to one target run at the same moment', async () => {
    await Promise.all([2, 3, 4, 5, 6].map((n) => run(another(n))));
    expect(store.associations.size).toBe(1);
    expect(listed()).toEqual([2, 3, 4, 5, 6].map((n) => another(n).export.secretId).sort());
  });

  it('reads the table again when another writer changed the association since it was described', async () => {
    await run();
    // Another export to this target updates the association between this one's describe and update.
    let raced = false;
    ssm.on(DescribeAssociationCommand).callsFake((input: { AssociationId: string }) => {
      const found = store.associations.get(input.AssociationId)!;
      const answer = { AssociationDescription: { ...found } };
      if (!raced) {
        raced = true;
        store.associations.set(input.AssociationId, { ...found, AssociationVersion: '2' });
      }
      return answer;
    });
    const result = await run(another(2));
    expect(result.associationId).toBe('assoc-0001');
    expect(listed()).toContain(another(2).export.secretId);
  });

  it('is made again, never described, when the one the mapping recorded was deleted by hand', async () => {
    await run();
    store.associations.clear();
    // DescribeAssociation is granted only on tagged associations: asked of one that is gone, AWS refuses.
    ssm.on(DescribeAssociationCommand).callsFake((input: { AssociationId: string }) => {
      const found = store.associations.get(input.AssociationId);
      if (!found) throw Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
      return { AssociationDescription: { ...found } };
    });
    ssm.resetHistory();
    const result = await run({
      ...INPUT,
      export: { ...INPUT.export, exportedAt: '2026-12-24T10:00:00.000Z' },
    });
    expect(result.associationChange).toBe('created');
    expect(ssm).not.toHaveReceivedCommandWith(DescribeAssociationCommand, { AssociationId: 'assoc-0001' });
  });

  it('is found by its name when the mapping never recorded it (a retried step), not created twice', async () => {
    await run();
    await dynamo.db.send(new DeleteCommand({ TableName: tableName, Key: mappingKey(REQUEST) }));
    ssm.resetHistory();
    const result = await run();
    expect(result).toMatchObject({ associationId: 'assoc-0001', associationChange: 'unchanged' });
    expect(ssm).not.toHaveReceivedCommand(CreateAssociationCommand);
  });

  it("is replaced by a new one when it reached State Manager's 1,000 versions", async () => {
    await run();
    const [association] = store.associations.values();
    association!.AssociationVersion = '1000';
    const result = await run(another(2));
    expect(result).toMatchObject({ associationId: 'assoc-0002', associationChange: 'created' });
    expect(store.associations.size).toBe(1);
    expect(listed()).toHaveLength(2);
  });

  it(`refuses a target's ${MAX_CERTIFICATES_PER_TARGET + 1}th certificate before sending anything, with the reason`, async () => {
    for (let n = 1; n <= MAX_CERTIFICATES_PER_TARGET; n++) {
      await recordExport(dynamo.db, tableName, another(n), {
        expiresAt: INPUT.export.notAfter,
        exportedAt: INPUT.export.exportedAt,
        secretId: another(n).export.secretId,
        serial: '0a',
        executionArn: another(n).executionArn,
        installStatus: 'Success',
        profile: 'default',
      });
    }
    await expect(run()).rejects.toThrow(
      expect.objectContaining({
        name: 'InstallCommandRejectedError',
        message: expect.stringMatching(
          /^instances tagged env=dev \(profile default\) already take 100 certificates, as many as one target's association can list/,
        ),
      }),
    );
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect(await storedMapping()).toMatchObject({ LastInstallStatus: 'CommandRejected' });
  });

  it('over the account quota, fails clearly and still records the mapping', async () => {
    ssm.reset();
    new AssociationStore(0).serve(ssm);
    await expect(run()).rejects.toThrow(
      expect.objectContaining({
        name: 'InstallCommandRejectedError',
        message:
          'SSM rejected the install (AssociationLimitExceeded): You can have at most 2,000 active associations.',
      }),
    );
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect(await storedMapping()).toMatchObject({ LastInstallStatus: 'CommandRejected' });
  });
});
