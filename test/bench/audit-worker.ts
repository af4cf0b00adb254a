/**
 * One measured run, in a fresh process so its peak RSS is its own: `stream` processes the report as the
 * processor does (two streamed passes); `library` makes one pass with csv-parse or @streamparser/json;
 * `whole` reads the whole object and parses it at once.
 */
import { JSONParser } from '@streamparser/json';
import { parse } from 'csv-parse';
import { createReadStream, readFileSync } from 'node:fs';
import { processAuditReport } from '../../lambda/audit-process/audit-process.js';
import { acceptingAuditDependencies } from './accepting-aws.js';
import { auditTimestamp, formatOfKey, splitCsvLine } from '../../lambda/shared/audit-report.js';
import { insideWindow } from '../../lambda/shared/expiry-severity.js';

const [mode, file] = process.argv.slice(2) as ['stream' | 'library' | 'whole', string];
const now = new Date();
const started = performance.now();
let reported: number;

if (mode === 'stream') {
  const outcome = await processAuditReport(
    file,
    async () => createReadStream(file),
    acceptingAuditDependencies(now),
  );
  reported = outcome.reported;
} else if (mode === 'library') {
  // One pass of a well-kept streaming parser, counting what is inside the window: half of what a
  // processor built on it would do (it needs the second pass too).
  const inWindow = (row: Record<string, string>) =>
    !row.revokedAt && insideWindow(auditTimestamp(row.notAfter!)!, now, 30);
  reported = 0;
  if (formatOfKey(file) === 'CSV') {
    for await (const row of createReadStream(file).pipe(parse({ columns: true, bom: true }))) {
      if (inWindow(row as Record<string, string>)) reported += 1;
    }
  } else {
    const parser = new JSONParser({ paths: ['$.*'], keepStack: false });
    parser.onValue = ({ value }) => {
      if (inWindow(value as Record<string, string>)) reported += 1;
    };
    for await (const chunk of createReadStream(file)) parser.write(chunk as Buffer);
  }
} else {
  const text = readFileSync(file, 'utf8');
  const rows: Record<string, string>[] =
    formatOfKey(file) === 'JSON'
      ? (JSON.parse(text) as Record<string, string>[])
      : (() => {
          const [header, ...lines] = text.split('\n');
          const names = header!.split(',');
          return lines
            .filter(Boolean)
            .map((line) => Object.fromEntries(splitCsvLine(line).map((value, i) => [names[i], value])));
        })();
  reported = rows.filter(
    (row) => !row.revokedAt && insideWindow(auditTimestamp(row.notAfter!)!, now, 30),
  ).length;
}

console.log(
  JSON.stringify({
    seconds: (performance.now() - started) / 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    reported,
  }),
);
