import { Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';

import type * as kms from 'aws-cdk-lib/aws-kms';
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
  /** The claims that make each certificate's export at a serial happen once (the workflow's). */
  readonly exportClaims: dynamodb.ITable;
  /** The app key: encrypts the certificate's export secret. */
  readonly key: kms.IKey;
  readonly exportWorkflow: sfn.IStateMachine;
  readonly alertTopic: sns.ITopic;
  /** Also react to AWS Health's renewal notices (deduplicated with ACM's event). @default false */
  readonly includeHealthEvents?: boolean;
  /**
   * Renewal executions started per second at most, all consumers together. Each writes its mapping's
   * secret once (Secrets Manager's PutSecretValue: 50 a second per account and Region). @default 25
   */
  readonly startsPerSecond?: number;
  readonly logRetention: logs.RetentionDays;
}

/** Half of PutSecretValue's 50 a second: room for exports from the API and for retries. */
export const DEFAULT_RENEWAL_STARTS_PER_SECOND = 25;

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
 * Renewal with no human involved: ACM's renewal event exports the renewed certificate once and puts one
 * export-install execution per mapping on the renewal queue (start-renewal); the queue's consumer starts
 * them, paced below what their secret writes may use (renewal-executions), however many mappings there
 * are. Events that cannot be delivered, and messages that keep failing, end in alarmed dead-letter queues.
 */
export class RenewalTrigger extends Construct {
  readonly handler: HandlerFunction;
  readonly starter: HandlerFunction;
  readonly queue: sqs.Queue;
  readonly deadLetters: AlarmedDeadLetterQueue;
  readonly queueDeadLetters: AlarmedDeadLetterQueue;

  constructor(scope: Construct, id: string, props: RenewalTriggerProps) {
    super(scope, id);
    const startsPerSecond = props.startsPerSecond ?? DEFAULT_RENEWAL_STARTS_PER_SECOND;
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
      description:
        'Exports a renewed certificate once and queues one export-install execution for every mapping of it',
      environment: {
        TABLE_NAME: props.inventory.tableName,
        RENEWAL_QUEUE_URL: this.queue.queueUrl,
        EXPORT_CLAIMS_TABLE_NAME: props.exportClaims.tableName,
        SECRET_KMS_KEY_ARN: props.key.keyArn,
      },
      timeout: Duration.seconds(300),
      logRetention: props.logRetention,
    });
    this.handler.allow({
      actions: ['dynamodb:Query'],
      resources: [`${props.inventory.tableArn}/index/${CERTIFICATE_INDEX}`],
    });
    this.handler.allowCertificateExport(
      props.key,
      props.exportClaims,
      'The renewed certificate is known only when its event arrives; the step reads its serial and exports it once for all its mappings.',
    );
    this.handler.allow({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] });

    this.starter = new HandlerFunction(this, 'RenewalExecutions', {
      handlerName: 'renewal-executions',
      description: 'Starts the queued renewal executions, paced below what their secret writes may use',
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
      // This account's own: member accounts forward their ACM events here for alerts, not renewals (the
      // mapped certificates are this account's).
      eventPattern: { ...ACM_RENEWAL_PATTERN, account: [Stack.of(this).account] },
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
