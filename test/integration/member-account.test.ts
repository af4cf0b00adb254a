/**
 * A mapping whose hosts are in a member account, against moto_server with real SDK clients: moto keeps
 * one backend per account and scopes the credentials STS AssumeRole hands out to the role's account, so
 * what the central side does through the member role lands in the member account and nowhere else.
 * moto checks neither a role's trust policy nor a secret's resource policy: who may assume and read is
 * proven by evaluating the synthesized policies (test/lib/member-stack.test.ts, cross-account-policies).
 * State Manager and Step Functions calls stay on aws-sdk-client-mock, as in export-install.test.ts.
 */
import { ACMClient, RequestCertificateCommand } from '@aws-sdk/client-acm';
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import {
  CreateAssociationCommand,
  CreateDocumentCommand,
  ListAssociationsCommand,
  ListCommandsCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCertificate } from '../../lambda/export-certificate/export-certificate.js';
import { recordAndInstall } from '../../lambda/record-and-install/record-and-install.js';
import type { ExportRequest, TargetLocation } from '../../lambda/shared/export-request.js';
import { DEFAULT_HOST_INSTALL } from '../../lambda/shared/install-parameters.js';
import { getMapping } from '../../lambda/shared/mapping-store.js';
import { targetReadPolicy } from '../../lambda/shared/secret-sharing.js';
import {
  assertReachable,
  memberRoleArn,
  ssmClientsAt,
  type SsmAt,
} from '../../lambda/shared/target-location.js';
import { commandDocumentContent } from '../../lib/command-document.js';
import { type LocalDynamo, dynamoAt } from '../helpers/dynalite.js';
import { MOTO_ACCOUNT, MOTO_REGION, createTestCertificateAuthority, motoClientConfig } from './moto.js';

const STACK = 'CertLifecycle';
const ORGANIZATION = 'o-a1b2c3d4e5';
const MEMBER: TargetLocation = { TargetAccount: '222222222222', TargetRegion: MOTO_REGION };
/** An account of the organization where the member stack was never deployed. */
const BARE: TargetLocation = { TargetAccount: '333333333333', TargetRegion: MOTO_REGION };
const INSTALL_DOCUMENT = `${STACK}-Install-ACMCertificate`;
const KMS_KEY = `arn:aws:kms:${MOTO_REGION}:${MOTO_ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;

let config: ReturnType<typeof motoClientConfig>;
let dynamo: LocalDynamo;
let ssmAt: SsmAt;
let memberCredentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
const saved = { STACK_NAME: process.env.STACK_NAME, PARTITION: process.env.PARTITION };

beforeAll(async () => {
  config = motoClientConfig();
  dynamo = dynamoAt(config.endpoint);
  process.env.STACK_NAME = STACK;
  process.env.PARTITION = 'aws';
  ssmAt = ssmClientsAt(new SSMClient(config), config, config);
  // What the member stack deploys in its account: the install document under the central name.
  const assumed = await new STSClient(config).send(
    new AssumeRoleCommand({ RoleArn: memberRoleArn(MEMBER, 'aws', STACK), RoleSessionName: 'member-setup' }),
  );
  memberCredentials = {
    accessKeyId: assumed.Credentials!.AccessKeyId!,
    secretAccessKey: assumed.Credentials!.SecretAccessKey!,
    sessionToken: assumed.Credentials!.SessionToken!,
  };
  await new SSMClient({ ...config, credentials: memberCredentials }).send(
    new CreateDocumentCommand({
      Name: INSTALL_DOCUMENT,
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      Content: JSON.stringify(commandDocumentContent('install-acm-certificate')),
    }),
  );
});
afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await dynamo.stop();
});

async function memberRequest(tagValue: string): Promise<ExportRequest> {
  const authority = await createTestCertificateAuthority(`Member Test Root ${tagValue}`);
  const requested = await new ACMClient(config).send(
    new RequestCertificateCommand({
      DomainName: `${tagValue}.example.com`,
      CertificateAuthorityArn: authority,
    }),
  );
  return {
    CertificateArn: requested.CertificateArn!,
    CertName: 'web',
    TargetTagKey: 'env',
    TargetTagValue: tagValue,
    ...MEMBER,
  };
}

let runs = 0;
const run = () => ({
  executionArn: `arn:aws:states:${MOTO_REGION}:${MOTO_ACCOUNT}:execution:ExportInstall:member-${(runs += 1)}`,
});

async function exportDeps() {
  return {
    acm: new ACMClient(config),
    secrets: new SecretsManagerClient(config),
    claims: { db: dynamo.db, tableName: await dynamo.createExportClaimsTable() },
    recordStarted: async () => undefined,
    kmsKeyId: KMS_KEY,
    region: MOTO_REGION,
    accountId: MOTO_ACCOUNT,
    partition: 'aws',
    grantedTagKeys: ['env'],
    profiles: { default: DEFAULT_HOST_INSTALL },
    locations: {
      home: { account: MOTO_ACCOUNT, region: MOTO_REGION },
      accounts: 'organization' as const,
      regions: [],
    },
    organizationId: ORGANIZATION,
    assertReachable: (location: TargetLocation) =>
      assertReachable(ssmAt(location), location, INSTALL_DOCUMENT),
    now: () => new Date(),
  };
}

describe('the central deployment acting in a member account', () => {
  it('finds the member stack where it is deployed, and says so where it is not', async () => {
    await expect(assertReachable(ssmAt(MEMBER), MEMBER, INSTALL_DOCUMENT)).resolves.toBeUndefined();
    await expect(assertReachable(ssmAt(BARE), BARE, INSTALL_DOCUMENT)).rejects.toThrow(
      expect.objectContaining({
        name: 'TargetNotReachableError',
        message: expect.stringMatching(/account 333333333333 in eu-west-1 has no document .*member stack/),
      }),
    );
  });

  it('exports into a central secret whose resource policy names the member account, its tag and the organization', async () => {
    const request = await memberRequest('member-dev');
    const exported = await exportCertificate(request, await exportDeps(), run());

    const secrets = new SecretsManagerClient(config);
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: exported.secretId }));
    expect(described.ARN).toContain(`:${MOTO_ACCOUNT}:secret:acm-passphrase/web/`);
    expect(described.Tags).toEqual([{ Key: 'env', Value: 'member-dev' }]);
    const policy = await secrets.send(new GetResourcePolicyCommand({ SecretId: exported.secretId }));
    expect(JSON.parse(policy.ResourcePolicy!)).toEqual(
      JSON.parse(targetReadPolicy(request, MEMBER, { partition: 'aws', organizationId: ORGANIZATION })),
    );
    expect(JSON.parse(policy.ResourcePolicy!).Statement[0].Principal).toEqual({
      AWS: 'arn:aws:iam::222222222222:root',
    });
  });

  it('refuses a member account without the member stack before exporting anything', async () => {
    const request = { ...(await memberRequest('bare-dev')), ...BARE };
    const deps = await exportDeps();
    await expect(exportCertificate(request, deps, run())).rejects.toThrow(
      expect.objectContaining({ name: 'TargetNotReachableError' }),
    );
    const secrets = new SecretsManagerClient(config);
    const { mappingSecretName } = await import('../../lambda/shared/certificate-secret.js');
    await expect(
      secrets.send(new DescribeSecretCommand({ SecretId: mappingSecretName(request) })),
    ).rejects.toThrow(expect.objectContaining({ name: 'ResourceNotFoundException' }));
  });

  it('sends the install command to the tagged instances of the member account only, and keys the mapping by account and Region', async () => {
    const memberEc2 = new EC2Client({ ...config, credentials: memberCredentials });
    const launched = await memberEc2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12345678',
        MinCount: 2,
        MaxCount: 2,
        InstanceType: 't3.micro',
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'env', Value: 'member-prod' }] }],
      }),
    );
    // The same tag in the central account: another target, which this mapping must not reach.
    await new EC2Client(config).send(
      new RunInstancesCommand({
        ImageId: 'ami-12345678',
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 't3.micro',
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'env', Value: 'member-prod' }] }],
      }),
    );
    const request = await memberRequest('member-prod');
    const exported = await exportCertificate(request, await exportDeps(), run());
    const tableName = await dynamo.createInventoryTable();

    const homeSsm = new SSMClient(config);
    const homeAssociations = mockClient(new SSMClient(config));
    const memberStateManager = new SSMClient(config);
    const memberAssociations = mockClient(memberStateManager);
    memberAssociations.on(ListAssociationsCommand).resolves({ Associations: [] });
    memberAssociations
      .on(CreateAssociationCommand)
      .resolves({ AssociationDescription: { AssociationId: 'member-assoc-1' } });
    const sfn = mockClient(new SFNClient(config));
    sfn.onAnyCommand().resolves({});

    const command = await recordAndInstall(
      {
        ...request,
        export: exported,
        executionArn: run().executionArn,
        taskToken: 'token-member',
      },
      {
        ssm: homeSsm,
        stateManager: homeAssociations as unknown as SSMClient,
        clientsAt: (location) => ({
          ssm: ssmAt(location),
          stateManager: memberStateManager,
          commandSender: ssmAt(location),
        }),
        sfn: new SFNClient(config),
        db: dynamo.db,
        tableName,
        waits: { db: dynamo.db, tableName: await dynamo.createWaitsTable() },
        now: () => new Date(),
        maxWaitSeconds: 900,
        command: {
          documentName: INSTALL_DOCUMENT,
          maxConcurrency: '25%',
          maxErrors: '0',
          deliveryTimeoutSeconds: 600,
          region: MOTO_REGION,
          profiles: { default: DEFAULT_HOST_INSTALL },
        },
        convergence: {
          schedule: 'rate(1 day)',
          maxConcurrency: '10%',
          maxErrors: '10%',
          complianceSeverity: 'HIGH',
          deploymentTag: { key: 'cert-lifecycle:deployment', value: STACK },
        },
      },
    );

    const inMember = await new SSMClient({ ...config, credentials: memberCredentials }).send(
      new ListCommandsCommand({ CommandId: command.commandId }),
    );
    const listed = inMember.Commands![0]!;
    expect(listed.DocumentName).toBe(INSTALL_DOCUMENT);
    expect(listed.TargetCount).toBe(2);
    expect([...listed.InstanceIds!].sort()).toEqual(
      launched.Instances!.map((instance) => instance.InstanceId).sort(),
    );
    // Hosts read the central secret in the central Region (the member documents add the account).
    expect(listed.Parameters).toMatchObject({ Certificates: [exported.secretId], Region: [MOTO_REGION] });
    await expect(homeSsm.send(new ListCommandsCommand({ CommandId: command.commandId }))).rejects.toThrow(
      expect.objectContaining({ name: 'InvalidCommandId' }),
    );

    // The association is the member account's (the mock lists none, so each sync creates one again);
    // nothing was asked of State Manager at home.
    const created = memberAssociations.commandCalls(CreateAssociationCommand);
    expect(created.length).toBeGreaterThan(0);
    for (const call of created) {
      expect(call.args[0].input).toMatchObject({
        Name: INSTALL_DOCUMENT,
        Targets: [{ Key: 'tag:env', Values: ['member-prod'] }],
        Parameters: expect.objectContaining({ Certificates: [exported.secretId], Region: [MOTO_REGION] }),
      });
    }
    expect(homeAssociations.calls()).toHaveLength(0);

    const mapping = await getMapping(dynamo.db, tableName, request);
    expect(mapping).toMatchObject({
      TagKeyValue: `222222222222/${MOTO_REGION}/env=member-prod`,
      TargetAccount: '222222222222',
      TargetRegion: MOTO_REGION,
      LastCommandId: command.commandId,
      AssociationId: 'member-assoc-1',
    });
    // The same tag here is another mapping: not this one.
    expect(
      await getMapping(dynamo.db, tableName, {
        CertificateArn: request.CertificateArn,
        CertName: request.CertName,
        TargetTagKey: request.TargetTagKey,
        TargetTagValue: request.TargetTagValue,
      }),
    ).toBeUndefined();
  });
});
