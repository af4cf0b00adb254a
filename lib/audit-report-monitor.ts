import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as notifications from 'aws-cdk-lib/aws-s3-notifications';
import { Construct } from 'constructs';
import { REPORT_PREFIX } from '../lambda/shared/audit-report.js';
import { AlarmedDeadLetterQueue } from './alarmed-dead-letter-queue.js';
import type { AlertTopic } from './alert-topic.js';
import { HandlerFunction } from './handler-function.js';

export interface AuditReportMonitorProps {
  readonly alerts: AlertTopic;
  /** The CAs to audit. @default every ACTIVE CA of the account and Region */
  readonly certificateAuthorityArns?: readonly string[];
  /** @default 'JSON' */
  readonly reportFormat?: 'JSON' | 'CSV';
  /** @default every day */
  readonly schedule?: events.Schedule;
  /** Certificates expiring within this many days are reported. @default 30 */
  readonly thresholdDays?: number;
  /** Also report certificates ACM requested and renews itself. @default false */
  readonly includeAcmManaged?: boolean;
  /** Reports are deleted after this many days. @default 90 */
  readonly reportRetentionDays?: number;
  /** @default the stack's Region */
  readonly securityHubRegion?: string;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Private CA audit monitor: on a schedule each CA writes an audit report into the app's bucket; each new
 * report is streamed, and the certificates in it that expire soon (including ones ACM never tracked)
 * become findings and one digest.
 */
export class AuditReportMonitor extends Construct {
  readonly bucket: s3.Bucket;
  readonly generator: HandlerFunction;
  readonly processor: HandlerFunction;
  readonly deadLetters: AlarmedDeadLetterQueue;

  constructor(scope: Construct, id: string, props: AuditReportMonitorProps) {
    super(scope, id);
    const configured = [...(props.certificateAuthorityArns ?? [])];
    const authorities =
      configured.length > 0
        ? configured
        : [`arn:${Aws.PARTITION}:acm-pca:${Aws.REGION}:${Aws.ACCOUNT_ID}:certificate-authority/*`];
    const securityHubRegion = props.securityHubRegion ?? Aws.REGION;

    this.bucket = new s3.Bucket(this, 'Reports', {
      // AWS Private CA writes with SSE-S3 or a customer key; the AWS-managed S3 key is not supported.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ prefix: REPORT_PREFIX, expiration: Duration.days(props.reportRetentionDays ?? 90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'PrivateCaWritesAuditReports',
        principals: [new iam.ServicePrincipal('acm-pca.amazonaws.com')],
        actions: ['s3:PutObject', 's3:PutObjectAcl', 's3:GetBucketAcl', 's3:GetBucketLocation'],
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': authorities },
        },
      }),
    );
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Only AWS Private CA writes here and only the processor reads; CloudTrail records both. Access logs would need a bucket of their own for little gain.',
    });

    this.generator = new HandlerFunction(this, 'Generate', {
      handlerName: 'audit-generate',
      description: 'Requests an AWS Private CA audit report of each CA into the audit bucket',
      environment: {
        AUDIT_BUCKET: this.bucket.bucketName,
        AUDIT_REPORT_FORMAT: props.reportFormat ?? 'JSON',
        CERTIFICATE_AUTHORITY_ARNS: configured.join(','),
      },
      timeout: Duration.minutes(2),
      logRetention: props.logRetention,
    });
    this.generator.allow(
      { actions: ['acm-pca:CreateCertificateAuthorityAuditReport'], resources: authorities },
      configured.length > 0
        ? {}
        : {
            'Resource::arn:<AWS::Partition>:acm-pca:<AWS::Region>:<AWS::AccountId>:certificate-authority/*':
              'No CA is configured, so every ACTIVE CA of the account and Region is audited.',
          },
    );
    if (configured.length === 0) {
      this.generator.allow(
        { actions: ['acm-pca:ListCertificateAuthorities'], resources: ['*'] },
        { 'Resource::*': 'ListCertificateAuthorities acts on no resource, so IAM cannot scope it.' },
      );
    }

    this.processor = new HandlerFunction(this, 'Process', {
      handlerName: 'audit-process',
      description: 'Streams a new audit report; expiring certificates become findings and one digest',
      environment: {
        ALERT_TOPIC_ARN: props.alerts.topic.topicArn,
        SECURITY_HUB_REGION: securityHubRegion,
        AUDIT_THRESHOLD_DAYS: String(props.thresholdDays ?? 30),
        AUDIT_INCLUDE_ACM_MANAGED: String(props.includeAcmManaged ?? false),
      },
      timeout: Duration.minutes(15),
      memorySize: 512,
      logRetention: props.logRetention,
    });
    this.processor.allow(
      { actions: ['s3:GetObject'], resources: [this.bucket.arnForObjects(`${REPORT_PREFIX}*`)] },
      {
        [`Resource::<${Stack.of(this).resolve((this.bucket.node.defaultChild as s3.CfnBucket).logicalId)}.Arn>/${REPORT_PREFIX}*`]:
          'Reads the reports, whose keys the service chooses, under the report prefix only.',
      },
    );
    this.processor.allowFindings(securityHubRegion, { read: false });
    props.alerts.grantPublish(this.processor.role);

    const deadLetters = (this.deadLetters = new AlarmedDeadLetterQueue(this, 'DeadLetters', {
      holds: 'audit report runs',
      alertTopic: props.alerts.topic,
    }));
    this.processor.deadLetterTo(deadLetters.queue);
    this.bucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new notifications.LambdaDestination(this.processor.function),
      { prefix: REPORT_PREFIX },
    );
    // S3 notifications are configured through CDK's own singleton custom resource.
    const notificationsHandler = Stack.of(this).node.tryFindChild(
      'BucketNotificationsHandler050a0587b7544547bf325f094a3db834',
    );
    if (notificationsHandler) {
      Validations.of(notificationsHandler).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "CDK's bucket-notification custom resource (deployment time only) comes with the AWS-managed logging policy.",
      });
    }
    new events.Rule(this, 'Schedule', {
      description: 'Request a Private CA audit report of each CA',
      schedule: props.schedule ?? events.Schedule.rate(Duration.days(1)),
      targets: [this.generator.eventTarget(deadLetters.queue, { attempts: 2 })],
    });
  }
}
