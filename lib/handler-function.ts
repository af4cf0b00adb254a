import { Aws, Duration, Validations } from 'aws-cdk-lib';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import * as path from 'node:path';
import { EXPORT_SECRET_PREFIX } from '../lambda/shared/certificate-export.js';
import { keyUseThrough } from './key-use.js';
import { PROJECT_ROOT, handlerEntry } from './paths.js';
import { grantTo, manageAssociationGrants, sendCommandGrants } from './ssm-grants.js';

export interface HandlerFunctionProps {
  /** Folder under `lambda/` that holds the handler's `handler.ts`. */
  readonly handlerName: string;
  readonly description: string;
  readonly environment?: Record<string, string>;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  readonly logRetention: logs.RetentionDays;
}

/**
 * How every handler is bundled. The SDK is bundled on purpose: the deployed client is the version the
 * tests ran against, not whatever the runtime ships that month; `npm run bench` prints the size and
 * import time this costs.
 */
export const HANDLER_BUNDLING: BundlingOptions & { target: string; mainFields: string[]; banner: string } = {
  format: OutputFormat.ESM,
  target: 'node22',
  minify: true,
  sourceMap: false,
  mainFields: ['module', 'main'],
  externalModules: [],
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  forceDockerBundling: false,
};

/**
 * Every Lambda of the app is declared through this one construct, so they all get the same runtime,
 * bundling and logging: Node.js 22 on arm64, ESM bundled by the local esbuild (no Docker), its own log
 * group with a retention, and its own role that may write to that log group only (no managed policy).
 */
export class HandlerFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  /** Where the events this function keeps failing on go (one queue per function). */
  private asyncFailuresTo?: sqs.IQueue;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${props.handlerName} handler`,
    });
    logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: handlerEntry(props.handlerName),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: { POWERTOOLS_SERVICE_NAME: 'cert-lifecycle', ...props.environment },
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      bundling: HANDLER_BUNDLING,
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the handlers are built, bundled and tested for; a newer runtime is adopted deliberately, with the test suite run on it.',
    });
  }

  /** Grants an action on resources, with the reason a wildcard in them is needed recorded for cdk-nag. */
  allow(statement: iam.PolicyStatementProps, wildcardReasons: Record<string, string> = {}): void {
    grantTo(this.role, { statement, wildcardReasons });
  }

  /** DescribeCertificate on any certificate of the account and Region, with why it needs any. */
  allowDescribeCertificates(reason: string, extraActions: string[] = []): void {
    this.allow(
      {
        actions: ['acm:DescribeCertificate', ...extraActions],
        resources: [`arn:${Aws.PARTITION}:acm:${Aws.REGION}:${Aws.ACCOUNT_ID}:certificate/*`],
      },
      { 'Resource::arn:<AWS::Partition>:acm:<AWS::Region>:<AWS::AccountId>:certificate/*': reason },
    );
  }

  /**
   * Making a certificate's one export per serial (lambda/shared/certificate-export.ts): describing and
   * exporting it, its passphrase, the claim on the export, and the certificate's export secret.
   */
  allowCertificateExport(key: kms.IKey, claims: dynamodb.ITable, reason: string): void {
    this.allowDescribeCertificates(reason, ['acm:ExportCertificate']);
    this.allow(
      { actions: ['secretsmanager:GetRandomPassword'], resources: ['*'] },
      { 'Resource::*': 'GetRandomPassword acts on no resource, so IAM cannot scope it.' },
    );
    this.allow({ actions: ['dynamodb:PutItem'], resources: [claims.tableArn] });
    this.allow(
      {
        actions: [
          'secretsmanager:CreateSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:RestoreSecret',
        ],
        resources: [
          `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${EXPORT_SECRET_PREFIX}*`,
        ],
      },
      {
        [`Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${EXPORT_SECRET_PREFIX}*`]:
          'One export secret per certificate, created at its first export: named from the certificate at run time, under the export prefix no host is granted.',
      },
    );
    this.role.addToPrincipalPolicy(
      keyUseThrough('secretsmanager', key, ['kms:GenerateDataKey', 'kms:Decrypt']),
    );
  }

  /** Reading what the nodes recorded for each certificate: their Systems Manager compliance items. */
  allowReadHostReports(): void {
    this.allow(
      { actions: ['ssm:ListComplianceItems'], resources: ['*'] },
      {
        'Resource::*':
          "ListComplianceItems supports no resource-level permissions; it is read with this product's compliance types only.",
      },
    );
  }

  /** Importing findings into the account's default product in `region`, and reading them back if asked. */
  allowFindings(region: string, { read }: { read: boolean }): void {
    this.allow({
      actions: ['securityhub:BatchImportFindings'],
      resources: [
        `arn:${Aws.PARTITION}:securityhub:${region}:${Aws.ACCOUNT_ID}:product/${Aws.ACCOUNT_ID}/default`,
      ],
    });
    if (read) {
      this.allow({
        actions: ['securityhub:GetFindings'],
        resources: [`arn:${Aws.PARTITION}:securityhub:${region}:${Aws.ACCOUNT_ID}:hub/default`],
      });
    }
  }

  /** SendCommand with one document only, to nodes carrying one of `tagKeys` (`sendCommandGrants`). */
  allowSendCommand(documentArn: string, documentDescription: string, tagKeys: readonly string[]): void {
    for (const grant of sendCommandGrants([documentArn], documentDescription, tagKeys))
      grantTo(this.role, grant);
  }

  /** This deployment's State Manager associations, with one document only (`manageAssociationGrants`). */
  allowManageAssociations(documentArn: string, deploymentTag: { key: string; value: string }): void {
    for (const grant of manageAssociationGrants(documentArn, deploymentTag)) grantTo(this.role, grant);
  }

  /**
   * Acting in the organization's member accounts: assuming the member stack's role there (named
   * `<stackName>-Central-<Region>`, in accounts of the organization only), which holds the SSM grants this
   * function holds at home. The function learns the names it builds the role's ARN from.
   */
  allowActInMemberAccounts(members: { readonly stackName: string; readonly organizationId: string }): void {
    this.allow(
      {
        actions: ['sts:AssumeRole'],
        resources: [`arn:${Aws.PARTITION}:iam::*:role/${members.stackName}-Central-*`],
        conditions: { StringEquals: { 'aws:ResourceOrgID': members.organizationId } },
      },
      {
        [`Resource::arn:<AWS::Partition>:iam::*:role/${members.stackName}-Central-*`]:
          "The member stack's role has one name in every account of the organization (aws:ResourceOrgID holds it to the organization); which account is the mapping's, known at run time.",
      },
    );
    this.function.addEnvironment('STACK_NAME', members.stackName);
    this.function.addEnvironment('PARTITION', Aws.PARTITION);
  }

  /**
   * Events this function is invoked with asynchronously (EventBridge targets) and keeps failing on, after
   * Lambda's own two retries, go to `queue`. EventBridge's retry policy covers delivery only.
   */
  deadLetterTo(queue: sqs.IQueue): void {
    if (this.asyncFailuresTo === queue) return;
    if (this.asyncFailuresTo) throw new Error(`${this.node.path} already sends its failed events elsewhere`);
    this.asyncFailuresTo = queue;
    this.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new destinations.SqsDestination(queue),
    });
  }

  /**
   * This function as an EventBridge target: delivery is retried as given and what cannot be delivered
   * goes to `queue`, as do the events the function itself keeps failing on (see `deadLetterTo`).
   */
  eventTarget(
    queue: sqs.IQueue,
    retry: { attempts: number; maxEventAge?: Duration },
  ): targets.LambdaFunction {
    this.deadLetterTo(queue);
    return new targets.LambdaFunction(this.function, {
      deadLetterQueue: queue,
      retryAttempts: retry.attempts,
      ...(retry.maxEventAge ? { maxEventAge: retry.maxEventAge } : {}),
    });
  }

  get arn(): string {
    return this.function.functionArn;
  }
}
