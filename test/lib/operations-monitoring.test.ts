import { Match, type Template } from 'aws-cdk-lib/assertions';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { synthesize } from '../helpers/stack.js';

/** Every handler folder under lambda/ is one function of the app. */
const HANDLERS = readdirSync(path.join(PROJECT_ROOT, 'lambda')).filter((name) => name !== 'shared');

let template: Template;
beforeAll(() => {
  template = synthesize().template;
});

const alarms = () =>
  Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties);

describe('operations monitoring', () => {
  it('alarms on failed export-install executions, to the alert topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Threshold: 1,
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlertsTopic') }],
    });
  });

  it('alarms on timed-out or aborted executions', () => {
    const math = alarms().find((alarm) => JSON.stringify(alarm.Metrics ?? []).includes('timedOut + aborted'));
    expect(math).toBeDefined();
  });

  it('alarms on errors of every handler of the app', () => {
    const errorAlarms = alarms().filter(
      (alarm) => alarm.MetricName === 'Errors' && alarm.Namespace === 'AWS/Lambda',
    );
    expect(errorAlarms).toHaveLength(HANDLERS.length);
    for (const alarm of errorAlarms)
      expect(alarm.AlarmActions).toEqual([{ Ref: expect.stringMatching(/AlertsTopic/) }]);
  });

  it('has a dashboard of executions, duration, handler errors, dead letters and alarms', () => {
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]!;
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const title of [
      'Export-install executions',
      'Export-install duration',
      'Handler errors',
      'Dead letters waiting',
      'Alarms',
    ]) {
      expect(body).toContain(title);
    }
    for (const metric of [
      'ExecutionsStarted',
      'ExecutionsSucceeded',
      'ExecutionsFailed',
      'ExecutionTime',
      'ApproximateNumberOfMessagesVisible',
    ]) {
      expect(body).toContain(metric);
    }
    template.hasOutput('DashboardName', {});
  });

  it("charts the handlers' own EMF metrics, in the app's namespace", () => {
    const body = JSON.stringify(
      Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody,
    );
    for (const metric of [
      'CertificatesInsideWindow',
      'PrivateCaCertificatesExpiring',
      'FindingsRaised',
      'HostsDrifted',
      'InstancesInstalled',
    ]) {
      expect(body).toContain(metric);
    }
    expect(body).toContain('CertLifecycle');
    expect(body).toContain('cert-lifecycle');
  });
});
