/**
 * AWS Private CA audit reports, read as a stream: a JSON array of objects or CSV with a header row, as the
 * service writes them (optional keys absent, timestamps like 2026-12-01T00:00:00+0000). Memory holds one
 * chunk's rows at a time, whatever the size of the report.
 */
import { CsvRecordReader } from './audit-csv-rows.js';
import { JsonObjectSplitter, quickStringField } from './audit-json-rows.js';

export interface AuditRecord {
  readonly awsAccountId?: string;
  readonly requestedByServicePrincipal?: string;
  readonly certificateArn: string;
  readonly serial: string;
  readonly subject: string;
  readonly notBefore?: Date;
  readonly notAfter: Date;
  readonly issuedAt?: Date;
  readonly revokedAt?: Date;
  readonly revocationReason?: string;
  readonly templateArn?: string;
}

export type AuditFormat = 'JSON' | 'CSV';

/** Where AWS Private CA writes audit reports in the bucket it is given. */
export const REPORT_PREFIX = 'audit-report/';

export type AuditRow = { readonly index: number } & (
  | { readonly record: AuditRecord }
  | { readonly problem: string }
  /** A row left unparsed because the options say it cannot matter (see auditRows). */
  | { readonly skipped: true }
);

export function formatOfKey(key: string): AuditFormat | undefined {
  if (key.endsWith('.json')) return 'JSON';
  if (key.endsWith('.csv')) return 'CSV';
  return undefined;
}

export interface AuditRowOptions {
  /** Only rows about these subjects are wanted: the others are skipped before they are parsed in full. */
  readonly onlySubjects?: ReadonlySet<string>;
  /**
   * Only rows expiring by then are wanted: a row whose notAfter is later is skipped once that field is
   * read, the rest of it unparsed (so a malformed row outside the window is not reported).
   */
  readonly expiringBy?: Date;
}

/** The fields a row is first looked at by, before it is parsed in full (or skipped). */
interface QuickLook {
  readonly subject?: string;
  readonly notAfter?: string;
}

/**
 * Every row of a report, in order: parsed and checked, with the reason it could not be, or skipped
 * (counted, not parsed) when the options say it cannot matter. A report cut off in the middle of a row
 * ends with that row as a problem.
 */
export async function* auditRows(
  chunks: AsyncIterable<Uint8Array | string>,
  format: AuditFormat,
  options: AuditRowOptions = {},
): AsyncGenerator<AuditRow> {
  const expiringBy = options.expiringBy?.getTime();
  const wanted = (look: QuickLook): boolean => {
    if (options.onlySubjects && look.subject !== undefined && !options.onlySubjects.has(look.subject))
      return false;
    if (expiringBy !== undefined && look.notAfter !== undefined) {
      const notAfter = auditTimestamp(look.notAfter);
      if (notAfter && notAfter.getTime() > expiringBy) return false;
    }
    return true;
  };
  let index = 0;
  for await (const batch of format === 'JSON'
    ? jsonRows(decode(chunks), wanted)
    : csvRows(decode(chunks), wanted)) {
    for (const fields of batch) {
      index += 1;
      if (fields === SKIPPED) yield { index, skipped: true };
      else if (typeof fields === 'string') yield { index, problem: fields };
      else {
        const parsed = toRecord(fields);
        yield typeof parsed === 'string' ? { index, problem: parsed } : { index, record: parsed };
      }
    }
  }
}

const SKIPPED = Symbol('skipped');
type RawRow = Record<string, unknown> | string | typeof SKIPPED;

/** The text of the chunks, a byte-order mark at the start dropped. */
async function* decode(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  let first = true;
  for await (const chunk of chunks) {
    let text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && text !== '') {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

/** The rows of a JSON array report, a batch per chunk. */
async function* jsonRows(
  text: AsyncIterable<string>,
  wanted: (look: QuickLook) => boolean,
): AsyncGenerator<RawRow[]> {
  const splitter = new JsonObjectSplitter();
  const row = (objectText: string): RawRow => {
    const look = {
      subject: quickStringField(objectText, 'subject'),
      notAfter: quickStringField(objectText, 'notAfter'),
    };
    if (!wanted(look)) return SKIPPED;
    try {
      const parsed = JSON.parse(objectText) as unknown;
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : `not a JSON object: ${objectText.slice(0, 80)}`;
    } catch {
      return `not valid JSON: ${objectText.slice(0, 80)}`;
    }
  };
  for await (const chunk of text) yield splitter.push(chunk).map(row);
  const rest = splitter.end();
  if (rest) yield [`the report ends inside a row: ${rest.slice(0, 80)}`];
}

/** The rows of a CSV report keyed by its header's names, a batch per chunk. */
async function* csvRows(
  text: AsyncIterable<string>,
  wanted: (look: QuickLook) => boolean,
): AsyncGenerator<RawRow[]> {
  const reader = new CsvRecordReader();
  let header: string[] | undefined;
  let subjectColumn = -1;
  let notAfterColumn = -1;
  const rows = (records: string[][]): RawRow[] => {
    const out: RawRow[] = [];
    for (const line of records) {
      if (!header) {
        header = line;
        subjectColumn = header.indexOf('subject');
        notAfterColumn = header.indexOf('notAfter');
        continue;
      }
      if (line.length === 1 && line[0] === '') continue;
      if (line.length !== header.length) {
        out.push(`has ${line.length} fields where the header has ${header.length}`);
        continue;
      }
      const look = {
        ...(subjectColumn >= 0 ? { subject: line[subjectColumn] } : {}),
        ...(notAfterColumn >= 0 ? { notAfter: line[notAfterColumn] } : {}),
      };
      if (!wanted(look)) {
        out.push(SKIPPED);
        continue;
      }
      const fields: Record<string, unknown> = {};
      for (let column = 0; column < header.length; column += 1) {
        if (line[column] !== '') fields[header[column]!] = line[column];
      }
      out.push(fields);
    }
    return out;
  };
  for await (const chunk of text) yield rows(reader.push(chunk));
  const { records, truncated } = reader.end();
  yield [...rows(records), ...(truncated ? [`the report ends inside a quoted field: ${truncated}`] : [])];
}

/** The fields of one CSV line (RFC 4180 quoting). */
export function splitCsvLine(line: string): string[] {
  const reader = new CsvRecordReader();
  const records = reader.push(line);
  const { records: last } = reader.end();
  return [...records, ...last][0] ?? [''];
}

const PCA_CERTIFICATE_ARN =
  /^arn:aws[a-z-]*:acm-pca:[a-z0-9-]+:\d{12}:certificate-authority\/[0-9a-f-]+\/certificate\/[0-9a-f]+$/;

function toRecord(fields: Record<string, unknown>): AuditRecord | string {
  const text = (name: string) =>
    typeof fields[name] === 'string' && fields[name] !== '' ? (fields[name] as string) : undefined;
  const certificateArn = text('certificateArn');
  if (!certificateArn || !PCA_CERTIFICATE_ARN.test(certificateArn))
    return `certificateArn ${JSON.stringify(fields.certificateArn)} is not a Private CA certificate ARN`;
  const serial = text('serial');
  if (!serial || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$/.test(serial))
    return `serial ${JSON.stringify(fields.serial)} is not colon-separated hex`;
  const subject = text('subject');
  if (!subject) return 'subject is missing';
  const dates: Record<string, Date | undefined> = {};
  for (const name of ['notBefore', 'notAfter', 'issuedAt', 'revokedAt']) {
    const value = text(name);
    if (value === undefined) continue;
    const date = auditTimestamp(value);
    if (!date) return `${name} ${JSON.stringify(value)} is not a timestamp`;
    dates[name] = date;
  }
  if (!dates.notAfter) return 'notAfter is missing';
  return {
    awsAccountId: text('awsAccountId'),
    requestedByServicePrincipal: text('requestedByServicePrincipal'),
    certificateArn,
    serial: serial.toLowerCase(),
    subject,
    notBefore: dates.notBefore,
    notAfter: dates.notAfter,
    issuedAt: dates.issuedAt,
    revokedAt: dates.revokedAt,
    revocationReason: text('revocationReason'),
    templateArn: text('templateArn'),
  };
}

/** `2020-02-26T18:39:57+0000` (the report's form) or any ISO 8601 timestamp. */
export function auditTimestamp(value: string): Date | undefined {
  const iso = value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const time = Date.parse(iso);
  return /^\d{4}-\d{2}-\d{2}T/.test(value) && Number.isFinite(time) ? new Date(time) : undefined;
}

/** The CN of an RFC 2253 subject, for a human-readable name. */
export function commonName(subject: string): string | undefined {
  return /(?:^|,)\s*CN=((?:\\,|[^,])+)/.exec(subject)?.[1]?.replace(/\\,/g, ',');
}
