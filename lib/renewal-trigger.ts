import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';

import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { CERTIFICATE_INDEX } from '../lambda/shared/mapping-store.js';
import { AlarmedDeadLetterQueue } from './alarmed-dead-letter-queue.js';
import { HandlerFunction } from './handler-function.js';

/** ACM's event when it has renewed a certificate it issued (public) or signed with Private CA (private). */
export const ACM_RENEWAL_PATTERN: events.EventPattern = {
  source: ['aws.acm'],
  detailType: ['ACM Certificate Available'],
  detail: { Action: ['RENEWAL'], CertificateType: ['AMAZON_ISSUED', 'PRIVATE'] },
};

/** AWS Health's notice of an ACM renewal (sent for private certificates too). */
export const HEALTH_RENEWAL_PATTERN: events.EventPattern = {
  source: ['aws.health'],
  detailType: ['AWS Health Event'],
  detail: {
    service: ['ACM'],
    eventTypeCategory: ['scheduledChange'],
    eventTypeCode: ['AWS_ACM_RENEWAL_STATE_CHANGE'],
  },
};

export interface RenewalTriggerProps {
  readonly inventory: dynamodb.ITable;
  readonly exportWorkflow: sfn.IStateMachine;
  readonly alertTopic: sns.ITopic;
  /** Also react to AWS Health's renewal notices (deduplicated with ACM's event). @default false */
  readonly includeHealthEvents?: boolean;
  /** Renewal executions started per second at most, all consumers together. @default 2 */
  readonly startsPerSecond?: number;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Consumers of the renewal queue at once: the least an SQS event source's maximum concurrency allows.
 * The pace comes from each consumer's interval between starts, not from more consumers.
 */
export const RENEWAL_CONSUMERS = 2;
/** Messages a consumer takes at once; with its interval this bounds how long one invocation runs. */
const RENEWAL_BATCH = 10;
/** A message that still fails after this many deliveries goes to the dead-letter queue. */
const RENEWAL_RECEIVES = 5;

/**
 * Renewal with no human involved: ACM's renewal event puts one export-install execution per mapping of
 * the renewed certificate on the renewal queue (start-renewal); the queue's consumer starts them, paced
 * below ACM's export quota (renewal-executions), however many mappings there are. Events that cannot be
 * delivered, and messages that keep failing, end in alarmed dead-letter queues.
 */
export class RenewalTrigger extends Construct {
  readonly handler: HandlerFunction;
  readonly starter: HandlerFunction;
  readonly queue: sqs.Queue;
  readonly deadLetters: AlarmedDeadLetterQueue;
  readonly queueDeadLetters: AlarmedDeadLetterQueue;

  constructor(scope: Construct, id: string, props: RenewalTriggerProps) {
    super(scope, id);
    const startsPerSecond = props.startsPerSecond ?? 2;
    const intervalMs = Math.ceil((1000 * RENEWAL_CONSUMERS) / startsPerSecond);
    // The longest a consumer runs: a whole batch at its pace, plus the calls themselves.
    const starterTimeout = Duration.seconds(Math.ceil((RENEWAL_BATCH * intervalMs) / 1000) + 30);

    this.queueDeadLetters = new AlarmedDeadLetterQueue(this, 'QueueDeadLetters', {
      holds: 'renewal executions that could not be started',
      alertTopic: props.alertTopic,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // As AWS advises for a Lambda event source: six times the function's timeout.
      visibilityTimeout: Duration.seconds(starterTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.queueDeadLetters.queue, maxReceiveCount: RENEWAL_RECEIVES },
    });

    this.handler = new HandlerFunction(this, 'StartRenewal', {
      handlerName: 'start-renewal',
      description: 'Queues one export-install execution for every mapping of a renewed certificate',
      environment: {
        TABLE_NAME: props.inventory.tableName,
        RENEWAL_QUEUE_URL: this.queue.queueUrl,
      },
      timeout: Duration.seconds(300),
      logRetention: props.logRetention,
    });
    this.handler.allow({
      actions: ['dynamodb:Query'],
      resources: [`${props.inventory.tableArn}/index/${CERTIFICATE_INDEX}`],
    });
    this.handler.allowDescribeCertificates(
      'The renewed certificate is known only when its event arrives; the step reads its serial.',
    );
    this.handler.allow({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] });

    this.starter = new HandlerFunction(this, 'RenewalExecutions', {
      handlerName: 'renewal-executions',
      description: "Starts the queued renewal executions, paced below ACM's export quota",
      environment: {
        STATE_MACHINE_ARN: props.exportWorkflow.stateMachineArn,
        START_INTERVAL_MS: String(intervalMs),
      },
      timeout: starterTimeout,
      logRetention: props.logRetention,
    });
    this.starter.allow({
      actions: ['states:StartExecution'],
      resources: [props.exportWorkflow.stateMachineArn],
    });
    // The event source grants the function what it needs of the queue (receive, delete, visibility).
    this.starter.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: RENEWAL_BATCH,
        maxConcurrency: RENEWAL_CONSUMERS,
        reportBatchItemFailures: true,
      }),
    );

    this.deadLetters = new AlarmedDeadLetterQueue(this, 'DeadLetters', {
      holds: 'certificate renewal events',
      alertTopic: props.alertTopic,
    });
    const target = this.handler.eventTarget(this.deadLetters.queue, {
      attempts: 8,
      maxEventAge: Duration.hours(6),
    });

    new events.Rule(this, 'AcmRenewal', {
      description: 'ACM renewed a certificate: reinstall it on every mapped target',
      eventPattern: ACM_RENEWAL_PATTERN,
      targets: [target],
    });
    if (props.includeHealthEvents) {
      new events.Rule(this, 'HealthRenewal', {
        description: 'AWS Health reports an ACM renewal: reinstall (deduplicated with the ACM event)',
        eventPattern: HEALTH_RENEWAL_PATTERN,
        targets: [target],
      });
    }
  }
}
