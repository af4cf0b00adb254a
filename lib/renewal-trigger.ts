import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';

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
  readonly logRetention: logs.RetentionDays;
}

/**
 * Renewal with no human involved: ACM's renewal event starts the export-install workflow once per
 * mapping of the renewed certificate. Events that cannot be delivered, and invocations that keep failing,
 * end in one alarmed dead-letter queue.
 */
export class RenewalTrigger extends Construct {
  readonly handler: HandlerFunction;
  readonly deadLetters: AlarmedDeadLetterQueue;

  constructor(scope: Construct, id: string, props: RenewalTriggerProps) {
    super(scope, id);
    this.handler = new HandlerFunction(this, 'StartRenewal', {
      handlerName: 'start-renewal',
      description: 'Starts the export-install workflow for every mapping of a renewed certificate',
      environment: {
        TABLE_NAME: props.inventory.tableName,
        STATE_MACHINE_ARN: props.exportWorkflow.stateMachineArn,
      },
      timeout: Duration.seconds(120),
      logRetention: props.logRetention,
    });
    this.handler.allow({
      actions: ['dynamodb:Query'],
      resources: [`${props.inventory.tableArn}/index/${CERTIFICATE_INDEX}`],
    });
    this.handler.allowDescribeCertificates(
      'The renewed certificate is known only when its event arrives; the step reads its serial.',
    );
    this.handler.allow({
      actions: ['states:StartExecution'],
      resources: [props.exportWorkflow.stateMachineArn],
    });

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
