import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';

/**
 * The app's own CloudWatch metrics, written as Embedded Metric Format log lines (no API calls), in one
 * namespace with the dimension `service=cert-lifecycle`. The dashboard reads the same names from here.
 */
export const METRICS_NAMESPACE = 'CertLifecycle';
export const METRICS_SERVICE = 'cert-lifecycle';

export const METRIC_NAMES = [
  'CertificatesInsideWindow',
  'PrivateCaCertificatesExpiring',
  'FindingsRaised',
  'FindingsRefused',
  'HostsDrifted',
  'InstancesInstalled',
  'InstancesFailed',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });

/** Emits the counts of one invocation. */
export function emitCounts(counts: Partial<Record<MetricName, number>>): void {
  for (const [name, value] of Object.entries(counts)) {
    if (value !== undefined) metrics.addMetric(name, MetricUnit.Count, value);
  }
  metrics.publishStoredMetrics();
}
