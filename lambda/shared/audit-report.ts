/**
 * AWS Private CA audit reports, read as a stream: a JSON array of objects or CSV with a header row, as the
 * service writes them (optional keys absent, timestamps like 2026-12-01T00:00:00+0000). Memory holds one
 * row at a time, whatever the size of the report.
 */
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
  { readonly record: AuditRecord } | { readonly problem: string }
);

export function formatOfKey(key: string): AuditFormat | undefined {
  if (key.endsWith('.json')) return 'JSON';
  if (key.endsWith('.csv')) return 'CSV';
  return undefined;
}

/** Every row of a report, in order, each parsed and checked, or with the reason it could not be. */
export async function* auditRows(
  chunks: AsyncIterable<Uint8Array | string>,
  format: AuditFormat,
  options: {
    /** Only rows about these subjects are wanted: the others are skipped before they are parsed in full. */
    readonly onlySubjects?: ReadonlySet<string>;
  } = {},
): AsyncGenerator<AuditRow> {
  const wanted = options.onlySubjects;
  const keep = wanted ? (subject: string) => wanted.has(subject) : undefined;
  const raw = format === 'JSON' ? jsonObjects(decode(chunks), keep) : csvObjects(decode(chunks), keep);
  let index = 0;
  for await (const fields of raw) {
    index += 1;
    if (typeof fields === 'string') {
      yield { index, problem: fields };
      continue;
    }
    const parsed = toRecord(fields);
    yield typeof parsed === 'string' ? { index, problem: parsed } : { index, record: parsed };
  }
}

async function* decode(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  for await (const chunk of chunks)
    yield typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  const rest = decoder.decode();
  if (rest) yield rest;
}

/** The top-level objects of a JSON array, one at a time; a malformed one comes back as its problem. */
async function* jsonObjects(
  text: AsyncIterable<string>,
  keep?: (subject: string) => boolean,
): AsyncGenerator<Record<string, unknown> | string> {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let carry = '';
  let capturing = false;
  for await (const chunk of text) {
    let start = capturing ? 0 : -1;
    for (let i = 0; i < chunk.length; i += 1) {
      const c = chunk.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 92) escaped = true;
        else if (c === 34) inString = false;
        continue;
      }
      if (c === 34) inString = true;
      else if (c === 123 || c === 91) {
        depth += 1;
        if (c === 123 && depth === 2) {
          capturing = true;
          start = i;
        }
      } else if (c === 125 || c === 93) {
        depth -= 1;
        if (c === 125 && depth === 1 && capturing) {
          const objectText = carry + chunk.slice(start, i + 1);
          carry = '';
          capturing = false;
          start = -1;
          if (keep) {
            const subject = quickSubject(objectText);
            if (subject !== undefined && !keep(subject)) continue;
          }
          try {
            yield JSON.parse(objectText) as Record<string, unknown>;
          } catch {
            yield `not valid JSON: ${objectText.slice(0, 80)}`;
          }
        }
      }
    }
    if (capturing) carry += chunk.slice(start);
  }
}

/** The `subject` of a row's JSON text, read without parsing the whole object. */
function quickSubject(objectText: string): string | undefined {
  const key = objectText.indexOf('"subject"');
  if (key === -1) return undefined;
  const open = objectText.indexOf('"', objectText.indexOf(':', key + 9) + 1);
  if (open === -1) return undefined;
  let end = open + 1;
  while (end < objectText.length && objectText.charCodeAt(end) !== 34) {
    end += objectText.charCodeAt(end) === 92 ? 2 : 1;
  }
  try {
    return JSON.parse(objectText.slice(open, end + 1)) as string;
  } catch {
    return undefined;
  }
}

/** CSV records keyed by the header row's names (RFC 4180 quoting). */
async function* csvObjects(
  text: AsyncIterable<string>,
  keep?: (subject: string) => boolean,
): AsyncGenerator<Record<string, unknown> | string> {
  let header: string[] | undefined;
  let subjectColumn = -1;
  for await (const line of csvRecords(text)) {
    if (!header) {
      header = line;
      subjectColumn = header.indexOf('subject');
      continue;
    }
    if (line.length === 1 && line[0] === '') continue;
    if (line.length !== header.length) {
      yield `has ${line.length} fields where the header has ${header.length}`;
      continue;
    }
    if (keep && subjectColumn >= 0 && !keep(line[subjectColumn]!)) continue;
    const fields: Record<string, unknown> = {};
    header.forEach((name, column) => {
      if (line[column] !== '') fields[name] = line[column];
    });
    yield fields;
  }
}

async function* csvRecords(text: AsyncIterable<string>): AsyncGenerator<string[]> {
  let pending = '';
  for await (const chunk of text) {
    pending += chunk;
    let newline = pending.indexOf('\n');
    let from = 0;
    while (newline !== -1) {
      const candidate = pending.slice(from, newline);
      // A quoted field may hold a newline: a line with an odd number of quotes continues on the next one.
      if (countQuotes(candidate) % 2 === 0) {
        yield splitCsvLine(candidate.endsWith('\r') ? candidate.slice(0, -1) : candidate);
        from = newline + 1;
      }
      newline = pending.indexOf('\n', newline + 1);
    }
    pending = pending.slice(from);
  }
  if (pending.trim() !== '') yield splitCsvLine(pending.replace(/\r$/, ''));
}

function countQuotes(text: string): number {
  let count = 0;
  for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) count += 1;
  return count;
}

export function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
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
