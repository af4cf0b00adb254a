import { CreateAssociationCommand, DeleteAssociationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { responseBody } from '../../lambda/shared/cloudformation-response.js';
import type { ExportRequest } from '../../lambda/shared/export-request.js';
import { mappingKey, recordExport } from '../../lambda/shared/mapping-store.js';
import { targetAssociationName, targetOf } from '../../lambda/shared/target-association.js';
import { syncAllTargets } from '../../lambda/sync-associations/sync-associations.js';
import { AssociationStore } from '../helpers/association-store.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { REGION, REQUEST, TARGET_ASSOCIATIONS } from '../helpers/fixtures.js';

/*
 * The deploy-time sync against a real DynamoDB engine (dynalite) and the State Manager store: a
 * deployment that made one association per mapping is moved to one per target without a gap, and every
 * association follows the configuration just deployed.
 */
const SETTINGS = TARGET_ASSOCIATIONS;
const OTHER: ExportRequest = {
  ...REQUEST,
  CertificateArn: REQUEST.CertificateArn.replace('12345678', '87654321'),
  CertName: 'api-server',
};
const SECRETS = ['acm-passphrase/web-server/0123456789abcdef', 'acm-passphrase/api-server/fedcba9876543210'];

const ssm = mockClient(SSMClient);
let store: AssociationStore;
let dynamo: LocalDynamo;
let tableName: string;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  ssm.reset();
  store = new AssociationStore().serve(ssm);
  tableName = await dynamo.createInventoryTable();
});

const deps = (settings = SETTINGS) => ({
  stateManager: new SSMClient({ region: REGION }),
  db: dynamo.db,
  tableName,
  settings,
});

/** Two mappings to env=dev as the earlier version left them: each with its own association. */
async function earlierDeployment(): Promise<string[]> {
  const ids: string[] = [];
  for (const [index, request] of [REQUEST, OTHER].entries()) {
    const name = `Install-ACMCertificate.${request.CertName}.${SECRETS[index]!.slice(-16)}`;
    const id = store.add({
      AssociationName: name,
      Name: 'Install-ACMCertificate',
      DocumentVersion: '$LATEST',
      Targets: [{ Key: 'tag:env', Values: ['dev'] }],
      Parameters: { CertName: [request.CertName], SecretId: [SECRETS[index]!], Region: [REGION] },
      ScheduleExpression: 'rate(1 day)',
    });
    ids.push(id);
    await recordExport(dynamo.db, tableName, request, {
      expiresAt: '2027-12-24T23:59:59.000Z',
      exportedAt: '2026-11-24T10:00:00.000Z',
      secretId: SECRETS[index]!,
      serial: '0a',
      executionArn: `arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-${index}`,
      commandId: 'cmd-1',
      association: { id, name },
      installStatus: 'Success',
    });
  }
  return ids;
}

describe('the deploy-time sync of the associations', () => {
  it('replaces one association per mapping by one per target, the new one made before the old go', async () => {
    const old = await earlierDeployment();
    const summary = await syncAllTargets(deps());

    expect(summary).toMatchObject({ targets: 1, mappings: 2, replaced: 2, changes: { created: 1 } });
    expect(store.associations.size).toBe(1);
    const name = targetAssociationName('Install-ACMCertificate', targetOf(REQUEST));
    const target = store.named(name)!;
    expect(store.certificatesOf(target)).toEqual([...SECRETS].sort());
    for (const id of old) expect(store.associations.has(id)).toBe(false);
    const order = ssm.calls().map((call) => (call.args[0] as object).constructor.name);
    expect(order.indexOf('CreateAssociationCommand')).toBeLessThan(order.indexOf('DeleteAssociationCommand'));
    for (const request of [REQUEST, OTHER]) {
      const { Item } = await dynamo.db.send(
        new GetCommand({ TableName: tableName, Key: mappingKey(request) }),
      );
      expect(Item).toMatchObject({ AssociationId: target.AssociationId, AssociationName: name });
    }
  });

  it('brings every association in line with the configuration just deployed, and then changes nothing', async () => {
    await earlierDeployment();
    await syncAllTargets(deps());
    const changed = { ...SETTINGS, schedule: 'rate(12 hours)' };
    expect((await syncAllTargets(deps(changed))).changes).toMatchObject({ updated: 1 });
    expect([...store.associations.values()][0]!.ScheduleExpression).toBe('rate(12 hours)');
    ssm.resetHistory();
    expect((await syncAllTargets(deps(changed))).changes).toMatchObject({ unchanged: 1 });
    expect(ssm).not.toHaveReceivedCommand(CreateAssociationCommand);
    expect(ssm).not.toHaveReceivedCommand(DeleteAssociationCommand);
  });
});

describe('the answer to CloudFormation', () => {
  it('carries the request ids, the status and a bounded reason', () => {
    const body = JSON.parse(
      responseBody(
        {
          RequestType: 'Update',
          ResponseURL: 'https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x',
          StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/CertLifecycle/1',
          RequestId: 'r-1',
          LogicalResourceId: 'AssociationsInStep',
          PhysicalResourceId: 'p-1',
        },
        { Status: 'FAILED', Reason: 'x'.repeat(2000) },
      ),
    );
    expect(body).toMatchObject({
      Status: 'FAILED',
      PhysicalResourceId: 'p-1',
      StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/CertLifecycle/1',
      RequestId: 'r-1',
      LogicalResourceId: 'AssociationsInStep',
    });
    expect(body.Reason).toHaveLength(1000);
  });
});
