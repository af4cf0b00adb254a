import type { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { driftMessage } from '../shared/alert-message.js';
import {
  DRIFT_GENERATOR_ID,
  archivedFinding,
  driftFinding,
  driftFindingId,
} from '../shared/certificate-finding.js';
import { type HostState, recordHostState } from '../shared/host-state.js';
import { logger } from '../shared/logger.js';
import { mappingByAssociation } from '../shared/mapping-store.js';
import { activeFindings, importFindings } from '../shared/security-hub.js';

/** State Manager's "EC2 State Manager Instance Association State Change" event (detail fields as sent). */
export interface InstanceAssociationEvent {
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
  readonly securityHub: SecurityHubClient;
  readonly sns: SNSClient;
  readonly topicArn: string;
  readonly securityHubRegion: string;
  readonly now: () => Date;
}

export type ConvergenceOutcome =
  | { readonly action: 'ignored'; readonly why: string }
  | { readonly action: 'recorded' | 'raised' | 'updated' | 'resolved'; readonly host: HostState };

/**
 * Records what a mapping's association last did on one host. A failed run becomes the host's drift
 * finding (the same id the drift check uses) and, the first time, one alert naming the host and why;
 * later failures update the finding without alerting again. A successful run archives it.
 */
export async function handleConvergenceResult(
  event: InstanceAssociationEvent,
  deps: ConvergenceResultDependencies,
): Promise<ConvergenceOutcome> {
  const detail = event.detail ?? {};
  const associationId = detail['association-id'];
  const instanceId = detail['instance-id'];
  if (!associationId || !instanceId) return { action: 'ignored', why: 'no association or instance id' };
  const mapping = await mappingByAssociation(deps.db, deps.tableName, associationId);
  if (!mapping) return { action: 'ignored', why: 'the association belongs to no mapping (unmapped?)' };

  const status = detail.status ?? 'Unknown';
  const host: HostState = {
    AssociationId: associationId,
    InstanceId: instanceId,
    Status: status,
    DetailedStatus: detail['detailed-status'],
    ErrorCode: detail['error-code'] || undefined,
    ExecutionSummary: detail['execution-summary'],
    LastExecutionDate: detail['last-execution-date'],
    LastSuccessfulExecutionDate: detail['last-successful-execution-date'] || undefined,
    ...(status === 'Success' && mapping.Serial ? { Serial: mapping.Serial } : {}),
  };
  await recordHostState(deps.db, deps.hostsTableName, host);
  if (status !== 'Success' && status !== 'Failed') return { action: 'recorded', host };

  const now = deps.now();
  const active = await activeFindings(deps.securityHub, [DRIFT_GENERATOR_ID], mapping.CertificateArn);
  if (active.skippedBecause) {
    logger.warn('findings not read; host state recorded only', { reason: active.skippedBecause });
    return { action: 'recorded', host };
  }
  const existing = active.findings.find(
    (finding) => finding.Id === driftFindingId(mapping.CertificateArn, instanceId),
  );

  if (status === 'Success') {
    if (!existing) return { action: 'recorded', host };
    await importFindings(deps.securityHub, [archivedFinding(existing, now)]);
    return { action: 'resolved', host };
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
      { instanceId, failure },
      { securityHubRegion: deps.securityHubRegion, now, createdAt: existing?.CreatedAt },
    ),
  ]);
  if (existing) return { action: 'updated', host };
  await deps.sns.send(
    new PublishCommand({
      ...driftMessage(mapping.CertName, mapping.CertificateArn, facts.currentSerial, [
        { instanceId, failure },
      ]),
      TopicArn: deps.topicArn,
    }),
  );
  return { action: 'raised', host };
}

function failureOf(host: HostState): string {
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
