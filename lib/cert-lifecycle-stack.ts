import { CfnOutput, CfnResource, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { AlertTopic } from './alert-topic.js';
import { CertificateInventory } from './certificate-inventory.js';
import { type AppConfig, installProfilesOf, resolveConfig } from './config.js';
import { ExportApi } from './export-api.js';
import { ExportWorkflow } from './export-workflow.js';
import { AuditReportMonitor } from './audit-report-monitor.js';
import { ConvergenceMonitor } from './convergence-monitor.js';
import { DriftMonitor } from './drift-monitor.js';
import { ExpiryMonitor } from './expiry-monitor.js';
import { InstallDocument, appDocumentName } from './install-document.js';
import { centralKeyAlias, memberForwardRoleName } from './member-account.js';
import { InstanceCertificateAccess } from './instance-certificate-access.js';
import { OperationsMonitoring } from './operations-monitoring.js';
import { RenewalTrigger } from './renewal-trigger.js';

export interface CertLifecycleStackProps extends StackProps {
  /**
   * The deployment's settings, checked by the same rules as the app's context values; each left out
   * takes its default (`DEFAULT_CONFIG`). @default every default
   */
  readonly config?: Partial<AppConfig>;
}

/** The whole app in one stack: it only composes the constructs in `lib/`. */
export class CertLifecycleStack extends Stack {
  constructor(scope: Construct, id: string, props: CertLifecycleStackProps) {
    super(scope, id, props);
    const config = resolveConfig(props.config);
    const logRetention = config.logRetentionDays as logs.RetentionDays;
    const profiles = installProfilesOf(config);

    const key = new kms.Key(this, 'AppKey', {
      description: 'Encrypts the exported certificate secrets and the alert topic',
      enableKeyRotation: true,
    });
    // Hosts in member accounts name the key by its alias: its id is not known where they are.
    key.addAlias(centralKeyAlias(this.stackName));
    if (config.organizationId) {
      // A host of the organisation decrypts a certificate secret only through Secrets Manager, which lets
      // it read only what the secret's own policy and its role's tag allow.
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OrganisationHostsDecryptThroughSecretsManager',
          principals: [new iam.AnyPrincipal()],
          actions: ['kms:Decrypt'],
          resources: ['*'],
          conditions: {
            StringEquals: {
              'aws:PrincipalOrgID': config.organizationId,
              'kms:ViaService': `secretsmanager.${this.region}.amazonaws.com`,
            },
          },
        }),
      );
    }
    const alerts = new AlertTopic(this, 'Alerts', { key, emails: config.alertEmails });
    const inventory = new CertificateInventory(this, 'Inventory', {
      tableName: config.tableName || undefined,
    });
    // The Windows step of the install, check and remove documents: a document of its own, which the
    // others run on Windows nodes (one document cannot hold both scripts within SSM's 64 KB).
    const windowsDocument = new InstallDocument(this, 'WindowsDocument', {
      documentName: appDocumentName(this.stackName, 'Windows'),
      sourceFile: 'install-acm-certificate-windows',
      scriptFile: 'install-acm-certificate',
    });
    const installDocument = new InstallDocument(this, 'InstallDocument', {
      documentName: config.installDocumentName,
      windowsDocumentName: windowsDocument.documentName,
    });
    const instanceAccess = new InstanceCertificateAccess(this, 'InstanceAccess', {
      key,
      tagKeys: config.instanceTagKeys,
    });
    const workflow = new ExportWorkflow(this, 'ExportWorkflow', {
      inventory: inventory.table,
      alerts,
      key,
      installDocument,
      windowsDocumentName: windowsDocument.documentName,
      install: {
        maxConcurrency: config.installMaxConcurrency,
        maxErrors: config.installMaxErrors,
        deliveryTimeoutSeconds: config.installDeliveryTimeoutSeconds,
        maxWaitSeconds: config.installMaxWaitSeconds,
        profiles,
      },
      grantedTagKeys: config.instanceTagKeys,
      convergence: {
        schedule: config.convergenceSchedule,
        maxConcurrency: config.convergenceMaxConcurrency,
        maxErrors: config.convergenceMaxErrors,
        complianceSeverity: config.convergenceComplianceSeverity,
      },
      secretRecoveryWindowDays: config.unmapRecoveryWindowDays,
      instanceAccessPolicyArn: instanceAccess.policy.managedPolicyArn,
      logRetention,
    });
    const renewal = new RenewalTrigger(this, 'Renewal', {
      inventory: inventory.table,
      exportClaims: workflow.exportClaims,
      key,
      exportWorkflow: workflow.stateMachine,
      alertTopic: alerts.topic,
      includeHealthEvents: config.renewOnHealthEvents,
      startsPerSecond: config.renewalStartsPerSecond,
      logRetention,
    });
    const expiry = new ExpiryMonitor(this, 'Expiry', {
      alerts,
      securityHubRegion: config.securityHubRegion || undefined,
      thresholdDays: config.expiryThresholdDays,
      scanSchedule: events.Schedule.expression(config.expiryScanSchedule),
      logRetention,
    });
    const audit = new AuditReportMonitor(this, 'Audit', {
      alerts,
      certificateAuthorityArns: config.privateCaArns,
      reportFormat: config.auditReportFormat,
      schedule: events.Schedule.expression(config.auditSchedule),
      thresholdDays: config.auditThresholdDays,
      includeAcmManaged: config.auditIncludeAcmManaged,
      reportRetentionDays: config.auditReportRetentionDays,
      securityHubRegion: config.securityHubRegion || undefined,
      logRetention,
    });
    const drift = new DriftMonitor(this, 'Drift', {
      windowsDocumentName: windowsDocument.documentName,
      inventory: inventory.table,
      alerts,
      profiles,
      grantedTagKeys: config.instanceTagKeys,
      schedule: events.Schedule.expression(config.driftCheckSchedule),
      securityHubRegion: config.securityHubRegion || undefined,
      logRetention,
    });
    const convergence = new ConvergenceMonitor(this, 'Convergence', {
      inventory: inventory.table,
      alerts,
      installDocumentName: installDocument.documentName,
      securityHubRegion: config.securityHubRegion || undefined,
      logRetention,
    });
    // Mappings in member accounts: the functions that act where the hosts are do it through the member
    // stack's role there; the two that take requests learn which accounts and Regions are allowed.
    workflow.allowTargetLocations({
      accounts: config.targetAccounts,
      regions: config.targetRegions,
      organizationId: config.organizationId,
    });
    if (config.organizationId) {
      const members = { stackName: this.stackName, organizationId: config.organizationId };
      for (const handler of [
        ...Object.values(workflow.steps),
        workflow.unmapper,
        workflow.associationSync.handler,
        drift.checker,
        drift.comparer,
        convergence.handler,
        expiry.alertHandler,
      ]) {
        handler.allowActInMemberAccounts(members);
      }
      // The member stacks' rules forward their SSM events here, through a role of a fixed name. (A plain
      // CfnResource: the L1 class reads its deprecated Principal property and warns at every synth.)
      new CfnResource(this, 'MemberEvents', {
        type: 'AWS::Events::EventBusPolicy',
        properties: {
          EventBusName: 'default',
          StatementId: `${this.stackName}-MemberAccounts`,
          Statement: {
            Effect: 'Allow',
            Principal: '*',
            Action: 'events:PutEvents',
            Resource: `arn:${this.partition}:events:${this.region}:${this.account}:event-bus/default`,
            Condition: {
              StringEquals: { 'aws:PrincipalOrgID': config.organizationId },
              ArnLike: {
                'aws:PrincipalArn': `arn:${this.partition}:iam::*:role/${memberForwardRoleName(this.stackName, '*')}`,
              },
            },
          },
        },
      });
    }
    const monitoring = new OperationsMonitoring(this, 'Operations', {
      exportWorkflow: workflow.stateMachine,
      functions: Object.fromEntries(
        Object.entries({
          ...workflow.steps,
          Unmap: workflow.unmapper,
          SyncAssociations: workflow.associationSync.handler,
          StartRenewal: renewal.handler,
          RenewalExecutions: renewal.starter,
          CertificateAlert: expiry.alertHandler,
          ExpiryScan: expiry.scanHandler,
          AuditGenerate: audit.generator,
          AuditProcess: audit.processor,
          DriftCheck: drift.checker,
          DriftResult: drift.comparer,
          ConvergenceResult: convergence.handler,
        }).map(([name, handler]) => [name, handler.function]),
      ),
      deadLetterQueues: {
        renewal: renewal.deadLetters.queue,
        'renewal queue': renewal.queueDeadLetters.queue,
        expiry: expiry.deadLetters.queue,
        audit: audit.deadLetters.queue,
        drift: drift.deadLetters.queue,
        install: workflow.deadLetters.queue,
        convergence: convergence.deadLetters.queue,
      },
      alertTopic: alerts.topic,
    });
    const api = new ExportApi(this, 'ExportApi', {
      stateMachine: workflow.stateMachine,
      unmapFunction: workflow.unmapper.function,
      logRetention,
      throttle: { ratePerSecond: config.apiThrottleRatePerSecond, burst: config.apiThrottleBurst },
      setAccountLoggingRole: config.apiGatewayAccountLoggingRole,
    });

    new CfnOutput(this, 'ExportCertUrl', { value: api.exportUrl, description: 'POST export requests here' });
    new CfnOutput(this, 'DashboardName', { value: monitoring.dashboard.dashboardName });
    new CfnOutput(this, 'StateMachineArn', { value: workflow.stateMachine.stateMachineArn });
    new CfnOutput(this, 'InventoryTableName', { value: inventory.table.tableName });
    new CfnOutput(this, 'HostStatesTableName', {
      value: convergence.hosts.tableName,
      description: "Each host's last run of its mapping's association",
    });
    new CfnOutput(this, 'AlertTopicArn', { value: alerts.topic.topicArn });
    new CfnOutput(this, 'InstallDocumentName', { value: installDocument.documentName });
    new CfnOutput(this, 'AppKeyArn', { value: key.keyArn });
    new CfnOutput(this, 'StartRenewalFunctionName', {
      value: renewal.handler.function.functionName,
      description: 'Invoke with a renewal event to redeploy a certificate by hand',
    });
    new CfnOutput(this, 'InstanceAccessPolicyArn', {
      value: instanceAccess.policy.managedPolicyArn,
      description: 'Attach to the roles of the hosts that install certificates, and tag those roles',
    });
  }
}
