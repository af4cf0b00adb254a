import type { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { digestMessage } from '../shared/alert-message.js';
import { type AuditRecord, auditRows, commonName, formatOfKey } from '../shared/audit-report.js';
import type { CertificateFacts } from '../shared/certificate-facts.js';
import { certificateFinding, findingSeverity } from '../shared/certificate-finding.js';
import { insideWindow } from '../shared/expiry-severity.js';
import { logger } from '../shared/logger.js';
import { importFindings } from '../shared/security-hub.js';

/** ACM requests and renews these itself: its own expiry alerts cover them. */
export const ACM_SERVICE_PRINCIPAL = 'acm.amazonaws.com';
/** Malformed rows are logged one by one up to this many, then only counted. */
const LOGGED_PROBLEMS = 20;

export interface AuditProcessDependencies {
  readonly securityHub: SecurityHubClient;
  readonly sns: SNSClient;
  readonly topicArn: string;
  readonly securityHubRegion: string;
  readonly thresholdDays: number;
  /** Also report certificates ACM requested (and renews itself). @default false */
  readonly includeAcmManaged?: boolean;
  readonly now: () => Date;
}

/** Opens the report from its start; called once per pass. */
export type ReportOpener = () => Promise<AsyncIterable<Uint8Array | string>>;

export interface AuditOutcome {
  readonly key: string;
  readonly rows: number;
  readonly malformed: number;
  /** Inside the window, not revoked, not ACM's: before superseded ones are set aside. */
  readonly expiring: number;
  readonly superseded: number;
  readonly reported: number;
  readonly notified: boolean;
  readonly findingSkippedBecause?: string;
}

/**
 * Finds the certificates of one audit report that expire within the threshold, are not revoked, are not
 * ACM's own, and have not been replaced by a newer certificate for the same subject; raises a finding for
 * each and sends one digest. The report is streamed twice (first the candidates, then what supersedes
 * them), so memory grows with the expiring certificates, not with the report.
 */
export async function processAuditReport(
  key: string,
  open: ReportOpener,
  deps: AuditProcessDependencies,
): Promise<AuditOutcome> {
  const format = formatOfKey(key);
  if (!format) throw new Error(`${key} is not a JSON or CSV audit report`);
  const now = deps.now();

  const candidates = new Map<string, AuditRecord[]>();
  let rows = 0;
  let malformed = 0;
  // Rows expiring after the window are counted and otherwise skipped before they are parsed in full.
  const expiringBy = new Date(now.getTime() + deps.thresholdDays * 86_400_000);
  for await (const row of auditRows(await open(), format, { expiringBy })) {
    rows += 1;
    if ('skipped' in row) continue;
    if ('problem' in row) {
      malformed += 1;
      if (malformed <= LOGGED_PROBLEMS)
        logger.warn('audit report row skipped', { key, row: row.index, problem: row.problem });
      continue;
    }
    const { record } = row;
    if (record.revokedAt) continue;
    if (record.requestedByServicePrincipal === ACM_SERVICE_PRINCIPAL && !deps.includeAcmManaged) continue;
    if (!insideWindow(record.notAfter, now, deps.thresholdDays)) continue;
    const list = candidates.get(record.subject);
    if (list) list.push(record);
    else candidates.set(record.subject, [record]);
  }
  const expiring = [...candidates.values()].reduce((sum, list) => sum + list.length, 0);

  // A candidate is superseded when a certificate (not revoked) for its subject expires later: only the
  // latest expiry of each candidate subject matters, so the second pass keeps one number per subject and
  // the work stays linear in the rows however many certificates share a subject.
  const latest = new Map<string, number>();
  if (expiring > 0) {
    const onlySubjects = new Set(candidates.keys());
    for await (const row of auditRows(await open(), format, { onlySubjects })) {
      if (!('record' in row) || row.record.revokedAt) continue;
      const notAfter = row.record.notAfter.getTime();
      if (notAfter > (latest.get(row.record.subject) ?? -Infinity)) latest.set(row.record.subject, notAfter);
    }
  }
  const superseded = new Set<string>();
  const reported: AuditRecord[] = [];
  for (const [subject, list] of candidates) {
    const latestNotAfter = latest.get(subject) ?? -Infinity;
    for (const record of list) {
      if (latestNotAfter > record.notAfter.getTime()) superseded.add(record.certificateArn);
      else reported.push(record);
    }
  }

  const facts = reported.map(factsFromAuditRecord);
  const findings = facts.map((fact) =>
    certificateFinding('private-ca-expiry', fact, { securityHubRegion: deps.securityHubRegion, now }),
  );
  const imported = findings.length > 0 ? await importFindings(deps.securityHub, findings) : undefined;
  if (imported?.skippedBecause)
    logger.warn('no Security Hub findings made', { key, reason: imported.skippedBecause });

  const footer = [
    `From the audit report ${key}.`,
    ...(malformed > 0 ? [`${malformed} malformed row(s) were skipped; see the processor's log.`] : []),
    ...(imported && imported.failed.length > 0
      ? [`Security Hub refused ${imported.failed.length} finding(s).`]
      : []),
  ];
  const message = digestMessage(
    'AuditDigest',
    `Private CA certificates expiring within ${deps.thresholdDays} days`,
    facts.map((fact) => ({ facts: fact, severity: findingSeverity('private-ca-expiry', fact, now) })),
    now,
    footer,
  );
  if (message) await deps.sns.send(new PublishCommand({ ...message, TopicArn: deps.topicArn }));

  const outcome: AuditOutcome = {
    key,
    rows,
    malformed,
    expiring,
    superseded: superseded.size,
    reported: reported.length,
    notified: message !== undefined,
    ...(imported?.skippedBecause ? { findingSkippedBecause: imported.skippedBecause } : {}),
  };
  logger.info('audit report processed', { ...outcome });
  return outcome;
}

export function factsFromAuditRecord(record: AuditRecord): CertificateFacts {
  return {
    arn: record.certificateArn,
    domainName: commonName(record.subject) ?? record.subject,
    type: 'PRIVATE',
    notAfter: record.notAfter,
    notBefore: record.notBefore,
    serial: record.serial,
    subject: record.subject,
    privateCa: {
      certificateAuthorityArn: record.certificateArn.split('/certificate/')[0]!,
      templateArn: record.templateArn,
    },
  };
}
