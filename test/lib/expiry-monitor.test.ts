import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureEvent, matchesPattern } from '../helpers/events.js';
import { synthesize } from '../helpers/stack.js';

let template: Template;
beforeAll(() => {
  template = synthesize({
    securityHubRegion: 'eu-central-1',
    expiryThresholdDays: '30',
    expiryScanSchedule: 'cron(0 6 * * ? *)',
  }).template;
});

const rules = () => Object.values(template.findResources('AWS::Events::Rule')).map((rule) => rule.Properties);
const ruleDescribed = (pattern: RegExp) => rules().find((rule) => pattern.test(String(rule.Description)))!;

describe('expiry monitor', () => {
  it('sends the three ACM expiry events to the alert handler, and nothing else', () => {
    const { EventPattern } = ruleDescribed(/approaching expiration/);
    for (const name of [
      'acm-certificate-approaching-expiration',
      'acm-certificate-renewal-action-required',
      'acm-certificate-expired',
    ]) {
      expect(matchesPattern(EventPattern, fixtureEvent(name)), name).toBe(true);
    }
    expect(matchesPattern(EventPattern, fixtureEvent('acm-certificate-available-renewal-public'))).toBe(
      false,
    );
  });

  it('archives findings when a certificate is renewed or re-imported', () => {
    const { EventPattern } = ruleDescribed(/archive its findings/);
    expect(matchesPattern(EventPattern, fixtureEvent('acm-certificate-available-renewal-public'))).toBe(true);
    expect(matchesPattern(EventPattern, fixtureEvent('acm-certificate-available-renewal-private'))).toBe(
      true,
    );
  });

  it('retries delivery and dead-letters what it cannot deliver', () => {
    for (const rule of [ruleDescribed(/approaching expiration/), ruleDescribed(/archive its findings/)]) {
      expect(rule.Targets).toEqual([
        expect.objectContaining({
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21_600 },
          DeadLetterConfig: expect.anything(),
        }),
      ]);
    }
  });

  it('scans on the configured schedule with the configured threshold and Security Hub Region', () => {
    expect(ruleDescribed(/Scan every certificate/).ScheduleExpression).toBe('cron(0 6 * * ? *)');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ EXPIRY_THRESHOLD_DAYS: '30', SECURITY_HUB_REGION: 'eu-central-1' }),
      },
    });
  });

  it('imports findings into the default product of the chosen Region only', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) =>
        policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
    const imports = statements.filter((statement) =>
      [statement.Action].flat().includes('securityhub:BatchImportFindings'),
    );
    expect(imports.length).toBeGreaterThanOrEqual(2);
    for (const statement of imports) {
      const resource = JSON.stringify(statement.Resource);
      expect(resource).toContain(':securityhub:eu-central-1:');
      expect(resource).toContain(':product/');
    }
  });

  it('defaults to a daily scan, 45 days and the stack Region', () => {
    const defaults = synthesize().template;
    const schedule = Object.values(defaults.findResources('AWS::Events::Rule')).find(
      (rule) => rule.Properties.Description === 'Scan every certificate for expiry',
    );
    expect(schedule!.Properties.ScheduleExpression).toBe('rate(1 day)');
    defaults.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          EXPIRY_THRESHOLD_DAYS: '45',
          SECURITY_HUB_REGION: { Ref: 'AWS::Region' },
        }),
      },
    });
  });
});
