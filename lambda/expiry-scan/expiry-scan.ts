import type { ACMClient, CertificateSummary } from '@aws-sdk/client-acm';
import type { AwsSecurityFinding, SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { describeIfPresent, listAllCertificates } from '../shared/acm-certificates.js';
import { type DigestEntry, digestMessage } from '../shared/alert-message.js';
import { type CertificateFacts, factsFromDetail } from '../shared/certificate-facts.js';
import {
  GENERATOR_IDS,
  archivedFinding,
  certificateFinding,
  findingId,
  findingSeverity,
} from '../shared/certificate-finding.js';
import { settleWithConcurrency } from '../shared/concurrency.js';
import { expirySeverity, insideWindow } from '../shared/expiry-severity.js';
import { logger } from '../shared/logger.js';
import { activeFindings, importFindings } from '../shared/security-hub.js';

export interface ScanDependencies {
  readonly acm: ACMClient;
  readonly securityHub: SecurityHubClient;
  readonly sns: SNSClient;
  readonly topicArn: string;
  readonly securityHubRegion: string;
  /** Certificates expiring within this many days (or expired) are reported. */
  readonly thresholdDays: number;
  readonly now: () => Date;
  /** DescribeCertificate calls in flight (ACM allows about 10 a second). @default 5 */
  readonly describeConcurrency?: number;
}

export interface ScanOutcome {
  readonly listed: number;
  readonly insideWindow: number;
  /** Findings raised or brought up to date, by why: a quiet day has none. */
  readonly findings: number;
  readonly changes: Readonly<Partial<Record<FindingChange, number>>>;
  readonly archived: number;
  readonly notified: boolean;
  readonly findingSkippedBecause?: string;
  readonly findingsRefused: number;
}

/** Certificates whose expiry matters: issued ones, and expired ones nobody replaced. */
const SCANNED_STATUSES = new Set(['ISSUED', 'EXPIRED']);

/**
 * Security Hub deletes a finding 90 days after its last update. An unchanged finding is brought up to
 * date once this many days have passed since, well inside that, so a missed scan or two loses nothing.
 */
export const FINDING_REFRESH_DAYS = 30;

/** Why a certificate inside the window gets its finding written today. */
export type FindingChange = 'new' | 'renewed' | 'severity' | 'refresh';

/**
 * Whether the expiry finding of a certificate in the window would change, decided from the list's
 * summary and the finding as it stands, without describing the certificate: none yet, another expiry
 * (renewed or re-imported), another severity (a week left, expired), or due for a refresh. The days-left
 * text of a finding is as of its last update; its NotAfter and severity are always current.
 */
export function findingChange(
  summary: CertificateSummary,
  finding: AwsSecurityFinding | undefined,
  now: Date,
): FindingChange | undefined {
  if (!finding) return 'new';
  const recorded = finding.Resources?.[0]?.Details?.AwsCertificateManagerCertificate?.NotAfter;
  if (!recorded || !summary.NotAfter || Date.parse(recorded) !== summary.NotAfter.getTime()) return 'renewed';
  const severity = finding.FindingProviderFields?.Severity?.Label ?? finding.Severity?.Label;
  if (severity !== expirySeverity(summary.NotAfter, now)) return 'severity';
  const updated = Date.parse(finding.UpdatedAt ?? '');
  if (!(now.getTime() - updated < FINDING_REFRESH_DAYS * 86_400_000)) return 'refresh';
  return undefined;
}

/**
 * Looks at every certificate in the Region. The window is decided from the list's own NotAfter; of the
 * certificates inside it, only those whose finding would change (findingChange) are described and
 * imported, so a day on which nothing changed makes no DescribeCertificate and no BatchImportFindings
 * call. Findings of certificates that left the window (renewed, re-imported, deleted) are archived. One
 * digest lists the certificates whose finding was raised or changed; nothing is sent when there is none.
 */
export async function scanCertificates(deps: ScanDependencies): Promise<ScanOutcome> {
  const now = deps.now();
  const summaries = await listAllCertificates(deps.acm);
  const candidates = summaries.filter(
    (summary) =>
      summary.CertificateArn &&
      summary.NotAfter &&
      SCANNED_STATUSES.has(summary.Status ?? '') &&
      insideWindow(summary.NotAfter, now, deps.thresholdDays),
  );
  const existing = await activeFindings(deps.securityHub, [GENERATOR_IDS.expiry]);
  const previous = new Map(existing.findings.map((finding) => [finding.Id, finding]));

  const changes: Partial<Record<FindingChange, number>> = {};
  const changed = candidates.filter((summary) => {
    const change = findingChange(summary, previous.get(findingId(summary.CertificateArn!, 'expiry')), now);
    if (change) changes[change] = (changes[change] ?? 0) + 1;
    return change !== undefined;
  });
  const described = await settleWithConcurrency(changed, deps.describeConcurrency ?? 5, (summary) =>
    describeIfPresent(deps.acm, summary.CertificateArn!),
  );
  const updated: CertificateFacts[] = [];
  described.forEach((result) => {
    if (result.status === 'rejected') throw result.reason;
    // Deleted between the list and the describe: it needs no alert, and its finding is archived below.
    if (result.value) updated.push(factsFromDetail(result.value));
  });

  const findings = updated.map((facts) =>
    certificateFinding('expiry', facts, {
      securityHubRegion: deps.securityHubRegion,
      now,
      createdAt: previous.get(findingId(facts.arn, 'expiry'))?.CreatedAt,
    }),
  );
  // Described as changed but gone by then (deleted between the list and the describe).
  const gone = new Set(changed.map((summary) => summary.CertificateArn!));
  for (const facts of updated) gone.delete(facts.arn);
  const staying = new Set(
    candidates
      .filter((summary) => !gone.has(summary.CertificateArn!))
      .map((summary) => findingId(summary.CertificateArn!, 'expiry')),
  );
  const archived = existing.findings
    .filter((finding) => !staying.has(finding.Id!))
    .map((finding: AwsSecurityFinding) => archivedFinding(finding, now));

  const toImport = [...findings, ...archived];
  const imported = existing.skippedBecause
    ? { imported: 0, failed: [], skippedBecause: existing.skippedBecause }
    : toImport.length > 0
      ? await importFindings(deps.securityHub, toImport)
      : { imported: 0, failed: [] };
  if (imported.skippedBecause)
    logger.warn('no Security Hub findings made', { reason: imported.skippedBecause });

  const entries: DigestEntry[] = updated.map((facts) => ({
    facts,
    severity: findingSeverity('expiry', facts, now),
  }));
  const footer =
    imported.failed.length > 0
      ? [`Security Hub refused ${imported.failed.length} finding(s); see the scan's log.`]
      : [];
  const message = digestMessage(
    'ExpiryDigest',
    `Certificates expiring within ${deps.thresholdDays} days`,
    entries,
    now,
    footer,
  );
  if (message) await deps.sns.send(new PublishCommand({ ...message, TopicArn: deps.topicArn }));

  const outcome: ScanOutcome = {
    listed: summaries.length,
    insideWindow: candidates.length - gone.size,
    findings: findings.length,
    changes,
    archived: archived.length,
    notified: message !== undefined,
    findingsRefused: imported.failed.length,
    ...(imported.skippedBecause ? { findingSkippedBecause: imported.skippedBecause } : {}),
  };
  logger.info('expiry scan finished', { ...outcome });
  return outcome;
}
