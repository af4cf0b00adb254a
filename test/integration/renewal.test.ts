/**
 * The renewal fan-out against moto_server: the inventory in moto's DynamoDB, the certificate in its ACM,
 * the renewal queue in its SQS, executions started in its Step Functions. Proves the messages are ones
 * SQS takes back intact, the execution names and inputs are ones Step Functions accepts, and that a
 * second delivery of the same renewal starts nothing.
 */
import { ACMClient, RequestCertificateCommand } from '@aws-sdk/client-acm';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateStateMachineCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { startQueuedRenewals } from '../../lambda/renewal-executions/renewal-executions.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateExportSecretName, exportVersionId } from '../../lambda/shared/certificate-export.js';
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
    const sqs = new SQSClient(config);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'renewal-test' }));
    const secrets = new SecretsManagerClient(config);
    const deps = {
      acm: new ACMClient(config),
      secrets,
      sqs,
      db: dynamo.db,
      claims: { db: dynamo.db, tableName: await dynamo.createExportClaimsTable() },
      kmsKeyId: `arn:aws:kms:${MOTO_REGION}:${MOTO_ACCOUNT}:key/11111111-2222-3333-4444-555555555555`,
      tableName,
      queueUrl: QueueUrl!,
      now: () => new Date(),
    };
    /** What the SQS event source does: receive, hand to the consumer, delete what it did not send back. */
    const consume = async () => {
      const outcomes = [];
      for (;;) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
        );
        if (Messages.length === 0) return outcomes;
        const outcome = await startQueuedRenewals(
          Messages.map((entry) => ({ messageId: entry.MessageId!, body: entry.Body! })),
          {
            sfn,
            stateMachineArn: stateMachineArn!,
            intervalMs: 0,
            now: () => 0,
            sleep: async () => undefined,
          },
        );
        outcomes.push(outcome);
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl,
            Entries: Messages.map((entry, index) => ({
              Id: String(index),
              ReceiptHandle: entry.ReceiptHandle!,
            })),
          }),
        );
      }
    };

    const first = await startRenewal(event, deps);
    const started = (await consume()).flatMap((outcome) => outcome.started);
    await startRenewal(event, deps);
    const again = await consume();

    expect(first.queued).toHaveLength(3);
    // The certificate was exported once, into its own secret, for all three mappings.
    expect(first.exportReady).toBe(true);
    const exportSecret = await secrets.send(
      new DescribeSecretCommand({ SecretId: certificateExportSecretName(CertificateArn!) }),
    );
    expect(Object.keys(exportSecret.VersionIdsToStages ?? {})).toEqual([
      exportVersionId(CertificateArn!, first.serial!),
    ]);
    expect(started.sort()).toEqual([...first.queued].sort());
    // While the first executions still run, Step Functions answers the same name and input with the
    // original execution (its idempotency); once they are closed, with ExecutionAlreadyExists. Either
    // way nothing new starts.
    expect(again.flatMap((outcome) => [...outcome.started, ...outcome.alreadyStarted]).sort()).toEqual(
      [...first.queued].sort(),
    );
    const { executions } = await sfn.send(new ListExecutionsCommand({ stateMachineArn }));
    expect(executions!.map((execution) => execution.name).sort()).toEqual([...first.queued].sort());
  });
});
