import { type ComplianceItem, ListComplianceItemsCommand, type SSMClient } from '@aws-sdk/client-ssm';

/**
 * What each node says it did with each certificate. After installing a certificate, the install
 * document's script records the outcome on the node as a Systems Manager compliance item of its own
 * type, `Custom:CertLifecycle_<mapping id>` (the last part of the mapping's secret name), with the
 * fields of its RESULT line (or the words of its ERROR line). SSM keeps those items whole, where it cuts
 * a command's output to 2,500 characters in ListCommandInvocations: a run that prints more is still
 * read right. The items hold names, serials and dates, never key material.
 */
export const COMPLIANCE_TYPE_PREFIX = 'Custom:CertLifecycle_';

/** ListComplianceItems takes at most 100 resource ids a call, and returns at most 50 items a page. */
const RESOURCES_PER_CALL = 100;
const ITEMS_PER_PAGE = 50;

export function complianceTypeOf(secretId: string): string {
  return `${COMPLIANCE_TYPE_PREFIX}${secretId.slice(secretId.lastIndexOf('/') + 1)}`;
}

/** A node's report older than the run it is read for by more than this is not that run's (clocks differ a little). */
const REPORT_SKEW_MS = 5 * 60_000;

/** One node's word on one certificate. */
export interface HostCertificateReport {
  readonly instanceId: string;
  readonly complianceType: string;
  readonly certName: string;
  readonly installed: boolean;
  /** installed, unchanged or reloaded; failed. */
  readonly status: string;
  readonly serial?: string;
  readonly notAfter?: string;
  readonly served?: string;
  /** The node's ERROR line, when it failed. */
  readonly error?: string;
  /** When the node ran it (its own clock). */
  readonly at?: string;
}

/**
 * Every report the nodes `instanceIds` hold, of one certificate (its secret) or of all of this
 * product's, by node: one call per 100 nodes and 50 items, all pages.
 */
export async function hostReports(
  ssm: SSMClient,
  instanceIds: readonly string[],
  secretId?: string,
): Promise<Map<string, HostCertificateReport[]>> {
  const reports = new Map<string, HostCertificateReport[]>();
  const filter = secretId
    ? { Key: 'ComplianceType', Values: [complianceTypeOf(secretId)], Type: 'EQUAL' as const }
    : { Key: 'ComplianceType', Values: [COMPLIANCE_TYPE_PREFIX], Type: 'BEGIN_WITH' as const };
  for (let start = 0; start < instanceIds.length; start += RESOURCES_PER_CALL) {
    let NextToken: string | undefined;
    do {
      const page = await ssm.send(
        new ListComplianceItemsCommand({
          ResourceIds: instanceIds.slice(start, start + RESOURCES_PER_CALL),
          ResourceTypes: ['ManagedInstance'],
          Filters: [filter],
          MaxResults: ITEMS_PER_PAGE,
          NextToken,
        }),
      );
      for (const item of page.ComplianceItems ?? []) {
        const report = reportOf(item);
        if (report) reports.set(report.instanceId, [...(reports.get(report.instanceId) ?? []), report]);
      }
      NextToken = page.NextToken;
    } while (NextToken);
  }
  return reports;
}

/** Among one node's reports, the one of the certificate `secretId` made by a run that began at `since` or later. */
export function reportOfRun(
  reports: readonly HostCertificateReport[],
  secretId: string,
  since: number,
): HostCertificateReport | undefined {
  const complianceType = complianceTypeOf(secretId);
  return reports.find(
    (report) =>
      report.complianceType === complianceType && Date.parse(report.at ?? '') >= since - REPORT_SKEW_MS,
  );
}

function reportOf(item: ComplianceItem): HostCertificateReport | undefined {
  if (!item.ResourceId || !item.ComplianceType?.startsWith(COMPLIANCE_TYPE_PREFIX)) return undefined;
  const details = item.Details ?? {};
  const installed = item.Status === 'COMPLIANT';
  return {
    instanceId: item.ResourceId,
    complianceType: item.ComplianceType,
    certName: item.Id ?? item.Title ?? 'unknown',
    installed,
    status: details.status ?? (installed ? 'installed' : 'failed'),
    ...(details.serial ? { serial: details.serial } : {}),
    ...(details.not_after ? { notAfter: details.not_after } : {}),
    ...(details.served ? { served: details.served } : {}),
    ...(!installed ? { error: details.error || 'the node reported the install as failed' } : {}),
    ...(item.ExecutionSummary?.ExecutionTime
      ? { at: item.ExecutionSummary.ExecutionTime.toISOString() }
      : {}),
  };
}
