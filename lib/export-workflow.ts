import { Aws, Duration, Fn, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import { EXPORT_SECRET_PREFIX } from '../lambda/shared/certificate-export.js';
import { SECRET_PREFIX } from '../lambda/shared/certificate-secret.js';
import { CLAIM_KEY } from '../lambda/shared/export-claim.js';
import { INSTALL_PROFILES_ENV, type InstallProfiles } from '../lambda/shared/install-parameters.js';
import { WAIT_KEY } from '../lambda/shared/install-wait.js';
import { CERTIFICATE_INDEX } from '../lambda/shared/mapping-store.js';
import {
  CONVERGENCE_ENV,
  type ConvergenceSettings,
  DEPLOYMENT_TAG_KEY,
} from '../lambda/shared/target-association.js';
import { AlarmedDeadLetterQueue } from './alarmed-dead-letter-queue.js';
import type { AlertTopic } from './alert-topic.js';
import { HandlerFunction } from './handler-function.js';
import { grantTo, readHostRoleGrant } from './ssm-grants.js';
import { commandDocumentContent, dryRunDocumentContent } from './command-document.js';
import { AssociationSync } from './association-sync.js';
import { InstallDocument, appDocumentName } from './install-document.js';
import { stateMachineFile } from './paths.js';

export interface InstallSettings {
  readonly maxConcurrency: string;
  readonly maxErrors: string;
  readonly deliveryTimeoutSeconds: number;
  /** How long the workflow follows a command before reporting it as timed out. */
  readonly maxWaitSeconds: number;
  /** Where and how each kind of host installs the files, by profile name (`default` always there). */
  readonly profiles: InstallProfiles;
}

export interface ExportWorkflowProps {
  readonly inventory: dynamodb.ITable;
  readonly alerts: AlertTopic;
  /** The app key: encrypts the secrets and the alert topic. */
  readonly key: kms.IKey;
  readonly installDocument: { readonly documentName: string; readonly documentArn: string };
  /** The Windows document the install and remove documents run on Windows nodes. */
  readonly windowsDocumentName: string;
  readonly install: InstallSettings;
  /** The tag keys the hosts' access policy compares: exports to any other key are refused. */
  readonly grantedTagKeys: readonly string[];
  /** How each mapping's association keeps its nodes converged. */
  readonly convergence: Omit<ConvergenceSettings, 'deploymentTag'>;
  /** Days an unmapped mapping's secret can be restored before Secrets Manager deletes it. */
  readonly secretRecoveryWindowDays: number;
  /** The hosts' policy: a dry run tells a host whose role lacks it. */
  readonly instanceAccessPolicyArn: string;
  /** How often the registered waits are looked at, in case SSM's status-change event was lost. @default 5 minutes */
  readonly sweepInterval?: Duration;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The export-install state machine (`state-machines/export-install.asl.json`), its step functions and
 * the function that ends its wait for an install command, each allowed exactly what it does.
 */
export class ExportWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** The functions of the workflow, by step name. */
  /** Brings every target's association in line with the configuration at each deploy. */
  readonly associationSync: AssociationSync;
  readonly steps: Record<string, HandlerFunction>;
  /** Executions waiting for their install command, by command id. */
  readonly waits: dynamodb.Table;
  /** Who is exporting which certificate at which serial: one export per serial (export-claim.ts). */
  readonly exportClaims: dynamodb.Table;
  readonly deadLetters: AlarmedDeadLetterQueue;
  /** Behind `DELETE /export-cert`: removes a mapping, its association and (after a window) its secret. */
  readonly unmapper: HandlerFunction;
  private readonly installDocumentName: string;

  constructor(scope: Construct, id: string, props: ExportWorkflowProps) {
    super(scope, id);
    const [partition, region, account] = [Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID];
    const profilesJson = JSON.stringify(props.install.profiles);

    this.exportClaims = new dynamodb.Table(this, 'ExportClaims', {
      partitionKey: { name: CLAIM_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ExpiresAt',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Leases of a few minutes; nothing in them is worth keeping.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const exportStep = new HandlerFunction(this, 'ExportCertificate', {
      handlerName: 'export-certificate',
      description: 'Exports an ACM certificate with a new passphrase into its mapping secret',
      environment: {
        SECRET_KMS_KEY_ARN: props.key.keyArn,
        GRANTED_TAG_KEYS: props.grantedTagKeys.join(','),
        [INSTALL_PROFILES_ENV]: profilesJson,
        TABLE_NAME: props.inventory.tableName,
        EXPORT_CLAIMS_TABLE_NAME: this.exportClaims.tableName,
      },
      logRetention: props.logRetention,
    });
    // The mapping is created before its secret is first written, and records each export.
    exportStep.allow({ actions: ['dynamodb:UpdateItem'], resources: [props.inventory.tableArn] });
    exportStep.allowCertificateExport(
      props.key,
      this.exportClaims,
      'Any certificate of this account and Region may be named in a request; the step checks it is issued and exportable before exporting.',
    );
    exportStep.allow(
      {
        actions: [
          'secretsmanager:CreateSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:RestoreSecret',
          'secretsmanager:TagResource',
        ],
        resources: [`arn:${partition}:secretsmanager:${region}:${account}:secret:${SECRET_PREFIX}*`],
      },
      {
        [`Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${SECRET_PREFIX}*`]:
          'One secret per mapping, created on first export: the names are known only at run time, all under the app prefix.',
      },
    );

    this.waits = new dynamodb.Table(this, 'InstallWaits', {
      partitionKey: { name: WAIT_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ExpiresAt',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Waits live minutes; nothing in them outlives the executions that registered them.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // Named at synth (not by CloudFormation), so the functions that complete its tasks can be granted
    // on its ARN without a dependency cycle through the definition that names them.
    const stateMachineName = Names.uniqueResourceName(this, { maxLength: 80, separator: '-' });
    const stateMachineArn = `arn:${partition}:states:${region}:${account}:stateMachine:${stateMachineName}`;
    const deploymentTag = { key: DEPLOYMENT_TAG_KEY, value: Aws.STACK_NAME };
    const waitsEnvironment = {
      TABLE_NAME: props.inventory.tableName,
      WAITS_TABLE_NAME: this.waits.tableName,
    };

    // What the functions that keep targets' associations in step need to know to write them.
    const associationEnvironment = {
      INSTALL_DOCUMENT_NAME: props.installDocument.documentName,
      [INSTALL_PROFILES_ENV]: profilesJson,
      [CONVERGENCE_ENV.schedule]: props.convergence.schedule,
      [CONVERGENCE_ENV.maxConcurrency]: props.convergence.maxConcurrency,
      [CONVERGENCE_ENV.maxErrors]: props.convergence.maxErrors,
      [CONVERGENCE_ENV.complianceSeverity]: props.convergence.complianceSeverity,
      [CONVERGENCE_ENV.deploymentTagValue]: deploymentTag.value,
    };

    const installStep = new HandlerFunction(this, 'RecordAndInstall', {
      handlerName: 'record-and-install',
      description: "Keeps the target's association in step, sends the install command and waits for its end",
      environment: {
        ...waitsEnvironment,
        ...associationEnvironment,
        INSTALL_MAX_CONCURRENCY: props.install.maxConcurrency,
        INSTALL_MAX_ERRORS: props.install.maxErrors,
        INSTALL_DELIVERY_TIMEOUT_SECONDS: String(props.install.deliveryTimeoutSeconds),
        INSTALL_MAX_WAIT_SECONDS: String(props.install.maxWaitSeconds),
      },
      timeout: Duration.seconds(60),
      logRetention: props.logRetention,
    });
    installStep.allowSendCommand(
      props.installDocument.documentArn,
      'the install document',
      props.grantedTagKeys,
    );
    installStep.allowManageAssociations(props.installDocument.documentArn, deploymentTag);
    this.associationSync = new AssociationSync(this, 'Associations', {
      installDocument: props.installDocument,
      inventory: props.inventory,
      associationEnvironment,
      deploymentTag,
      documentDigest: createHash('sha256')
        .update(JSON.stringify(commandDocumentContent('install-acm-certificate')))
        .update(
          JSON.stringify(
            commandDocumentContent('install-acm-certificate-windows', 'install-acm-certificate'),
          ),
        )
        .digest('hex'),
      logRetention: props.logRetention,
    });
    installStep.allow({
      actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
      resources: [props.inventory.tableArn],
    });

    const finishedStep = new HandlerFunction(this, 'InstallFinished', {
      handlerName: 'install-finished',
      description: "Hands an ended install command's outcome to the execution waiting for it",
      environment: waitsEnvironment,
      timeout: Duration.minutes(2),
      logRetention: props.logRetention,
    });
    finishedStep.allow({ actions: ['dynamodb:Scan'], resources: [this.waits.tableArn] });
    // Where a host's output is cut, its own report of the certificate says how the install ended.
    finishedStep.allowReadHostReports();
    installStep.allowReadHostReports();

    for (const completer of [installStep, finishedStep]) {
      completer.allow(
        { actions: ['ssm:ListCommands', 'ssm:ListCommandInvocations'], resources: ['*'] },
        { 'Resource::*': 'ListCommands and ListCommandInvocations support no resource-level permissions.' },
      );
      completer.allow({ actions: ['dynamodb:UpdateItem'], resources: [props.inventory.tableArn] });
      completer.allow({ actions: ['states:SendTaskSuccess'], resources: [stateMachineArn] });
    }
    // The install step registers its wait and, when its command ended at once, completes it itself;
    // install-finished reads the waits it completes.
    installStep.allow({
      actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
      resources: [this.waits.tableArn],
    });
    finishedStep.allow({
      actions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'],
      resources: [this.waits.tableArn],
    });

    this.deadLetters = new AlarmedDeadLetterQueue(this, 'DeadLetters', {
      holds: 'install-command outcomes for waiting executions',
      alertTopic: props.alerts.topic,
    });
    new events.Rule(this, 'InstallCommandEnded', {
      description: 'An install command ended: hand its outcome to the execution waiting for it',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['EC2 Command Status-change Notification'],
        detail: {
          'document-name': [props.installDocument.documentName],
          status: ['Success', 'Failed', 'TimedOut', 'Cancelled'],
        },
      },
      targets: [
        finishedStep.eventTarget(this.deadLetters.queue, { attempts: 8, maxEventAge: Duration.hours(2) }),
      ],
    });
    new events.Rule(this, 'SweepWaits', {
      description: 'Look at every waiting install command, in case its status-change event was lost',
      schedule: events.Schedule.rate(props.sweepInterval ?? Duration.minutes(5)),
      targets: [finishedStep.eventTarget(this.deadLetters.queue, { attempts: 2 })],
    });

    const dryRunDocument = new InstallDocument(this, 'DryRunDocument', {
      documentName: appDocumentName(Stack.of(this).stackName, 'DryRun'),
      content: dryRunDocumentContent(),
    });
    const dryRunStep = new HandlerFunction(this, 'DryRun', {
      handlerName: 'dry-run',
      description:
        "Reports what an export would do: exportable or not, the instances the tag selects, and each host's own check",
      environment: {
        GRANTED_TAG_KEYS: props.grantedTagKeys.join(','),
        [INSTALL_PROFILES_ENV]: profilesJson,
        TABLE_NAME: props.inventory.tableName,
        DRY_RUN_DOCUMENT_NAME: dryRunDocument.documentName,
        INSTANCE_ACCESS_POLICY_ARN: props.instanceAccessPolicyArn,
      },
      timeout: Duration.seconds(60),
      logRetention: props.logRetention,
    });
    dryRunStep.allowDescribeCertificates(
      'Any certificate of this account and Region may be named in a request; a dry run only describes it.',
    );
    dryRunStep.allow(
      {
        actions: ['ssm:DescribeInstanceInformation', 'ssm:ListCommandInvocations'],
        resources: ['*'],
      },
      {
        'Resource::*':
          'DescribeInstanceInformation and ListCommandInvocations support no resource-level permissions.',
      },
    );
    // A mapping that exists is rehearsed on its hosts against its secret, which the hosts read themselves.
    dryRunStep.allow({ actions: ['dynamodb:GetItem'], resources: [props.inventory.tableArn] });
    dryRunStep.allowSendCommand(dryRunDocument.documentArn, "the dry run's document", props.grantedTagKeys);
    grantTo(dryRunStep.role, readHostRoleGrant());

    const removeDocument = new InstallDocument(this, 'RemoveDocument', {
      documentName: appDocumentName(Stack.of(this).stackName, 'Remove'),
      sourceFile: 'remove-acm-certificate',
      scriptFile: 'install-acm-certificate',
      windowsDocumentName: props.windowsDocumentName,
    });
    this.unmapper = new HandlerFunction(this, 'Unmap', {
      handlerName: 'unmap',
      description:
        "Stops distributing a certificate to a tag: its place in the target's association, its secret and record",
      environment: {
        ...associationEnvironment,
        TABLE_NAME: props.inventory.tableName,
        REMOVE_DOCUMENT_NAME: removeDocument.documentName,
        SECRET_RECOVERY_WINDOW_DAYS: String(props.secretRecoveryWindowDays),
        INSTALL_MAX_CONCURRENCY: props.install.maxConcurrency,
        INSTALL_MAX_ERRORS: props.install.maxErrors,
        INSTALL_DELIVERY_TIMEOUT_SECONDS: String(props.install.deliveryTimeoutSeconds),
      },
      logRetention: props.logRetention,
    });
    this.unmapper.allowSendCommand(removeDocument.documentArn, 'the Remove document', props.grantedTagKeys);
    this.unmapper.allowManageAssociations(props.installDocument.documentArn, deploymentTag);
    this.unmapper.allow({
      actions: ['dynamodb:GetItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
      resources: [props.inventory.tableArn],
    });
    // Whether the certificate has mappings left (its export goes with the last).
    this.unmapper.allow({
      actions: ['dynamodb:Query'],
      resources: [`${props.inventory.tableArn}/index/${CERTIFICATE_INDEX}`],
    });
    this.unmapper.allow(
      {
        actions: ['secretsmanager:DeleteSecret'],
        resources: [
          `arn:${partition}:secretsmanager:${region}:${account}:secret:${SECRET_PREFIX}*`,
          `arn:${partition}:secretsmanager:${region}:${account}:secret:${EXPORT_SECRET_PREFIX}*`,
        ],
      },
      {
        [`Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${SECRET_PREFIX}*`]:
          "The mapping's secret is named at run time, under the app prefix; deletion keeps the configured recovery window.",
        [`Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${EXPORT_SECRET_PREFIX}*`]:
          "The certificate's export secret, named at run time, goes with its last mapping, with the same recovery window.",
      },
    );

    this.steps = {
      ExportCertificate: exportStep,
      RecordAndInstall: installStep,
      InstallFinished: finishedStep,
      DryRun: dryRunStep,
    };
    // Under /aws/vendedlogs/ (no CloudWatch Logs resource policy needed), and with the first part of the
    // stack's id, new at each creation: the group is kept when the stack is deleted, and a stack of the
    // same name deployed again must not find its name taken.
    const stackIdPart = Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))));
    const logGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `/aws/vendedlogs/states/${Aws.STACK_NAME}-export-install-${stackIdPart}`,
      retention: props.logRetention,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(stateMachineFile('export-install')),
      definitionSubstitutions: {
        ExportCertificateFunctionArn: exportStep.arn,
        RecordAndInstallFunctionArn: installStep.arn,
        DryRunFunctionArn: dryRunStep.arn,
        AlertTopicArn: props.alerts.topic.topicArn,
        InventoryTableName: props.inventory.tableName,
        Partition: partition,
      },
      // Every event is logged, without state data: the history stays the only place that holds it.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // A definition read from a file does not tell CDK what it calls, so the grants are explicit.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [props.inventory.tableArn] }),
    );
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [exportStep.arn, installStep.arn, dryRunStep.arn],
      }),
    );
    props.alerts.grantPublish(this.stateMachine);
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Vended log delivery (logs:CreateLogDelivery and related) and X-Ray trace writes support no resource-level permissions.',
    });
    this.installDocumentName = props.installDocument.documentName;
  }

  /**
   * Where a request's TargetAccount and TargetRegion may point (the export and the dry run check it
   * before anything else). With an organization and no account listed, any account of it; without an
   * organization, nowhere but here. The export gives a member mapping's secret a resource policy.
   */
  allowTargetLocations(locations: {
    readonly accounts: readonly string[];
    readonly regions: readonly string[];
    readonly organizationId: string;
  }): void {
    const accounts =
      locations.organizationId && locations.accounts.length === 0 ? '*' : locations.accounts.join(',');
    for (const step of [this.steps.ExportCertificate!, this.steps.DryRun!]) {
      step.function.addEnvironment('TARGET_ACCOUNTS', locations.organizationId ? accounts : '');
      step.function.addEnvironment('TARGET_REGIONS', locations.regions.join(','));
      step.function.addEnvironment('ORGANIZATION_ID', locations.organizationId);
      step.function.addEnvironment('INSTALL_DOCUMENT_NAME', this.installDocumentName);
    }
    if (!locations.organizationId) return;
    this.steps.ExportCertificate!.allow(
      {
        actions: ['secretsmanager:PutResourcePolicy'],
        resources: [
          `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${SECRET_PREFIX}*`,
        ],
        // Only with Secrets Manager's check that the policy lets no one outside the account in publicly.
        conditions: { Bool: { 'secretsmanager:BlockPublicPolicy': 'true' } },
      },
      {
        [`Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${SECRET_PREFIX}*`]:
          "A member mapping's secret, named at run time, is shared with the mapping's account only.",
      },
    );
  }
}
