import { JSONParser } from '@streamparser/json';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { type AuditRow, auditRows } from '../../lambda/shared/audit-report.js';
import { seededRandom } from '../helpers/faults.js';

/*
 * The report readers against well-kept parsers (csv-parse, @streamparser/json) on generated reports:
 * quoted fields with commas, quotes and newlines, JSON escapes, a byte-order mark, CRLF line ends, empty
 * optional fields, any chunking, and reports cut off part-way. Both must see the same rows.
 */

const CA =
  'arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555';
const COLUMNS = [
  'awsAccountId',
  'certificateArn',
  'serial',
  'subject',
  'notAfter',
  'revokedAt',
  'revocationReason',
];

const AWKWARD = [
  '',
  ',',
  '"',
  '""',
  '\n',
  '\r\n',
  '{',
  '}',
  '[',
  ']',
  '\\',
  '\\"',
  'é',
  '😀',
  ' ',
  '\t',
  ':',
];

function rows(next: () => number, count: number): Record<string, string>[] {
  return Array.from({ length: count }, (_, index) => {
    const pick = () => AWKWARD[Math.floor(next() * AWKWARD.length)]!;
    const hex = index.toString(16).padStart(4, '0');
    const row: Record<string, string> = {
      awsAccountId: '111122223333',
      certificateArn: `${CA}/certificate/${hex}`,
      serial: `${hex.slice(0, 2)}:${hex.slice(2)}`,
      subject: `CN=host-${index}${pick()}x${pick()},O=Example${pick()}`,
      notAfter: `2026-12-${String(1 + Math.floor(next() * 28)).padStart(2, '0')}T00:00:00+0000`,
    };
    if (next() < 0.3) {
      row.revokedAt = '2026-06-01T00:00:00+0000';
      row.revocationReason = `KEY${pick()}COMPROMISE`;
    }
    return row;
  });
}

function csvText(records: Record<string, string>[], crlf: boolean): string {
  const end = crlf ? '\r\n' : '\n';
  const cell = (value = '') => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
  return (
    [COLUMNS.join(','), ...records.map((row) => COLUMNS.map((name) => cell(row[name])).join(','))].join(end) +
    end
  );
}

function jsonText(records: Record<string, string>[]): string {
  return `[\n${records.map((row) => JSON.stringify(row)).join(',\n')}\n]\n`;
}

/** What matters of a row, the same way for both readers. */
const digest = (row: Record<string, unknown>) => [
  row.certificateArn,
  row.subject,
  row.notAfter,
  row.revokedAt ?? '',
];

async function ours(text: string, format: 'JSON' | 'CSV', next: () => number) {
  const chunks = (async function* () {
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length;) {
      const size = 1 + Math.floor(next() * 97);
      yield bytes.subarray(at, at + size);
      at += size;
    }
  })();
  const seen: AuditRow[] = [];
  for await (const row of auditRows(chunks, format)) seen.push(row);
  return {
    records: seen.flatMap((row) =>
      'record' in row
        ? [
            digest({
              ...row.record,
              notAfter: row.record.notAfter.toISOString(),
              revokedAt: row.record.revokedAt?.toISOString(),
            }),
          ]
        : [],
    ),
    problems: seen.filter((row) => 'problem' in row).length,
  };
}

const iso = (value: string) => new Date(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')).toISOString();
const normalized = (row: Record<string, string>) =>
  digest({ ...row, notAfter: iso(row.notAfter!), revokedAt: row.revokedAt ? iso(row.revokedAt) : undefined });

function theirsCsv(text: string): unknown[][] {
  const records = parse(text, {
    columns: true,
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
  }) as Record<string, string>[];
  return records.map(normalized);
}

function theirsJson(text: string): unknown[][] {
  const parser = new JSONParser({ paths: ['$.*'], keepStack: false });
  const values: Record<string, string>[] = [];
  parser.onValue = ({ value }) => values.push(value as Record<string, string>);
  parser.write(text);
  return values.map(normalized);
}

describe.each([1, 2, 3, 4, 5])(
  'report readers against csv-parse and @streamparser/json (seed %i)',
  (seed) => {
    it('read the same CSV rows, with a BOM and CRLF line ends, in any chunks', async () => {
      const next = seededRandom(seed);
      const text = `\uFEFF${csvText(rows(next, 200), seed % 2 === 0)}`;
      const read = await ours(text, 'CSV', next);
      expect(read.problems).toBe(0);
      expect(read.records).toHaveLength(200);
      expect(read.records).toEqual(theirsCsv(text));
    });

    it('read the same JSON rows, escapes and all, in any chunks', async () => {
      const next = seededRandom(seed);
      const text = `${seed % 2 === 0 ? '\uFEFF' : ''}${jsonText(rows(next, 200))}`;
      const read = await ours(text, 'JSON', next);
      expect(read.problems).toBe(0);
      expect(read.records).toHaveLength(200);
      expect(read.records).toEqual(theirsJson(text.replace(/^\uFEFF/, '')));
    });

    it('keep every whole row of a report cut off part-way, and say the last one is cut', async () => {
      const next = seededRandom(seed);
      const records = rows(next, 50);
      for (const [format, text] of [
        ['CSV', csvText(records, false)],
        ['JSON', jsonText(records)],
      ] as const) {
        const whole = format === 'CSV' ? theirsCsv(text) : theirsJson(text);
        // Cut inside row 31 (never at its very end): rows 1-30 are whole.
        const rowStarts =
          format === 'CSV'
            ? text.indexOf(csvText([records[30]!], false).split('\n')[1]!)
            : text.indexOf(JSON.stringify(records[30]));
        const cut = text.slice(0, rowStarts + 5 + Math.floor(next() * 20));
        const read = await ours(cut, format, next);
        expect(read.records, format).toEqual(whole.slice(0, 30));
        expect(read.problems, format).toBe(1);
      }
    });
  },
);
