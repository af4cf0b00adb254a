import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { keyUseThrough } from './key-use.js';

export interface AlertTopicProps {
  /** Encrypts the messages at rest. */
  readonly key: kms.IKey;
  /** Each address gets a subscription (confirmed by email). @default none */
  readonly emails?: readonly string[];
}

/**
 * The one topic every alert of the app goes to: failed installs now, expiry and audit findings later.
 * KMS-encrypted, TLS-only; subscribers filter on the `event_type` and `severity` message attributes.
 */
export class AlertTopic extends Construct {
  readonly topic: sns.Topic;
  private readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: AlertTopicProps) {
    super(scope, id);
    this.key = props.key;
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Certificate lifecycle alerts',
      masterKey: props.key,
      enforceSSL: true,
    });
    // CloudWatch alarms publish here too; with a customer-managed key they need to use it.
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }

  /** Lets `grantee` publish, using the topic's key only through SNS (no wildcard key actions). */
  grantPublish(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      keyUseThrough('sns', this.key, ['kms:GenerateDataKey', 'kms:Decrypt']),
    );
  }
}
