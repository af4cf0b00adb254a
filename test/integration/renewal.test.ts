/**
 * The start-renewal step against moto_server: the inventory in moto's DynamoDB, the certificate in its
 * ACM, executions started in its Step Functions. Proves the execution names and inputs are ones Step
 * Functions accepts, and that a second delivery of the same renewal starts nothing.
 */
import { ACMClient, RequestCertificateCommand } from '@aws-sdk/client-acm';
import { CreateStateMachineCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordExport } from '../../lambda/shared/mapping-store.js';
import { startRenewal } from '../../lambda/start-renewal/start-renewal.js';
import { type LocalDynamo, dynamoAt } from '../helpers/dynalite.js';
import { aboutCertificate, fixtureEvent } from '../helpers/events.js';
import { MOTO_ACCOUNT, MOTO_REGION, createTestCertificateAuthority, motoClientConfig } from './moto.js';

let config: ReturnType<typeof motoClientConfig>;
let dynamo: LocalDynamo;
beforeAll(() => {
  config = motoClientConfig();
  dynamo = dynamoAt(config.endpoint);
});
afterAll(async () => dynamo.stop());

describe('start-renewal against Step Functions', () => {
  it('starts one named execution per mapping, and nothing on a second delivery', async () => {
    const certificateAuthorityArn = await createTestCertificateAuthority('Renewal Test Root');
    const { CertificateArn } = await new ACMClient(config).send(
      new RequestCertificateCommand({
        DomainName: 'renew.example.com',
        CertificateAuthorityArn: certificateAuthorityArn,
      }),
    );
    const sfn = new SFNClient(config);
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({
        name: 'export-install-renewal-test',
        roleArn: `arn:aws:iam::${MOTO_ACCOUNT}:role/export-install`,
        definition: JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Succeed' } } }),
      }),
    );
    const tableName = await dynamo.createInventoryTable();
    for (const value of ['dev', 'prod', 'Web Server']) {
      await recordExport(
        dynamo.db,
        tableName,
        { CertificateArn: CertificateArn!, CertName: 'renew', TargetTagKey: 'env', TargetTagValue: value },
        {
          expiresAt: '2026-12-01T00:00:00.000Z',
          exportedAt: '2025-12-01T00:00:00.000Z',
          secretId: 'acm-passphrase/renew/0123456789abcdef',
          serial: '01',
          executionArn: `arn:aws:states:${MOTO_REGION}:${MOTO_ACCOUNT}:execution:x:first`,
          installStatus: 'Success',
        },
      );
    }
    const event = aboutCertificate(
      fixtureEvent<{ resources: string[] }>('acm-certificate-available-renewal-private'),
      CertificateArn!,
    );
    const deps = {
      acm: new ACMClient(config),
      sfn,
      db: dynamo.db,
      tableName,
      stateMachineArn: stateMachineArn!,
    };

    const first = await startRenewal(event, deps);
    const second = await startRenewal(event, deps);

    expect(first.started).toHaveLength(3);
    // While the first executions still run, Step Functions answers the same name and input with the
    // original execution (its idempotency); once they are closed, with ExecutionAlreadyExists. Either
    // way nothing new starts.
    expect([...second.started, ...second.alreadyStarted].sort()).toEqual([...first.started].sort());
    const { executions } = await sfn.send(new ListExecutionsCommand({ stateMachineArn }));
    expect(executions!.map((execution) => execution.name).sort()).toEqual([...first.started].sort());
  });
});
