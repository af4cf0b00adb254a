import { Aws, Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';

import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ALERT_DETAIL_TYPES, RESOLVING_DETAIL_TYPE } from '../lambda/certificate-alert/certificate-alert.js';
import { AlarmedDeadLetterQueue } from './alarmed-dead-letter-queue.js';
import type { AlertTopic } from './alert-topic.js';
import { HandlerFunction } from './handler-function.js';

/** ACM's expiry and renewal-trouble events. */
export const EXPIRY_EVENTS_PATTERN: events.EventPattern = {
  source: ['aws.acm'],
  detailType: Object.keys(ALERT_DETAIL_TYPES),
};

/** A certificate available again after renewal or (re-)import: its findings are archived. */
export const AVAILABLE_AGAIN_PATTERN: events.EventPattern = {
  source: ['aws.acm'],
  detailType: [RESOLVING_DETAIL_TYPE],
  detail: { Action: ['RENEWAL', 'IMPORT', 'REIMPORT'] },
};

export interface ExpiryMonitorProps {
  readonly alerts: AlertTopic;
  /** Where findings go. @default the stack's Region */
  readonly securityHubRegion?: string;
  /** Certificates expiring within this many days are reported. @default 45 */
  readonly thresholdDays?: number;
  /** When the scan runs. @default every day */
  readonly scanSchedule?: events.Schedule;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Expiry and lifecycle alerts: ACM's events, and a scheduled scan of every certificate, become Security
 * Hub findings (in one Region if asked) and alerts on the app's topic.
 */
export class ExpiryMonitor extends Construct {
  readonly alertHandler: HandlerFunction;
  readonly scanHandler: HandlerFunction;
  readonly deadLetters: AlarmedDeadLetterQueue;

  constructor(scope: Construct, id: string, props: ExpiryMonitorProps) {
    super(scope, id);
    const securityHubRegion = props.securityHubRegion ?? Aws.REGION;
    const environment = {
      ALERT_TOPIC_ARN: props.alerts.topic.topicArn,
      SECURITY_HUB_REGION: securityHubRegion,
      EXPIRY_THRESHOLD_DAYS: String(props.thresholdDays ?? 45),
    };

    this.alertHandler = new HandlerFunction(this, 'CertificateAlert', {
      handlerName: 'certificate-alert',
      description: 'Turns ACM expiry and renewal events into Security Hub findings and alerts',
      environment,
      logRetention: props.logRetention,
    });
    this.scanHandler = new HandlerFunction(this, 'ExpiryScan', {
      handlerName: 'expiry-scan',
      description: 'Scans every certificate in the Region for expiry; findings and one digest',
      environment,
      timeout: Duration.minutes(15),
      memorySize: 512,
      logRetention: props.logRetention,
    });

    for (const handler of [this.alertHandler, this.scanHandler]) {
      handler.allowDescribeCertificates(
        'Every certificate of the account and Region is watched; they are known only at run time.',
      );
      handler.allowFindings(securityHubRegion, { read: true });
      props.alerts.grantPublish(handler.role);
    }
    this.scanHandler.allow(
      { actions: ['acm:ListCertificates'], resources: ['*'] },
      { 'Resource::*': 'ListCertificates acts on no resource, so IAM cannot scope it.' },
    );

    this.deadLetters = new AlarmedDeadLetterQueue(this, 'DeadLetters', {
      holds: 'certificate lifecycle events',
      alertTopic: props.alerts.topic,
    });
    const alertTarget = this.alertHandler.eventTarget(this.deadLetters.queue, {
      attempts: 8,
      maxEventAge: Duration.hours(6),
    });
    new events.Rule(this, 'ExpiryEvents', {
      description: 'ACM reports a certificate approaching expiration, needing renewal action, or expired',
      eventPattern: EXPIRY_EVENTS_PATTERN,
      targets: [alertTarget],
    });
    new events.Rule(this, 'AvailableAgain', {
      description: 'A certificate was renewed or (re-)imported: archive its findings',
      eventPattern: AVAILABLE_AGAIN_PATTERN,
      targets: [alertTarget],
    });

    new events.Rule(this, 'ScanSchedule', {
      description: 'Scan every certificate for expiry',
      schedule: props.scanSchedule ?? events.Schedule.rate(Duration.days(1)),
      targets: [this.scanHandler.eventTarget(this.deadLetters.queue, { attempts: 2 })],
    });
  }
}
