import { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type {
  InstallCommandSettings,
  RecordAndInstallDependencies,
  RecordAndInstallInput,
} from '../../lambda/record-and-install/record-and-install.js';
import type { ExportRequest } from '../../lambda/shared/export-request.js';
import { DEFAULT_HOST_INSTALL, type InstallProfiles } from '../../lambda/shared/install-parameters.js';
import type {
  ConvergenceSettings,
  TargetAssociationSettings,
} from '../../lambda/shared/target-association.js';

export const ACCOUNT_ID = '111122223333';
export const REGION = 'eu-west-1';
export const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:export-certificate`;
export const CERTIFICATE_ARN = `arn:aws:acm:${REGION}:${ACCOUNT_ID}:certificate/12345678-90ab-cdef-1234-567890abcdef`;
export const KMS_KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0`;
/** The instance access policy the stack makes, which the hosts' roles must have. */
export const INSTANCE_ACCESS_POLICY_ARN = `arn:aws:iam::${ACCOUNT_ID}:policy/CertLifecycle-InstanceAccessPolicy`;

export const REQUEST: ExportRequest = {
  CertificateArn: CERTIFICATE_ARN,
  CertName: 'web-server',
  TargetTagKey: 'env',
  TargetTagValue: 'dev',
};

/** A deployment's install profiles: the product defaults, and one other kind of host. */
export const PROFILES = {
  default: { ...DEFAULT_HOST_INSTALL, reloadCommand: 'systemctl reload nginx' },
  haproxy: {
    ...DEFAULT_HOST_INSTALL,
    certDirectory: '/etc/haproxy/certs',
    keyDirectory: '/etc/haproxy/private',
    fileOwner: 'root',
    fileGroup: 'haproxy',
    reloadCommand: 'systemctl reload haproxy',
    formats: 'combined',
    verifyEndpoint: '127.0.0.1:443',
  },
} as const satisfies InstallProfiles;

/** How the test deployment's associations run (the stack's defaults, its deployment tag). */
export const CONVERGENCE: ConvergenceSettings = {
  schedule: 'rate(1 day)',
  maxConcurrency: '10%',
  maxErrors: '10%',
  complianceSeverity: 'HIGH',
  deploymentTag: { key: 'cert-lifecycle:deployment', value: 'CertLifecycle' },
};

/** The export step's deployment settings in the test account (what its environment gives it). */
export const EXPORT_STEP_SETTINGS = {
  kmsKeyId: KMS_KEY_ARN,
  region: REGION,
  accountId: ACCOUNT_ID,
  partition: 'aws',
  grantedTagKeys: ['env'],
  profiles: PROFILES,
  recordStarted: async () => undefined,
};

/** Everything a target's association is written from, in the test deployment. */
export const TARGET_ASSOCIATIONS: TargetAssociationSettings = {
  ...CONVERGENCE,
  documentName: 'Install-ACMCertificate',
  region: REGION,
  profiles: PROFILES,
};

/** How the test deployment sends the install command. */
export const INSTALL_COMMAND: InstallCommandSettings = {
  documentName: 'Install-ACMCertificate',
  maxConcurrency: '25%',
  maxErrors: '0',
  deliveryTimeoutSeconds: 600,
  region: REGION,
  profiles: PROFILES,
};

/** The RecordAndInstall step's input after an export of REQUEST (names and metadata only). */
export const RECORD_AND_INSTALL_INPUT: RecordAndInstallInput = {
  ...REQUEST,
  export: {
    certificateArn: REQUEST.CertificateArn,
    certName: REQUEST.CertName,
    serial: '0a:1b:2c',
    notAfter: '2027-12-24T23:59:59.000Z',
    secretId: 'acm-passphrase/web-server/0123456789abcdef',
    secretVersionId: 'v1',
    exportedAt: '2026-11-24T10:00:00.000Z',
    profile: 'default',
  },
  executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1',
  taskToken: 'token-1',
};

/**
 * What the RecordAndInstall step is given in the tests: `ssm` for everything unless State Manager or the
 * command sender are given their own, the inventory and waits tables, a fixed clock.
 */
export function recordAndInstallDependencies(
  db: DynamoDBDocumentClient,
  tables: { readonly tableName: string; readonly waitsTable: string },
  clients: {
    readonly ssm: SSMClient;
    readonly stateManager?: SSMClient;
    readonly commandSender?: SSMClient;
    readonly sfn?: SFNClient;
  },
): RecordAndInstallDependencies {
  return {
    ssm: clients.ssm,
    stateManager: clients.stateManager ?? clients.ssm,
    ...(clients.commandSender ? { commandSender: clients.commandSender } : {}),
    sfn: clients.sfn ?? new SFNClient({ region: REGION }),
    db,
    tableName: tables.tableName,
    waits: { db, tableName: tables.waitsTable },
    now: () => new Date('2026-11-24T10:00:02Z'),
    maxWaitSeconds: 900,
    command: INSTALL_COMMAND,
    convergence: CONVERGENCE,
  };
}

/** DescribeStacks' answer for the deployed stack, with these outputs: what the CLI reads first. */
export function stackWithOutputs(outputs: Record<string, string>) {
  return {
    Stacks: [
      {
        StackName: 'CertLifecycle',
        CreationTime: new Date(),
        StackStatus: 'CREATE_COMPLETE' as const,
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  };
}

/** Values no document parameter may take: shell metacharacters, quotes, a newline, an overlong word. */
export const SHELL_HOSTILE = [
  'a;reboot',
  '$(id)',
  '`id`',
  'a\nb',
  'x'.repeat(300),
  "a'b",
  'a b"c',
  'a|b',
  'a&b',
  'a>b',
  '*',
];
