import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, METRICS_SERVICE, type MetricName } from '../lambda/shared/metrics.js';

export interface OperationsMonitoringProps {
  readonly exportWorkflow: sfn.IStateMachine;
  /** Every function of the app, by a name an operator recognises. */
  readonly functions: Record<string, lambda.IFunction>;
  readonly deadLetterQueues: Record<string, sqs.IQueue>;
  readonly alertTopic: sns.ITopic;
}

/**
 * What an operator looks at and is woken by: one dashboard (exports started, succeeded and failed, how
 * long they take, handler errors, dead letters) and alarms to the alert topic on failed executions,
 * timed-out or aborted ones, and handler errors.
 */
export class OperationsMonitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: OperationsMonitoringProps) {
    super(scope, id);
    const workflow = props.exportWorkflow;
    const fiveMinutes = { period: Duration.minutes(5), statistic: 'Sum' };
    const action = new actions.SnsAction(props.alertTopic);
    const alarmOn = (name: string, metric: cloudwatch.IMetric, description: string) => {
      const alarm = new cloudwatch.Alarm(this, name, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      alarm.addAlarmAction(action);
      this.alarms.push(alarm);
    };

    alarmOn(
      'ExportsFailed',
      workflow.metricFailed(fiveMinutes),
      'An export-install execution failed; its alert and its execution history say why.',
    );
    alarmOn(
      'ExportsTimedOutOrAborted',
      new cloudwatch.MathExpression({
        expression: 'timedOut + aborted',
        usingMetrics: {
          timedOut: workflow.metricTimedOut(fiveMinutes),
          aborted: workflow.metricAborted(fiveMinutes),
        },
        period: Duration.minutes(5),
      }),
      'An export-install execution timed out or was stopped by hand.',
    );
    for (const [name, fn] of Object.entries(props.functions)) {
      alarmOn(
        `${name}Errors`,
        fn.metricErrors(fiveMinutes),
        `The ${name} function failed; see its log group.`,
      );
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Export-install executions',
        left: [
          workflow.metricStarted({ ...fiveMinutes, label: 'started' }),
          workflow.metricSucceeded({ ...fiveMinutes, label: 'succeeded' }),
          workflow.metricFailed({ ...fiveMinutes, label: 'failed' }),
          workflow.metricTimedOut({ ...fiveMinutes, label: 'timed out' }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Export-install duration (install included)',
        left: [
          workflow.metricTime({ statistic: 'p50', label: 'p50' }),
          workflow.metricTime({ statistic: 'p90', label: 'p90' }),
          workflow.metricTime({ statistic: 'Maximum', label: 'max' }),
        ],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Handler errors',
        left: Object.entries(props.functions).map(([name, fn]) =>
          fn.metricErrors({ ...fiveMinutes, label: name }),
        ),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead letters waiting',
        left: Object.entries(props.deadLetterQueues).map(([name, queue]) =>
          queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', label: name }),
        ),
        width: 12,
      }),
    );
    const appMetric = (metricName: MetricName, statistic: string, label: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: METRICS_SERVICE },
        statistic,
        period: Duration.hours(1),
        label,
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Certificates expiring soon',
        left: [
          appMetric('CertificatesInsideWindow', 'Maximum', 'ACM certificates inside the window'),
          appMetric('PrivateCaCertificatesExpiring', 'Maximum', 'Private CA certificates expiring'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Findings raised',
        left: [appMetric('FindingsRaised', 'Sum', 'raised'), appMetric('FindingsRefused', 'Sum', 'refused')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Hosts',
        left: [
          appMetric('InstancesInstalled', 'Sum', 'installed'),
          appMetric('InstancesFailed', 'Sum', 'install failed'),
          appMetric('HostsDrifted', 'Sum', 'drifted'),
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }),
    );
  }
}
