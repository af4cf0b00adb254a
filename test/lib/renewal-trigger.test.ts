import type { Template } from 'aws-cdk-lib/assertions';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureEvent, matchesPattern } from '../helpers/events.js';
import { synthesize } from '../helpers/stack.js';

let template: Template;
beforeAll(() => {
  template = synthesize({ renewOnHealthEvents: 'true' }).template;
});

function ruleNamed(description: RegExp) {
  const rules = Object.values(template.findResources('AWS::Events::Rule')).filter((rule) =>
    description.test(String(rule.Properties.Description)),
  );
  expect(rules).toHaveLength(1);
  return rules[0]!.Properties as {
    EventPattern: Record<string, unknown>;
    Targets: Record<string, unknown>[];
  };
}

/** A rule's pattern as EventBridge holds it in the account the fixtures come from. */
function inFixtureAccount(pattern: Record<string, unknown>): Record<string, unknown> {
  const account = fixtureEvent<{ account: string }>('acm-certificate-available-renewal-private').account;
  return JSON.parse(JSON.stringify(pattern).replaceAll('{"Ref":"AWS::AccountId"}', JSON.stringify(account)));
}

describe('renewal rules', () => {
  it("take this account's renewals only: member accounts forward theirs for alerts, and map none", () => {
    const { EventPattern } = ruleNamed(/^ACM renewed/);
    expect(EventPattern.account).toEqual([{ Ref: 'AWS::AccountId' }]);
    const renewal = fixtureEvent<{ account: string }>('acm-certificate-available-renewal-private');
    expect(matchesPattern(inFixtureAccount(EventPattern), renewal)).toBe(true);
    expect(matchesPattern(inFixtureAccount(EventPattern), { ...renewal, account: '444455556666' })).toBe(
      false,
    );
  });

  it('match the ACM renewal events of private and public certificates, without filtering on fields they lack', () => {
    const EventPattern = inFixtureAccount(ruleNamed(/^ACM renewed/).EventPattern);
    expect(matchesPattern(EventPattern, fixtureEvent('acm-certificate-available-renewal-private'))).toBe(
      true,
    );
    expect(matchesPattern(EventPattern, fixtureEvent('acm-certificate-available-renewal-public'))).toBe(true);
    expect(JSON.stringify(EventPattern)).not.toContain('Exportable');
  });

  it('do not match issuance, import, or other ACM events', () => {
    const EventPattern = inFixtureAccount(ruleNamed(/^ACM renewed/).EventPattern);
    const renewal = fixtureEvent<{ detail: Record<string, unknown> }>(
      'acm-certificate-available-renewal-private',
    );
    for (const Action of ['ISSUANCE', 'IMPORT', 'REIMPORT']) {
      expect(matchesPattern(EventPattern, { ...renewal, detail: { ...renewal.detail, Action } })).toBe(false);
    }
    expect(
      matchesPattern(EventPattern, {
        ...renewal,
        detail: { ...renewal.detail, CertificateType: 'IMPORTED' },
      }),
    ).toBe(false);
    expect(matchesPattern(EventPattern, fixtureEvent('acm-certificate-expired'))).toBe(false);
  });

  it('match the AWS Health renewal notice when asked to', () => {
    const { EventPattern } = ruleNamed(/^AWS Health/);
    expect(matchesPattern(EventPattern, fixtureEvent('aws-health-acm-renewal-state-change'))).toBe(true);
    expect(matchesPattern(EventPattern, fixtureEvent('acm-certificate-available-renewal-private'))).toBe(
      false,
    );
  });

  it('leave the AWS Health rule out by default', () => {
    const rules = synthesize().template.findResources('AWS::Events::Rule');
    expect(Object.values(rules).map((rule) => rule.Properties.Description)).not.toContainEqual(
      expect.stringMatching(/^AWS Health/),
    );
  });

  it('deliver with a retry policy and a dead-letter queue', () => {
    for (const rule of [ruleNamed(/^ACM renewed/), ruleNamed(/^AWS Health/)]) {
      expect(rule.Targets).toEqual([
        expect.objectContaining({
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21_600 },
          DeadLetterConfig: { Arn: expect.anything() },
        }),
      ]);
    }
  });
});

describe('renewal dead letters', () => {
  it('also receive invocations the handler kept failing after Lambda retried them', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 21_600,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it('sit in an encrypted, TLS-only queue with an alarm to the alert topic on the first message', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlertsTopic') }],
    });
  });

  it('the alert key lets CloudWatch alarms publish to the encrypted topic', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
  });
});

/** The actions a function's role may take, but writing its own logs. */
function actionsOf(roleName: string): string[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
    JSON.stringify(policy.Properties.Roles).includes(roleName),
  );
  return policies
    .flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((statement) =>
        [statement.Action].flat(),
      ),
    )
    .filter((action) => !action.startsWith('logs:'))
    .sort();
}

describe('start-renewal function', () => {
  it('may query the certificate index, export a certificate once, queue renewals and dead-letter, nothing more', () => {
    expect(actionsOf('StartRenewal')).toEqual(
      [
        'acm:DescribeCertificate',
        'acm:ExportCertificate',
        'dynamodb:Query',
        // The claim on the export, and the certificate's export secret, through Secrets Manager only.
        'dynamodb:PutItem',
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'secretsmanager:CreateSecret',
        'secretsmanager:GetRandomPassword',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
        'secretsmanager:RestoreSecret',
        // The renewal queue, and Lambda's on-failure destination: the dead-letter queue.
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
        'sqs:SendMessage',
      ].sort(),
    );
  });
});

describe('the renewal queue', () => {
  it('is consumed by a paced function: batches of 10, two consumers at most, failed messages alone retried', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const starter = Object.values(template.findResources('AWS::Lambda::Function')).find((fn) =>
      JSON.stringify(fn.Properties.Environment ?? {}).includes('START_INTERVAL_MS'),
    )!;
    // 25 starts a second by default, shared by the two consumers: one each every 80 ms.
    expect(starter.Properties.Environment.Variables.START_INTERVAL_MS).toBe('80');
    expect(starter.Properties.Timeout).toBe(31);
  });

  it('hides a message for six times the consumer timeout, and dead-letters it after 5 receives, alarmed', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 186,
      MessageRetentionPeriod: 4 * 86_400,
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
      SqsManagedSseEnabled: true,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('^Undelivered renewal executions that could not be started'),
    });
  });

  it('the consumer may start the workflow and read its queue, nothing more', () => {
    expect(actionsOf('RenewalExecutions')).toEqual(
      [
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
        'states:StartExecution',
      ].sort(),
    );
  });
});
