import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

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

  constructor(scope: Construct, id: string, props: AlertTopicProps) {
    super(scope, id);
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
}
