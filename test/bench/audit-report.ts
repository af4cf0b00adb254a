/**
 * The audit processor on generated reports of 1,000,000 and 10,000,000 rows, JSON and CSV: time and
 * peak RSS of the streamed processing, beside one pass of the well-kept streaming parsers (csv-parse,
 * @streamparser/json) and, for a million rows, reading the whole object and parsing it at once. Then many
 * short-lived certificates of one subject (containers): the processor, which keeps the latest expiry
 * per subject, beside the pairwise comparison it replaced.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { processAuditReport } from '../../lambda/audit-process/audit-process.js';
import { acceptingAuditDependencies } from './accepting-aws.js';
import { type AuditRecord, auditRows } from '../../lambda/shared/audit-report.js';
import { insideWindow } from '../../lambda/shared/expiry-severity.js';

/** Report sizes, and which ways are run on each (reading a 10-million-row report whole needs ~100 GiB). */
const SIZES: { rows: number; modes: readonly Mode[] }[] = [
  { rows: 1_000_000, modes: ['stream', 'library', 'whole'] },
  { rows: 10_000_000, modes: ['stream', 'library'] },
];
type Mode = 'stream' | 'library' | 'whole';
const HOW: Record<Mode, string> = {
  stream: 'streamed, two passes (the processor)',
  library: 'csv-parse / @streamparser/json, one pass',
  whole: 'whole object read and parsed at once',
};
const EXPIRING = 1_000;
const CA =
  'arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555';
const COLUMNS = [
  'awsAccountId',
  'requestedByServicePrincipal',
  'certificateArn',
  'serial',
  'subject',
  'notBefore',
  'notAfter',
  'issuedAt',
  'revokedAt',
  'revocationReason',
  'templateArn',
];

function row(index: number): Record<string, string> {
  const day = (offset: number) =>
    new Date(Date.now() + offset * 86_400_000).toISOString().replace(/\.\d{3}Z$/, '+0000');
  const hex = index.toString(16).padStart(32, '0');
  return {
    awsAccountId: '111122223333',
    certificateArn: `${CA}/certificate/${hex}`,
    serial: hex.match(/../g)!.join(':'),
    subject: `CN=device-${index}.internal.example.com,O=Example Corp,C=US`,
    notBefore: day(-30),
    notAfter: day(index < EXPIRING ? 10 : 300),
    issuedAt: day(-30),
    templateArn: 'arn:aws:acm-pca:::template/EndEntityCertificate/V1',
  };
}

async function write(file: string, format: 'JSON' | 'CSV', rows: number): Promise<void> {
  const out = createWriteStream(file);
  const put = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await put(format === 'JSON' ? '[\n' : `${COLUMNS.join(',')}\n`);
  for (let index = 0; index < rows; index += 1) {
    const fields = row(index);
    if (format === 'JSON') await put(`${index ? ',\n' : ''}${JSON.stringify(fields)}`);
    else
      await put(
        `${COLUMNS.map((name) => (name === 'subject' ? `"${fields[name]}"` : (fields[name] ?? ''))).join(',')}\n`,
      );
  }
  await put(format === 'JSON' ? '\n]\n' : '');
  out.end();
  await once(out, 'finish');
}

export async function benchAuditReport(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'audit-bench-'));
  const worker = path.join(import.meta.dirname, 'audit-worker.ts');
  try {
    console.log(
      `\nAudit report: ${EXPIRING.toLocaleString('en')} rows expiring among the rest (each run in a fresh process)`,
    );
    console.log(
      `  ${'report'.padEnd(22)} ${'how'.padEnd(40)} ${'time'.padStart(8)} ${'per million'.padStart(11)} ${'peak RSS'.padStart(10)}`,
    );
    for (const { rows, modes } of SIZES) {
      for (const format of ['JSON', 'CSV'] as const) {
        const file = path.join(dir, `report.${format.toLowerCase()}`);
        await write(file, format, rows);
        const size = `${format} ${(rows / 1_000_000).toFixed(0)}M ${(statSync(file).size / 1024 ** 3).toFixed(1)} GiB`;
        for (const mode of modes) {
          const run = spawnSync(
            process.execPath,
            ['--max-old-space-size=12288', '--import', 'tsx', worker, mode, file],
            {
              encoding: 'utf8',
              env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR' },
              maxBuffer: 64 * 1024 * 1024,
            },
          );
          if (run.status !== 0) {
            const why = /heap out of memory/.test(run.stderr)
              ? 'out of memory (12 GiB heap)'
              : `exit ${run.status}`;
            console.log(`  ${size.padEnd(22)} ${HOW[mode].padEnd(40)} failed: ${why}`);
            continue;
          }
          const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
            seconds: number;
            peakRssMiB: number;
            reported: number;
          };
          console.log(
            `  ${size.padEnd(22)} ${HOW[mode].padEnd(40)} ${result.seconds.toFixed(1).padStart(6)} s ${(result.seconds / (rows / 1_000_000)).toFixed(1).padStart(9)} s ${result.peakRssMiB.toFixed(0).padStart(6)} MiB  (${result.reported} reported)`,
          );
        }
        rmSync(file);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One subject, `count` certificates a second apart, all inside the window: a CSV report. */
function oneSubjectReport(count: number): string {
  const lines = [COLUMNS.join(',')];
  const start = Date.now() + 5 * 86_400_000;
  for (let index = 0; index < count; index += 1) {
    const fields = {
      ...row(index),
      subject: 'CN=worker.internal.example.com',
      notAfter: new Date(start + index * 1_000).toISOString().replace(/\.\d{3}Z$/, '+0000'),
    } as Record<string, string>;
    lines.push(COLUMNS.map((name) => fields[name] ?? '').join(','));
  }
  return lines.join('\n');
}

const chunksOf = (text: string) => async () =>
  (async function* () {
    for (let i = 0; i < text.length; i += 65_536) yield text.slice(i, i + 65_536);
  })();

/** The comparison the processor used to make: every later row against every candidate of its subject. */
async function pairwiseSuperseded(text: string, now: Date): Promise<number> {
  const candidates = new Map<string, AuditRecord[]>();
  for await (const entry of auditRows(await chunksOf(text)(), 'CSV')) {
    if (!('record' in entry) || !insideWindow(entry.record.notAfter, now, 30)) continue;
    candidates.set(entry.record.subject, [...(candidates.get(entry.record.subject) ?? []), entry.record]);
  }
  const superseded = new Set<string>();
  for await (const entry of auditRows(await chunksOf(text)(), 'CSV')) {
    if (!('record' in entry)) continue;
    for (const candidate of candidates.get(entry.record.subject) ?? []) {
      if (entry.record.notAfter.getTime() > candidate.notAfter.getTime())
        superseded.add(candidate.certificateArn);
    }
  }
  return superseded.size;
}

/** Rows past which the pairwise comparison is not run: it would take minutes (it grows with the square). */
const PAIRWISE_LIMIT = 20_000;

export async function benchManyPerSubject(): Promise<void> {
  const now = new Date();
  console.log('\nAudit report, one subject with many short-lived certificates (CSV, all expiring)');
  console.log(
    `  ${'rows'.padStart(9)}  ${'latest per subject (now)'.padStart(24)}  ${'pairwise (before)'.padStart(18)}`,
  );
  for (const count of [5_000, 20_000, 100_000, 1_000_000]) {
    const text = oneSubjectReport(count);
    let started = performance.now();
    const outcome = await processAuditReport(
      'audit-report/ca/r.csv',
      chunksOf(text),
      acceptingAuditDependencies(now),
    );
    const linear = (performance.now() - started) / 1000;
    let pairwise = 'not run (minutes)';
    if (count <= PAIRWISE_LIMIT) {
      started = performance.now();
      const superseded = await pairwiseSuperseded(text, now);
      if (superseded !== outcome.superseded) throw new Error('the two ways disagree');
      pairwise = `${((performance.now() - started) / 1000).toFixed(2)} s`;
    }
    console.log(
      `  ${count.toLocaleString('en').padStart(9)}  ${`${linear.toFixed(2)} s`.padStart(24)}  ${pairwise.padStart(18)}   (${outcome.reported} reported, ${outcome.superseded} superseded)`,
    );
  }
}
