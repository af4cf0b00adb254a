import type { TargetLocation } from './export-request.js';
import type { MessageAttributeValue, PublishCommandInput } from '@aws-sdk/client-sns';
import { type CertificateFacts, consoleUrl } from './certificate-facts.js';
import { type SeverityLabel, daysLeft } from './expiry-severity.js';

/**
 * Alert messages for the app's topic, in one shape: a text body for email subscribers and the same facts
 * as JSON for every other protocol (SNS MessageStructure=json), with attributes a subscription can filter
 * on: event_type, severity and days_to_expiry.
 */
export type AlertEventType =
  | 'ApproachingExpiration'
  | 'RenewalActionRequired'
  | 'Expired'
  | 'ExpiryDigest'
  | 'AuditDigest'
  | 'HostDrift';

/** SNS takes at most 256 KB (bytes) per message; the two bodies share it, with room for the rest. */
const BODY_BUDGET_BYTES = 120_000;
/** SNS subjects must be under 100 characters. */
const MAX_SUBJECT = 99;

export interface CertificateAlert {
  readonly eventType: Exclude<AlertEventType, 'ExpiryDigest' | 'AuditDigest' | 'HostDrift'>;
  readonly severity: SeverityLabel;
  readonly facts: CertificateFacts;
  /** Why and what to do, e.g. the remediation of the finding. */
  readonly action: string;
  readonly now: Date;
}

export function certificateAlertMessage(alert: CertificateAlert): PublishCommandInput {
  const { facts, now } = alert;
  const name = facts.domainName ?? facts.arn;
  const days = facts.notAfter ? daysLeft(facts.notAfter, now) : undefined;
  const headline =
    alert.eventType === 'Expired'
      ? `Certificate expired: ${name}`
      : alert.eventType === 'RenewalActionRequired'
        ? `Certificate renewal needs action: ${name}`
        : `Certificate expires in ${days ?? '?'} days: ${name}`;
  const lines = [
    headline,
    '',
    `Domain:        ${facts.domainName ?? 'unknown'}`,
    `Certificate:   ${facts.arn}`,
    `Type:          ${facts.type ?? 'unknown'}`,
    `Expires:       ${facts.notAfter?.toISOString() ?? 'unknown'}${days !== undefined ? ` (${days} days left)` : ''}`,
    `Severity:      ${alert.severity}`,
    ...(facts.renewalStatus
      ? [
          `Renewal:       ${facts.renewalStatus}${facts.renewalStatusReason ? ` (${facts.renewalStatusReason})` : ''}`,
        ]
      : []),
    `In use by:     ${facts.inUseBy && facts.inUseBy.length > 0 ? facts.inUseBy.join(', ') : 'nothing'}`,
    '',
    `What to do: ${alert.action}`,
    '',
    `Console: ${consoleUrl(facts.arn, facts.privateCa)}`,
  ];
  const json = {
    eventType: alert.eventType,
    severity: alert.severity,
    daysToExpiry: days,
    certificate: {
      ...facts,
      notAfter: facts.notAfter?.toISOString(),
      notBefore: facts.notBefore?.toISOString(),
    },
    action: alert.action,
    consoleUrl: consoleUrl(facts.arn, facts.privateCa),
  };
  return envelope(headline, lines.join('\n'), JSON.stringify(json), alert.eventType, alert.severity, days);
}

export interface DigestEntry {
  readonly facts: CertificateFacts;
  readonly severity: SeverityLabel;
}

/**
 * One message listing every certificate inside the window, most urgent first; "and N more" when the list
 * would not fit. Undefined when there is nothing to say (no email at all).
 */
export function digestMessage(
  eventType: 'ExpiryDigest' | 'AuditDigest',
  title: string,
  entries: readonly DigestEntry[],
  now: Date,
  footer: readonly string[] = [],
): PublishCommandInput | undefined {
  if (entries.length === 0) return undefined;
  const sorted = [...entries].sort(
    (a, b) => (a.facts.notAfter?.getTime() ?? 0) - (b.facts.notAfter?.getTime() ?? 0),
  );
  const worst = sorted.reduce<SeverityLabel>(
    (current, entry) => (rank(entry.severity) > rank(current) ? entry.severity : current),
    'LOW',
  );
  const subject = `${title}: ${entries.length} certificate${entries.length === 1 ? '' : 's'}`;
  const textLines: string[] = [subject, ''];
  const jsonEntries: unknown[] = [];
  let textBytes = 0;
  let jsonBytes = 0;
  let listed = 0;
  for (const entry of sorted) {
    const days = entry.facts.notAfter ? daysLeft(entry.facts.notAfter, now) : undefined;
    const line = `${entry.severity.padEnd(8)} ${String(days ?? '?').padStart(5)} days  ${entry.facts.notAfter?.toISOString().slice(0, 10) ?? '          '}  ${entry.facts.domainName ?? ''}  ${entry.facts.arn}`;
    const item = {
      severity: entry.severity,
      daysToExpiry: days,
      notAfter: entry.facts.notAfter?.toISOString(),
      domainName: entry.facts.domainName,
      arn: entry.facts.arn,
      type: entry.facts.type,
    };
    // Counted as they will travel: each body is itself a JSON string inside the message.
    const lineBytes = escapedBytes(line) + 2;
    const itemBytes = escapedBytes(JSON.stringify(item)) + 2;
    if (textBytes + lineBytes > BODY_BUDGET_BYTES || jsonBytes + itemBytes > BODY_BUDGET_BYTES) break;
    textLines.push(line);
    jsonEntries.push(item);
    textBytes += lineBytes;
    jsonBytes += itemBytes;
    listed += 1;
  }
  const more = entries.length - listed;
  if (more > 0) textLines.push(`… and ${more} more`);
  textLines.push(...(footer.length > 0 ? ['', ...footer] : []));
  const json = JSON.stringify({
    eventType,
    severity: worst,
    total: entries.length,
    listed,
    more,
    certificates: jsonEntries,
  });
  return envelope(subject, textLines.join('\n'), json, eventType, worst, undefined);
}

/** Where a drifted host is, as it names it: nothing for this deployment's own account and Region. */
export function hostLocation(location: TargetLocation | undefined): Pick<DriftedHost, 'location'> {
  return location ? { location: { account: location.TargetAccount, region: location.TargetRegion } } : {};
}

export interface DriftedHost {
  readonly instanceId: string;
  /** The host's account and Region, when not this deployment's. */
  readonly location?: { readonly account: string; readonly region: string };
  /** The serial the host has, or undefined when its files are missing. */
  readonly serial?: string;
  /** Why the mapping's association could not install the certificate there, when that is the news. */
  readonly failure?: string;
  /**
   * What the host's service serves at the profile's endpoint, when its files are current but that is
   * not: the serial, or none when nothing answered TLS there.
   */
  readonly served?: { readonly endpoint: string; readonly serial?: string };
}

/** "its service at 127.0.0.1:443 serves serial 0a:…" or "nothing answers TLS at 127.0.0.1:443". */
export function servedWords(served: NonNullable<DriftedHost['served']>): string {
  return served.serial
    ? `its service at ${served.endpoint} serves serial ${served.serial}`
    : `nothing answers TLS at ${served.endpoint}`;
}

/** One alert for the hosts of one mapping that do not hold ACM's current certificate. */
export function driftMessage(
  certName: string,
  certificateArn: string,
  currentSerial: string,
  hosts: readonly DriftedHost[],
): PublishCommandInput {
  const subject = `Certificate drift: ${hosts.length} host${hosts.length === 1 ? '' : 's'} not serving the current ${certName}`;
  const lines = [
    subject,
    '',
    `Certificate:     ${certificateArn}`,
    `Current serial:  ${currentSerial}`,
    '',
    ...hosts.map(
      (host) =>
        `  ${host.instanceId.padEnd(22)} ${host.location ? `(account ${host.location.account}, ${host.location.region}) ` : ''}${host.failure ? `install failing: ${host.failure}` : host.served ? `files current, but ${servedWords(host.served)}` : host.serial ? `serves serial ${host.serial}` : 'files missing'}`,
    ),
    '',
    'What to do: export the certificate to this target again (npm run cli -- export …), then check the hosts that still differ.',
  ];
  const severity: SeverityLabel = hosts.some((host) => !host.serial || (host.served && !host.served.serial))
    ? 'HIGH'
    : 'MEDIUM';
  const json = JSON.stringify({
    eventType: 'HostDrift',
    severity,
    certName,
    certificateArn,
    currentSerial,
    hosts,
  });
  return envelope(subject, lines.join('\n'), json, 'HostDrift', severity, undefined);
}

function envelope(
  subject: string,
  text: string,
  json: string,
  eventType: AlertEventType,
  severity: SeverityLabel,
  days: number | undefined,
): PublishCommandInput {
  const attributes: Record<string, MessageAttributeValue> = {
    event_type: { DataType: 'String', StringValue: eventType },
    severity: { DataType: 'String', StringValue: severity },
    ...(days !== undefined ? { days_to_expiry: { DataType: 'Number', StringValue: String(days) } } : {}),
  };
  return {
    Subject: safeSubject(subject),
    MessageStructure: 'json',
    // Email gets the text; every other protocol (email-json, SQS, Lambda, HTTPS) the JSON.
    Message: JSON.stringify({ default: json, email: text }),
    MessageAttributes: attributes,
  };
}

/** Under 100 characters, printable, one line. */
export function safeSubject(subject: string): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  const flat = subject.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length <= MAX_SUBJECT ? flat : `${flat.slice(0, MAX_SUBJECT - 1)}…`;
}

function escapedBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text));
}

function rank(severity: SeverityLabel): number {
  return ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].indexOf(severity);
}
