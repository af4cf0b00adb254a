import type { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { driftMessage, hostLocation } from '../shared/alert-message.js';
import { type TargetLocation, locationOf } from '../shared/export-request.js';
import { clientFor, eventLocation, sameLocation } from '../shared/target-location.js';
import {
  DRIFT_GENERATOR_ID,
  archivedFinding,
  driftFinding,
  driftFindingId,
} from '../shared/certificate-finding.js';
import { hostReports, reportOfRun } from '../shared/host-compliance.js';
import { type HostState, hostStatePartition, recordHostState } from '../shared/host-state.js';
import { logger } from '../shared/logger.js';
import { type CertificateMapping, mappingsByAssociation } from '../shared/mapping-store.js';
import { activeFindings, importFindings } from '../shared/security-hub.js';

/** State Manager's "EC2 State Manager Instance Association State Change" event (detail fields as sent). */
export interface InstanceAssociationEvent {
  /** Where the association ran: a member account's events come to the central bus with theirs. */
  readonly account?: string;
  readonly region?: string;
  readonly detail?: {
    readonly 'association-id'?: string;
    readonly 'instance-id'?: string;
    readonly status?: string;
    readonly 'detailed-status'?: string;
    readonly 'error-code'?: string;
    readonly 'execution-summary'?: string;
    readonly 'last-execution-date'?: string;
    readonly 'last-successful-execution-date'?: string;
  };
}

export interface ConvergenceResultDependencies {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly hostsTableName: string;
  /** Reads what the node recorded for each certificate (ListComplianceItems). */
  readonly ssm: SSMClient;
  /** The same in a member account and Region; `home` says which account and Region are this one. */
  readonly ssmAt?: (location: TargetLocation) => SSMClient;
  readonly home?: { readonly account: string; readonly region: string };
  readonly securityHub: SecurityHubClient;
  readonly sns: SNSClient;
  readonly topicArn: string;
  readonly securityHubRegion: string;
  readonly now: () => Date;
}

export type CertificateOnHost = {
  readonly certName: string;
  readonly action: 'recorded' | 'raised' | 'updated' | 'resolved';
  readonly host: HostState;
};

export type ConvergenceOutcome =
  | { readonly action: 'ignored'; readonly why: string }
  | { readonly action: 'recorded'; readonly certificates: CertificateOnHost[] };

/**
 * Records what a target's association last did on one host, certificate by certificate: each
 * certificate's outcome is the one the node recorded for it in this run (its compliance item), or the
 * run's as a whole where it recorded none. A certificate that failed becomes the host's drift finding
 * for it (the same id the drift check uses) and, the first time, one alert naming the host and why;
 * later failures update the finding without alerting again. A success archives it.
 */
export async function handleConvergenceResult(
  event: InstanceAssociationEvent,
  deps: ConvergenceResultDependencies,
): Promise<ConvergenceOutcome> {
  const detail = event.detail ?? {};
  const associationId = detail['association-id'];
  const instanceId = detail['instance-id'];
  if (!associationId || !instanceId) return { action: 'ignored', why: 'no association or instance id' };
  const location = deps.home && eventLocation(event, deps.home);
  // An association id is an account's own: only mappings in the account and Region the event came from.
  const mappings = (await mappingsByAssociation(deps.db, deps.tableName, associationId)).filter(
    (mapping) => !deps.home || sameLocation(mapping, location ?? {}),
  );
  if (mappings.length === 0) {
    return { action: 'ignored', why: 'the association belongs to no mapping (unmapped?)' };
  }
  const ssm = clientFor(deps.ssm, deps.ssmAt, location);

  const status = detail.status ?? 'Unknown';
  const finished = status === 'Success' || status === 'Failed';
  const ranAt = Date.parse(detail['last-execution-date'] ?? '') || deps.now().getTime();
  const reports = finished ? ((await hostReports(ssm, [instanceId])).get(instanceId) ?? []) : [];
  const certificates: CertificateOnHost[] = [];
  for (const mapping of mappings) {
    const report = mapping.SecretId ? reportOfRun(reports, mapping.SecretId, ranAt) : undefined;
    const own = report ? (report.installed ? 'Success' : 'Failed') : status;
    const host: HostState = {
      AssociationId: hostStatePartition(mapping) ?? associationId,
      InstanceId: instanceId,
      Status: own,
      DetailedStatus: detail['detailed-status'],
      ErrorCode: detail['error-code'] || undefined,
      ExecutionSummary: detail['execution-summary'],
      LastExecutionDate: detail['last-execution-date'],
      LastSuccessfulExecutionDate: detail['last-successful-execution-date'] || undefined,
      Serial: report?.serial ?? (own === 'Success' ? mapping.Serial : undefined),
      Error: report?.error,
    };
    await recordHostState(deps.db, deps.hostsTableName, host);
    const action = finished ? await reportDrift(mapping, host, deps) : 'recorded';
    certificates.push({ certName: mapping.CertName, action, host });
  }
  return { action: 'recorded', certificates };
}

/** The host's drift finding for one certificate: raised, updated or archived as the host now stands. */
async function reportDrift(
  mapping: CertificateMapping,
  host: HostState,
  deps: ConvergenceResultDependencies,
): Promise<CertificateOnHost['action']> {
  const now = deps.now();
  const active = await activeFindings(deps.securityHub, [DRIFT_GENERATOR_ID], mapping.CertificateArn);
  if (active.skippedBecause) {
    logger.warn('findings not read; host state recorded only', { reason: active.skippedBecause });
    return 'recorded';
  }
  const existing = active.findings.find(
    (finding) => finding.Id === driftFindingId(mapping.CertificateArn, host.InstanceId),
  );

  if (host.Status === 'Success') {
    if (!existing) return 'recorded';
    await importFindings(deps.securityHub, [archivedFinding(existing, now)]);
    return 'resolved';
  }

  const failure = failureOf(host);
  const facts = {
    certificateArn: mapping.CertificateArn,
    certName: mapping.CertName,
    currentSerial: mapping.Serial ?? 'unknown',
  };
  await importFindings(deps.securityHub, [
    driftFinding(
      facts,
      { instanceId: host.InstanceId, failure, ...hostLocation(locationOf(mapping)) },
      { securityHubRegion: deps.securityHubRegion, now, createdAt: existing?.CreatedAt },
    ),
  ]);
  if (existing) return 'updated';
  await deps.sns.send(
    new PublishCommand({
      ...driftMessage(mapping.CertName, mapping.CertificateArn, facts.currentSerial, [
        { instanceId: host.InstanceId, failure, ...hostLocation(locationOf(mapping)) },
      ]),
      TopicArn: deps.topicArn,
    }),
  );
  return 'raised';
}

function failureOf(host: HostState): string {
  if (host.Error) return host.Error;
  return (
    [
      host.DetailedStatus && host.DetailedStatus !== host.Status ? host.DetailedStatus : undefined,
      host.ErrorCode,
      host.ExecutionSummary,
    ]
      .filter((part): part is string => Boolean(part))
      .join('; ') || 'the association run failed'
  );
}
