import { Aws, Duration, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { SECRET_PREFIX } from '../lambda/shared/certificate-secret.js';
import type { HostInstallSettings } from '../lambda/shared/install-parameters.js';
import { maxPollAttempts } from '../lambda/shared/poll-schedule.js';
import type { AlertTopic } from './alert-topic.js';
import { HandlerFunction } from './handler-function.js';
import { keyUseThrough } from './key-use.js';
import { stateMachineFile } from './paths.js';

export interface InstallSettings {
  readonly maxConcurrency: string;
  readonly maxErrors: string;
  readonly deliveryTimeoutSeconds: number;
  /** How long the workflow follows a command before reporting it as timed out. */
  readonly maxWaitSeconds: number;
  /** Where and how the hosts install the files. */
  readonly host: HostInstallSettings;
}

export interface ExportWorkflowProps {
  readonly inventory: dynamodb.ITable;
  readonly alerts: AlertTopic;
  /** The app key: encrypts the secrets and the alert topic. */
  readonly key: kms.IKey;
  readonly installDocument: { readonly documentName: string; readonly documentArn: string };
  readonly install: InstallSettings;
  /** The tag keys the hosts' access policy compares: exports to any other key are refused. */
  readonly grantedTagKeys: readonly string[];
  readonly logRetention: logs.RetentionDays;
}

/**
 * The export-install state machine (`state-machines/export-install.asl.json`) and its three step
 * functions, each allowed exactly what its step does.
 */
export class ExportWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** The three step functions, by step name. */
  readonly steps: Record<string, HandlerFunction>;

  constructor(scope: Construct, id: string, props: ExportWorkflowProps) {
    super(scope, id);
    const [partition, region, account] = [Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID];

    const exportStep = new HandlerFunction(this, 'ExportCertificate', {
      handlerName: 'export-certificate',
      description: 'Exports an ACM certificate with a new passphrase into its mapping secret',
      environment: { SECRET_KMS_KEY_ARN: props.key.keyArn, GRANTED_TAG_KEYS: props.grantedTagKeys.join(',') },
      logRetention: props.logRetention,
    });
    exportStep.allowDescribeCertificates(
      'Any certificate of this account and Region may be named in a request; the step checks it is issued and exportable before exporting.',
      ['acm:ExportCertificate'],
    );
    exportStep.allow(
      { actions: ['secretsmanager:GetRandomPassword'], resources: ['*'] },
      { 'Resource::*': 'GetRandomPassword acts on no resource, so IAM cannot scope it.' },
    );
    exportStep.allow(
      {
        actions: [
          'secretsmanager:CreateSecret',
          'secretsmanager:PutSecretValue',
          'secretsmanager:TagResource',
        ],
        resources: [`arn:${partition}:secretsmanager:${region}:${account}:secret:${SECRET_PREFIX}*`],
      },
      {
        [`Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${SECRET_PREFIX}*`]:
          'One secret per mapping, created on first export: the names are known only at run time, all under the app prefix.',
      },
    );
    exportStep.role.addToPrincipalPolicy(
      keyUseThrough('secretsmanager', props.key, ['kms:GenerateDataKey', 'kms:Decrypt']),
    );

    const installStep = new HandlerFunction(this, 'RecordAndInstall', {
      handlerName: 'record-and-install',
      description: 'Sends the install document to the tagged instances and records the mapping',
      environment: {
        TABLE_NAME: props.inventory.tableName,
        INSTALL_DOCUMENT_NAME: props.installDocument.documentName,
        INSTALL_MAX_CONCURRENCY: props.install.maxConcurrency,
        INSTALL_MAX_ERRORS: props.install.maxErrors,
        INSTALL_DELIVERY_TIMEOUT_SECONDS: String(props.install.deliveryTimeoutSeconds),
        INSTALL_CERT_DIRECTORY: props.install.host.certDirectory,
        INSTALL_KEY_DIRECTORY: props.install.host.keyDirectory,
        INSTALL_FILE_OWNER: props.install.host.fileOwner,
        INSTALL_FILE_GROUP: props.install.host.fileGroup,
        INSTALL_RELOAD_COMMAND: props.install.host.reloadCommand,
      },
      logRetention: props.logRetention,
    });
    installStep.allowSendCommand(
      props.installDocument.documentArn,
      'the install document',
      props.grantedTagKeys,
    );
    installStep.allow({ actions: ['dynamodb:UpdateItem'], resources: [props.inventory.tableArn] });

    const statusStep = new HandlerFunction(this, 'CheckInstallStatus', {
      handlerName: 'check-install-status',
      description: 'Reads an install command and its invocations and records the outcome',
      environment: {
        TABLE_NAME: props.inventory.tableName,
        MAX_POLL_ATTEMPTS: String(maxPollAttempts(props.install.maxWaitSeconds)),
      },
      timeout: Duration.seconds(60),
      logRetention: props.logRetention,
    });
    statusStep.allow(
      { actions: ['ssm:ListCommands', 'ssm:ListCommandInvocations'], resources: ['*'] },
      { 'Resource::*': 'ListCommands and ListCommandInvocations support no resource-level permissions.' },
    );
    statusStep.allow({ actions: ['dynamodb:UpdateItem'], resources: [props.inventory.tableArn] });

    const dryRunStep = new HandlerFunction(this, 'DryRun', {
      handlerName: 'dry-run',
      description: 'Reports what an export would do: exportable or not, and the instances the tag selects',
      environment: { GRANTED_TAG_KEYS: props.grantedTagKeys.join(',') },
      logRetention: props.logRetention,
    });
    dryRunStep.allowDescribeCertificates(
      'Any certificate of this account and Region may be named in a request; a dry run only describes it.',
    );
    dryRunStep.allow(
      { actions: ['ssm:DescribeInstanceInformation'], resources: ['*'] },
      { 'Resource::*': 'DescribeInstanceInformation supports no resource-level permissions.' },
    );

    this.steps = {
      ExportCertificate: exportStep,
      RecordAndInstall: installStep,
      CheckInstallStatus: statusStep,
      DryRun: dryRunStep,
    };
    const logGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `/aws/vendedlogs/states/${Aws.STACK_NAME}-export-install`,
      retention: props.logRetention,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(stateMachineFile('export-install')),
      definitionSubstitutions: {
        ExportCertificateFunctionArn: exportStep.arn,
        RecordAndInstallFunctionArn: installStep.arn,
        CheckInstallStatusFunctionArn: statusStep.arn,
        DryRunFunctionArn: dryRunStep.arn,
        AlertTopicArn: props.alerts.topic.topicArn,
        Partition: partition,
      },
      // Every event is logged, without state data: the history stays the only place that holds it.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // A definition read from a file does not tell CDK what it calls, so the grants are explicit.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [exportStep.arn, installStep.arn, statusStep.arn, dryRunStep.arn],
      }),
    );
    props.alerts.grantPublish(this.stateMachine);
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Vended log delivery (logs:CreateLogDelivery and related) and X-Ray trace writes support no resource-level permissions.',
    });
  }
}
