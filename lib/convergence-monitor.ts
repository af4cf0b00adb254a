import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { HOST_PARTITION_KEY, HOST_SORT_KEY } from '../lambda/shared/host-state.js';
import { ASSOCIATION_INDEX } from '../lambda/shared/mapping-store.js';
import { AlarmedDeadLetterQueue } from './alarmed-dead-letter-queue.js';
import type { AlertTopic } from './alert-topic.js';
import { HandlerFunction } from './handler-function.js';

export interface ConvergenceMonitorProps {
  readonly inventory: dynamodb.ITable;
  readonly alerts: AlertTopic;
  /** The install document, whose association runs are followed. */
  readonly installDocumentName: string;
  /** @default the stack's Region */
  readonly securityHubRegion?: string;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Follows the mappings' associations host by host: each run State Manager reports is recorded per host
 * (for `npm run cli -- mappings`), a host whose run failed gets its drift finding and one alert, and a
 * host that converged has the finding archived.
 */
export class ConvergenceMonitor extends Construct {
  readonly hosts: dynamodb.Table;
  readonly handler: HandlerFunction;
  readonly deadLetters: AlarmedDeadLetterQueue;

  constructor(scope: Construct, id: string, props: ConvergenceMonitorProps) {
    super(scope, id);
    const securityHubRegion = props.securityHubRegion ?? Aws.REGION;
    this.hosts = new dynamodb.Table(this, 'HostStates', {
      partitionKey: { name: HOST_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      sortKey: { name: HOST_SORT_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // One item per mapping and node; rebuilt by the next scheduled run of every association.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.handler = new HandlerFunction(this, 'Result', {
      handlerName: 'convergence-result',
      description:
        "Records a target association's run on a host, per certificate; failures become findings and an alert",
      environment: {
        TABLE_NAME: props.inventory.tableName,
        HOSTS_TABLE_NAME: this.hosts.tableName,
        ALERT_TOPIC_ARN: props.alerts.topic.topicArn,
        SECURITY_HUB_REGION: securityHubRegion,
      },
      logRetention: props.logRetention,
    });
    this.handler.allow({
      actions: ['dynamodb:Query'],
      resources: [`${props.inventory.tableArn}/index/${ASSOCIATION_INDEX}`],
    });
    this.handler.allow({ actions: ['dynamodb:PutItem'], resources: [this.hosts.tableArn] });
    this.handler.allowReadHostReports();
    this.handler.allowFindings(securityHubRegion, { read: true });
    props.alerts.grantPublish(this.handler.role);

    this.deadLetters = new AlarmedDeadLetterQueue(this, 'DeadLetters', {
      holds: 'association runs on hosts that could not be recorded',
      alertTopic: props.alerts.topic,
    });
    new events.Rule(this, 'AssociationRan', {
      description:
        "A target's association ran on a host: record each certificate, raise or resolve the host's findings",
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['EC2 State Manager Instance Association State Change'],
        detail: { 'document-name': [props.installDocumentName], status: ['Success', 'Failed'] },
      },
      targets: [
        this.handler.eventTarget(this.deadLetters.queue, { attempts: 8, maxEventAge: Duration.hours(6) }),
      ],
    });
  }
}
