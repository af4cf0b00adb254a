import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../helpers/stack.js';

let template: Template;
beforeAll(() => {
  template = synthesize({ driftCheckSchedule: 'rate(6 hours)' }).template;
});
const rules = () => Object.values(template.findResources('AWS::Events::Rule')).map((rule) => rule.Properties);

describe('drift monitor', () => {
  it('deploys the read-only check document beside the install, dry-run and Remove documents', () => {
    const documents = Object.values(template.findResources('AWS::SSM::Document')).map((document) =>
      JSON.stringify(document.Properties),
    );
    expect(documents).toHaveLength(5);
    expect(
      documents.some(
        (document) => document.includes('-Check-ACMCertificate') && document.includes('status=missing'),
      ),
    ).toBe(true);
  });

  it('asks the hosts on the configured schedule', () => {
    expect(
      rules().find((rule) => /which certificate it holds/.test(rule.Description))!.ScheduleExpression,
    ).toBe('rate(6 hours)');
  });

  it('compares when a check command of that document finishes, with retries and a dead-letter queue', () => {
    const rule = rules().find((rule) => /drift check command finished/.test(rule.Description))!;
    expect(rule.EventPattern).toMatchObject({
      source: ['aws.ssm'],
      'detail-type': ['EC2 Command Status-change Notification'],
      detail: { status: ['Success', 'Failed', 'TimedOut', 'Cancelled'] },
    });
    expect(JSON.stringify(rule.EventPattern.detail['document-name'])).toContain('-Check-ACMCertificate');
    expect(rule.Targets[0]).toMatchObject({
      RetryPolicy: { MaximumRetryAttempts: 8 },
      DeadLetterConfig: expect.anything(),
    });
  });
});
