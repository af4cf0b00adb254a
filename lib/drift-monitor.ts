import { Aws, Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { INSTALL_PROFILES_ENV, type InstallProfiles } from '../lambda/shared/install-parameters.js';
import { AlarmedDeadLetterQueue } from './alarmed-dead-letter-queue.js';
import type { AlertTopic } from './alert-topic.js';
import { HandlerFunction } from './handler-function.js';
import { InstallDocument, appDocumentName } from './install-document.js';

export interface DriftMonitorProps {
  /** The Windows document the check document runs on Windows nodes. */
  readonly windowsDocumentName: string;
  readonly inventory: dynamodb.ITable;
  readonly alerts: AlertTopic;
  /** Where each profile's hosts keep the certificates. */
  readonly profiles: InstallProfiles;
  /** The tag keys hosts are selected by (`instanceTagKeys`): the check is sent only to nodes carrying one. */
  readonly grantedTagKeys: readonly string[];
  /** @default every day */
  readonly schedule?: events.Schedule;
  /** @default the stack's Region */
  readonly securityHubRegion?: string;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Drift check: on a schedule a read-only document asks every mapped host which certificate it holds;
 * when each check finishes, the answers are compared with ACM's current serial, and any host serving
 * another certificate, or none, becomes a finding and an alert.
 */
export class DriftMonitor extends Construct {
  readonly checker: HandlerFunction;
  readonly comparer: HandlerFunction;
  readonly deadLetters: AlarmedDeadLetterQueue;

  constructor(scope: Construct, id: string, props: DriftMonitorProps) {
    super(scope, id);
    const securityHubRegion = props.securityHubRegion ?? Aws.REGION;
    const document = new InstallDocument(this, 'CheckDocument', {
      documentName: appDocumentName(Stack.of(this).stackName, 'Check'),
      sourceFile: 'check-acm-certificate',
      scriptFile: 'install-acm-certificate',
      windowsDocumentName: props.windowsDocumentName,
    });

    this.checker = new HandlerFunction(this, 'Check', {
      handlerName: 'drift-check',
      description: 'Asks every mapped host which certificate it holds (read-only command)',
      environment: {
        TABLE_NAME: props.inventory.tableName,
        CHECK_DOCUMENT_NAME: document.documentName,
        [INSTALL_PROFILES_ENV]: JSON.stringify(props.profiles),
      },
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
    });
    this.checker.allow({ actions: ['dynamodb:Scan'], resources: [props.inventory.tableArn] });
    this.checker.allowSendCommand(document.documentArn, 'the read-only check document', props.grantedTagKeys);

    this.comparer = new HandlerFunction(this, 'Compare', {
      handlerName: 'drift-result',
      description:
        "Compares the hosts' answers with ACM's current certificate; drift becomes findings and an alert",
      environment: { ALERT_TOPIC_ARN: props.alerts.topic.topicArn, SECURITY_HUB_REGION: securityHubRegion },
      timeout: Duration.minutes(2),
      logRetention: props.logRetention,
    });
    this.comparer.allow(
      { actions: ['ssm:ListCommands', 'ssm:ListCommandInvocations'], resources: ['*'] },
      { 'Resource::*': 'ListCommands and ListCommandInvocations support no resource-level permissions.' },
    );
    this.comparer.allowDescribeCertificates(
      "The mapped certificates are known only at run time; the step reads each one's current serial.",
    );
    this.comparer.allowFindings(securityHubRegion, { read: true });
    props.alerts.grantPublish(this.comparer.role);

    this.deadLetters = new AlarmedDeadLetterQueue(this, 'DeadLetters', {
      holds: 'drift check runs and results',
      alertTopic: props.alerts.topic,
    });
    new events.Rule(this, 'Schedule', {
      description: 'Ask every mapped host which certificate it holds',
      schedule: props.schedule ?? events.Schedule.rate(Duration.days(1)),
      targets: [this.checker.eventTarget(this.deadLetters.queue, { attempts: 2 })],
    });
    new events.Rule(this, 'CheckFinished', {
      description: 'A drift check command finished: compare what the hosts hold with ACM',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['EC2 Command Status-change Notification'],
        detail: {
          'document-name': [document.documentName],
          status: ['Success', 'Failed', 'TimedOut', 'Cancelled'],
        },
      },
      targets: [
        this.comparer.eventTarget(this.deadLetters.queue, { attempts: 8, maxEventAge: Duration.hours(6) }),
      ],
    });
  }
}
