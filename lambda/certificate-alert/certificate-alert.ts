import type { ACMClient } from '@aws-sdk/client-acm';
import type { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { describeIfPresent } from '../shared/acm-certificates.js';
import { certificateAlertMessage } from '../shared/alert-message.js';
import { type CertificateFacts, factsFromDetail } from '../shared/certificate-facts.js';
import {
  type FindingKind,
  GENERATOR_IDS,
  archivedFinding,
  certificateFinding,
  findingSeverity,
} from '../shared/certificate-finding.js';
import { EXPORT_REQUEST_FIELDS, type TargetLocation } from '../shared/export-request.js';
import { arnLocation, clientFor } from '../shared/target-location.js';
import { logger } from '../shared/logger.js';
import { activeFindings, importFindings } from '../shared/security-hub.js';

export interface AlertDependencies {
  readonly acm: ACMClient;
  /**
   * For a certificate of a member account (its events forwarded by the member stack): ACM there, through
   * the member role, and this deployment's account, which imports the finding (Security Hub takes a
   * finding only from the account it names).
   */
  readonly acmAt?: (location: TargetLocation) => ACMClient;
  readonly homeAccount?: string;
  readonly securityHub: SecurityHubClient;
  readonly sns: SNSClient;
  readonly topicArn: string;
  readonly securityHubRegion: string;
  readonly now: () => Date;
}

/** The ACM lifecycle events this handler takes. */
export const ALERT_DETAIL_TYPES = {
  'ACM Certificate Approaching Expiration': 'ApproachingExpiration',
  'ACM Certificate Renewal Action Required': 'RenewalActionRequired',
  'ACM Certificate Expired': 'Expired',
} as const;
export const RESOLVING_DETAIL_TYPE = 'ACM Certificate Available';

export interface AcmLifecycleEvent {
  readonly 'detail-type': string;
  readonly resources?: readonly string[];
  readonly detail?: Record<string, unknown>;
}

export interface AlertOutcome {
  readonly certificateArn: string;
  readonly findingId?: string;
  readonly archived: number;
  readonly notified: boolean;
  /** Why no finding was made or changed, when none was. */
  readonly findingSkippedBecause?: string;
}

const CERTIFICATE_ARN = new RegExp(EXPORT_REQUEST_FIELDS.CertificateArn.pattern);

/**
 * Turns an ACM lifecycle event into a Security Hub finding and an alert; a certificate that became
 * available again (renewed or re-imported) has its findings archived instead.
 */
export async function handleCertificateEvent(
  event: AcmLifecycleEvent,
  deps: AlertDependencies,
): Promise<AlertOutcome> {
  const certificateArn = (event.resources ?? []).find((resource) => CERTIFICATE_ARN.test(resource));
  if (!certificateArn) throw new Error(`the ${event['detail-type']} event names no ACM certificate`);
  // Dates are taken when the event is handled, never when the function started.
  const now = deps.now();

  if (event['detail-type'] === RESOLVING_DETAIL_TYPE) {
    return archiveFindings(certificateArn, deps, now);
  }
  const eventType = ALERT_DETAIL_TYPES[event['detail-type'] as keyof typeof ALERT_DETAIL_TYPES];
  if (!eventType) throw new Error(`unexpected event type "${event['detail-type']}"`);

  const owner = arnLocation(certificateArn);
  const member = deps.homeAccount !== undefined && owner.TargetAccount !== deps.homeAccount;
  const acm = clientFor(deps.acm, deps.acmAt, member ? owner : undefined);
  const facts = withEventDetail(
    certificateArn,
    await describeIfPresent(acm, certificateArn),
    event.detail ?? {},
    now,
  );
  const kind: FindingKind = eventType === 'RenewalActionRequired' ? 'renewal-action-required' : 'expiry';
  const existing = await activeFindings(deps.securityHub, [GENERATOR_IDS[kind]], certificateArn);
  const finding = certificateFinding(kind, facts, {
    securityHubRegion: deps.securityHubRegion,
    now,
    createdAt: existing.findings[0]?.CreatedAt,
    ...(member ? { reportingAccount: deps.homeAccount } : {}),
  });
  const imported = existing.skippedBecause
    ? { skippedBecause: existing.skippedBecause }
    : await importFindings(deps.securityHub, [finding]);
  if (imported.skippedBecause) {
    logger.warn('no Security Hub finding made', { certificateArn, reason: imported.skippedBecause });
  }

  const message = certificateAlertMessage({
    eventType,
    severity: findingSeverity(kind, facts, now),
    facts,
    action: finding.Remediation?.Recommendation?.Text ?? '',
    now,
  });
  await deps.sns.send(new PublishCommand({ ...message, TopicArn: deps.topicArn }));
  return {
    certificateArn,
    findingId: finding.Id,
    archived: 0,
    notified: true,
    ...(imported.skippedBecause ? { findingSkippedBecause: imported.skippedBecause } : {}),
  };
}

async function archiveFindings(
  certificateArn: string,
  deps: AlertDependencies,
  now: Date,
): Promise<AlertOutcome> {
  const active = await activeFindings(deps.securityHub, Object.values(GENERATOR_IDS), certificateArn);
  if (active.skippedBecause) {
    logger.warn('no Security Hub finding archived', { certificateArn, reason: active.skippedBecause });
    return { certificateArn, archived: 0, notified: false, findingSkippedBecause: active.skippedBecause };
  }
  const outcome = await importFindings(
    deps.securityHub,
    active.findings.map((finding) => archivedFinding(finding, now)),
  );
  logger.info('findings archived: the certificate is available again', {
    certificateArn,
    archived: outcome.imported,
  });
  return { certificateArn, archived: outcome.imported, notified: false };
}

/** Describe's answer where there is one, the event's own fields where not (a certificate deleted since). */
function withEventDetail(
  certificateArn: string,
  detail: Parameters<typeof factsFromDetail>[0] | undefined,
  eventDetail: Record<string, unknown>,
  now: Date,
): CertificateFacts {
  const described = detail ? factsFromDetail(detail) : { arn: certificateArn };
  const expiration =
    typeof eventDetail.CertificateExpirationDate === 'string'
      ? new Date(eventDetail.CertificateExpirationDate)
      : undefined;
  return {
    ...described,
    arn: certificateArn,
    domainName: described.domainName ?? stringField(eventDetail.CommonName),
    type: described.type ?? stringField(eventDetail.CertificateType),
    notAfter: described.notAfter ?? expiration ?? daysFrom(now, eventDetail.DaysToExpiry),
    renewalStatusReason: described.renewalStatusReason ?? stringField(eventDetail.RenewalStatusReason),
  };
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function daysFrom(now: Date, value: unknown): Date | undefined {
  const days = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(days) ? new Date(now.getTime() + days * 86_400_000) : undefined;
}
