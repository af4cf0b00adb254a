/**
 * The workflow's handlers against a local AWS API server (moto_server), with real SDK clients: the
 * requests must be ones the AWS API models accept, and what they write must read back as expected.
 *
 * moto does not implement SSM ListCommandInvocations (it answers 500), so per-instance results stay on
 * aws-sdk-client-mock (test/lambda/install-finished.test.ts); the ListCommands call that judges a command
 * runs here. moto implements no State Manager association either: those calls, and Step Functions'
 * SendTaskSuccess, go to aws-sdk-client-mock with the shapes the API references document.
 */
import { ACMClient, RequestCertificateCommand } from '@aws-sdk/client-acm';
import { ACMPCAClient, GetCertificateCommand, IssueCertificateCommand } from '@aws-sdk/client-acm-pca';
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import {
  CreateAssociationCommand,
  CreateDocumentCommand,
  ListAssociationsCommand,
  ListCommandsCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCertificate } from '../../lambda/export-certificate/export-certificate.js';
import { recordAndInstall } from '../../lambda/record-and-install/record-and-install.js';
import { parseCertificateBundle } from '../../lambda/shared/certificate-secret.js';
import type { ExportRequest } from '../../lambda/shared/export-request.js';
import { DEFAULT_HOST_INSTALL } from '../../lambda/shared/install-parameters.js';
import type { RecordAndInstallDependencies } from '../../lambda/record-and-install/record-and-install.js';
import { mappingsForCertificate } from '../../lambda/shared/mapping-store.js';
import { commandDocumentContent } from '../../lib/command-document.js';
import { makeCertificate } from '../helpers/certificates.js';
import { type LocalDynamo, dynamoAt } from '../helpers/dynalite.js';
import { type PublishedAlert, startWorkflowHarness } from '../helpers/workflow-harness.js';
import { REQUEST } from '../helpers/fixtures.js';
import {
  MOTO_ACCOUNT,
  MOTO_REGION,
  createTestCertificateAuthority,
  motoClientConfig,
  motoState,
} from './moto.js';

const KMS_KEY = `arn:aws:kms:${MOTO_REGION}:${MOTO_ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;

let config: ReturnType<typeof motoClientConfig>;
let dynamo: LocalDynamo;
let certificateAuthorityArn: string;
beforeAll(async () => {
  config = motoClientConfig();
  dynamo = dynamoAt(config.endpoint);
  certificateAuthorityArn = await createTestCertificateAuthority('Integration Test Root');
});
afterAll(async () => dynamo.stop());

async function privateCertificateRequest(certName: string, tagValue: string): Promise<ExportRequest> {
  const requested = await new ACMClient(config).send(
    new RequestCertificateCommand({
      DomainName: `${certName}.example.com`,
      CertificateAuthorityArn: certificateAuthorityArn,
    }),
  );
  return {
    CertificateArn: requested.CertificateArn!,
    CertName: certName,
    TargetTagKey: 'env',
    TargetTagValue: tagValue,
  };
}

let claimsTable: string | undefined;
let executions = 0;
/** A new execution of the workflow, as Step Functions names them. */
const nextRun = () => ({
  executionArn: `arn:aws:states:${MOTO_REGION}:${MOTO_ACCOUNT}:execution:ExportInstall:it-${(executions += 1)}`,
});
const exportDeps = async () => ({
  acm: new ACMClient(config),
  secrets: new SecretsManagerClient(config),
  claims: { db: dynamo.db, tableName: (claimsTable ??= await dynamo.createExportClaimsTable()) },
  recordStarted: async () => undefined,
  kmsKeyId: KMS_KEY,
  region: MOTO_REGION,
  accountId: MOTO_ACCOUNT,
  partition: 'aws',
  grantedTagKeys: ['env'],
  profiles: { default: DEFAULT_HOST_INSTALL },
  now: () => new Date(),
});

describe('Private CA', () => {
  it('issues a certificate for a CSR, signed by the CA', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'csr-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-new',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          path.join(dir, 'key.pem'),
          '-out',
          path.join(dir, 'csr.pem'),
          '-subj',
          '/CN=direct.example.com',
        ],
        { stdio: 'pipe' },
      );
      const pca = new ACMPCAClient(config);
      const issued = await pca.send(
        new IssueCertificateCommand({
          CertificateAuthorityArn: certificateAuthorityArn,
          Csr: readFileSync(path.join(dir, 'csr.pem')),
          SigningAlgorithm: 'SHA256WITHECDSA',
          Validity: { Type: 'DAYS', Value: 30 },
        }),
      );
      const fetched = await pca.send(
        new GetCertificateCommand({
          CertificateAuthorityArn: certificateAuthorityArn,
          CertificateArn: issued.CertificateArn,
        }),
      );
      const certificate = new X509Certificate(fetched.Certificate!);
      expect(certificate.subject).toContain('CN=direct.example.com');
      expect(certificate.issuer).toContain('Integration Test Root');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ExportCertificate step', () => {
  it('exports a private certificate into a tagged secret under acm-passphrase/ that a host can decrypt', async () => {
    const request = await privateCertificateRequest('api', 'dev');
    const exported = await exportCertificate(request, await exportDeps(), nextRun());

    const secrets = new SecretsManagerClient(config);
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: exported.secretId }));
    expect(described.Name).toMatch(/^acm-passphrase\/api\/[0-9a-f]{16}$/);
    expect(described.Tags).toEqual([{ Key: 'env', Value: 'dev' }]);
    expect(described.KmsKeyId).toBe(KMS_KEY);

    const value = await secrets.send(new GetSecretValueCommand({ SecretId: exported.secretId }));
    const bundle = parseCertificateBundle(value.SecretString!);
    const key = createPrivateKey({
      key: bundle.encryptedPrivateKey,
      format: 'pem',
      passphrase: bundle.passphrase,
    });
    const certificate = new X509Certificate(bundle.certificate);
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(
      certificate.publicKey.export({ type: 'spki', format: 'pem' }),
    );
    expect(exported.notAfter).toBe(new Date(certificate.validTo).toISOString());
  });

  it('adds a version to the same secret on the next export', async () => {
    const request = await privateCertificateRequest('api2', 'dev');
    const first = await exportCertificate(request, await exportDeps(), nextRun());
    const second = await exportCertificate(request, await exportDeps(), nextRun());
    expect(second.secretId).toBe(first.secretId);
    expect(second.secretVersionId).not.toBe(first.secretVersionId);
  });

  it('refuses a public certificate that is still pending validation', async () => {
    const requested = await new ACMClient(config).send(
      new RequestCertificateCommand({ DomainName: 'public.example.com', Options: { Export: 'ENABLED' } }),
    );
    await expect(
      exportCertificate(
        { ...REQUEST, CertificateArn: requested.CertificateArn! },
        await exportDeps(),
        nextRun(),
      ),
    ).rejects.toThrow(
      expect.objectContaining({
        name: 'CertificateNotIssuedError',
        message: expect.stringMatching(/PENDING_VALIDATION/),
      }),
    );
  });
});

describe('RecordAndInstall and CheckInstallStatus steps', () => {
  it('send the install document to every instance with the tag, and record the mapping, found again by certificate', async () => {
    const ec2 = new EC2Client(config);
    const launched = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12345678',
        MinCount: 2,
        MaxCount: 2,
        InstanceType: 't3.micro',
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'env', Value: 'staging' }] }],
      }),
    );
    const ssm = new SSMClient(config);
    await ssm.send(
      new CreateDocumentCommand({
        Name: 'Install-ACMCertificate',
        DocumentType: 'Command',
        DocumentFormat: 'JSON',
        Content: JSON.stringify(commandDocumentContent('install-acm-certificate')),
      }),
    );
    const tableName = await dynamo.createInventoryTable();
    const request = await privateCertificateRequest('web', 'staging');
    const exported = await exportCertificate(request, await exportDeps(), nextRun());

    const command = await recordAndInstall(
      {
        ...request,
        export: exported,
        executionArn: `arn:aws:states:${MOTO_REGION}:${MOTO_ACCOUNT}:execution:x:y`,
        taskToken: 'token-y',
      },
      await installDeps(ssm, tableName, {
        documentName: 'Install-ACMCertificate',
        maxConcurrency: '25%',
        maxErrors: '0',
        deliveryTimeoutSeconds: 600,
        region: MOTO_REGION,
        profiles: { default: DEFAULT_HOST_INSTALL },
      }),
    );

    const listed = (await ssm.send(new ListCommandsCommand({ CommandId: command.commandId }))).Commands![0]!;
    expect(listed.TargetCount).toBe(2);
    expect([...listed.InstanceIds!].sort()).toEqual(
      launched.Instances!.map((instance) => instance.InstanceId).sort(),
    );
    expect(listed.Parameters).toMatchObject({ Certificates: [exported.secretId] });

    const mappings = await mappingsForCertificate(dynamo.db, tableName, request.CertificateArn);
    expect(mappings).toEqual([
      expect.objectContaining({
        TagKeyValue: 'env=staging',
        LastCommandId: command.commandId,
        Serial: exported.serial,
      }),
    ]);
  });

  it('report a command that matched no instance as failed, naming the tag', async () => {
    const ssm = new SSMClient(config);
    const tableName = await dynamo.createInventoryTable();
    const request = await privateCertificateRequest('lonely', 'nowhere');
    const exported = await exportCertificate(request, await exportDeps(), nextRun());
    const deps = await installDeps(ssm, tableName, {
      documentName: 'Install-ACMCertificate',
      maxConcurrency: '1',
      maxErrors: '0',
      deliveryTimeoutSeconds: 600,
      region: MOTO_REGION,
      profiles: { default: DEFAULT_HOST_INSTALL },
    });
    await recordAndInstall(
      {
        ...request,
        export: exported,
        executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:x:z',
        taskToken: 'token-z',
      },
      deps,
    );
    // The command ended at once (no node matched), so the step handed its outcome back itself.
    const [handedBack] = deps.sfnMock.commandCalls(SendTaskSuccessCommand);
    expect(handedBack!.args[0].input.taskToken).toBe('token-z');
    const report = JSON.parse(handedBack!.args[0].input.output!) as { outcome: string; reason: string };
    expect(report.outcome).toBe('Failed');
    expect(report.reason).toMatch(/^no managed instance has tag env=nowhere/);
    const [mapping] = await mappingsForCertificate(dynamo.db, tableName, request.CertificateArn);
    expect(mapping).toMatchObject({ LastInstallStatus: 'Failed' });
  });
});

function mockSfn(sfn: SFNClient) {
  const mock = mockClient(sfn);
  mock.on(SendTaskSuccessCommand).resolves({});
  return mock;
}

/** The step's dependencies: SSM commands and DynamoDB on moto, State Manager and Step Functions mocked. */
async function installDeps(
  ssm: SSMClient,
  tableName: string,
  command: RecordAndInstallDependencies['command'],
): Promise<RecordAndInstallDependencies & { sfnMock: ReturnType<typeof mockSfn> }> {
  const stateManager = new SSMClient(config);
  const associations = mockClient(stateManager);
  associations.on(ListAssociationsCommand).resolves({ Associations: [] });
  associations
    .on(CreateAssociationCommand)
    .resolves({ AssociationDescription: { AssociationId: 'assoc-1' } });
  const sfn = new SFNClient(config);
  const sfnMock = mockSfn(sfn);
  return {
    ssm,
    stateManager,
    sfn,
    sfnMock,
    db: dynamo.db,
    tableName,
    waits: { db: dynamo.db, tableName: await dynamo.createWaitsTable() },
    now: () => new Date(),
    maxWaitSeconds: 900,
    command,
    convergence: {
      schedule: 'rate(1 day)',
      maxConcurrency: '10%',
      maxErrors: '10%',
      complianceSeverity: 'HIGH',
      deploymentTag: { key: 'cert-lifecycle:deployment', value: 'CertLifecycle' },
    },
  };
}

describe('failure alerts', () => {
  it('are Publish requests SNS accepts, read back from the topic with their attributes', async () => {
    const sns = new SNSClient(config);
    const topic = await sns.send(new CreateTopicCommand({ Name: 'cert-lifecycle-alerts' }));
    const harness = await startWorkflowHarness({
      dynamo,
      publish: (alert: PublishedAlert) =>
        sns.send(new PublishCommand({ ...alert, TopicArn: topic.TopicArn })),
    });
    const run = await harness.run(REQUEST, {
      certificate: makeCertificate('rsa'),
      commandProgress: [{ status: 'Success', targetCount: 0 }],
    });
    await harness.stop();
    expect(run.status).toBe('FAILED');

    const topics = (await motoState()).sns!.Topic as { arn: string; sent_notifications: unknown[][] }[];
    const sent = topics.find((entry) => entry.arn === topic.TopicArn)!.sent_notifications;
    expect(sent).toHaveLength(1);
    const [, message, subject, attributes] = sent[0]!;
    expect(subject).toBe('Certificate export and install failed');
    expect(message).toContain('InstallFailed: no managed instance has tag env=dev');
    expect(attributes).toMatchObject({
      event_type: { Value: 'ExportInstallFailed' },
      severity: { Value: 'HIGH' },
    });
  });
});
