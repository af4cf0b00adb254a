import type { ACMClient } from '@aws-sdk/client-acm';
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
import { insideWindow } from '../shared/expiry-severity.js';
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
  readonly findings: number;
  readonly archived: number;
  readonly notified: boolean;
  readonly findingSkippedBecause?: string;
  readonly findingsRefused: number;
}

/** Certificates whose expiry matters: issued ones, and expired ones nobody replaced. */
const SCANNED_STATUSES = new Set(['ISSUED', 'EXPIRED']);

/**
 * Looks at every certificate in the Region. The window is decided from the list's own NotAfter, so only
 * the certificates inside it are described (for renewal status and use). Each gets its expiry finding,
 * updated in place; findings of certificates that left the window (renewed, re-imported, deleted) are
 * archived; one digest lists them all, and nothing is sent when there is nothing to say.
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
  const described = await settleWithConcurrency(candidates, deps.describeConcurrency ?? 5, (summary) =>
    describeIfPresent(deps.acm, summary.CertificateArn!),
  );
  const inWindow: CertificateFacts[] = [];
  described.forEach((result) => {
    if (result.status === 'rejected') throw result.reason;
    // Deleted between the list and the describe: it needs no alert, and its finding is archived below.
    if (result.value) inWindow.push(factsFromDetail(result.value));
  });

  const existing = await activeFindings(deps.securityHub, [GENERATOR_IDS.expiry]);
  const previous = new Map(existing.findings.map((finding) => [finding.Id, finding]));
  const findings = inWindow.map((facts) =>
    certificateFinding('expiry', facts, {
      securityHubRegion: deps.securityHubRegion,
      now,
      createdAt: previous.get(findingId(facts.arn, 'expiry'))?.CreatedAt,
    }),
  );
  const current = new Set(findings.map((finding) => finding.Id));
  const archived = existing.findings
    .filter((finding) => !current.has(finding.Id))
    .map((finding: AwsSecurityFinding) => archivedFinding(finding, now));

  const imported = existing.skippedBecause
    ? { imported: 0, failed: [], skippedBecause: existing.skippedBecause }
    : await importFindings(deps.securityHub, [...findings, ...archived]);
  if (imported.skippedBecause)
    logger.warn('no Security Hub findings made', { reason: imported.skippedBecause });

  const entries: DigestEntry[] = inWindow.map((facts) => ({
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
    insideWindow: inWindow.length,
    findings: findings.length,
    archived: archived.length,
    notified: message !== undefined,
    findingsRefused: imported.failed.length,
    ...(imported.skippedBecause ? { findingSkippedBecause: imported.skippedBecause } : {}),
  };
  logger.info('expiry scan finished', { ...outcome });
  return outcome;
}
