/**
 * The records of a CSV text that arrives in chunks (RFC 4180: fields in double quotes may hold commas,
 * newlines and doubled quotes; lines end in LF or CRLF). Unquoted lines are split at once; quoted fields
 * are cut with indexOf, never character by character.
 */
export class CsvRecordReader {
  private pending = '';

  /** The records `chunk` completes; an unfinished one waits for the next chunk. */
  push(chunk: string): string[][] {
    return this.records(this.pending + chunk, false);
  }

  /** The last record when the text does not end with a newline; a quoted field left open is an error. */
  end(): { records: string[][]; truncated?: string } {
    const text = this.pending;
    this.pending = '';
    if (text.trim() === '') return { records: [] };
    const records = this.records(text, true);
    return this.pending === '' ? { records } : { records, truncated: this.pending.slice(0, 80) };
  }

  private records(text: string, final: boolean): string[][] {
    const records: string[][] = [];
    let position = 0;
    while (position < text.length) {
      const newline = text.indexOf('\n', position);
      const lineEnd = newline === -1 ? text.length : newline;
      const quote = text.indexOf('"', position);
      if (quote === -1 || quote > lineEnd) {
        if (newline === -1 && !final) break;
        const line = text.slice(position, lineEnd);
        records.push((line.endsWith('\r') ? line.slice(0, -1) : line).split(','));
        position = lineEnd + 1;
        continue;
      }
      const parsed = quotedRecord(text, position, final);
      if (!parsed) break;
      records.push(parsed.fields);
      position = parsed.next;
    }
    this.pending = text.slice(position);
    return records;
  }
}

/** One record with quoted fields from `start`, or undefined when the text ends inside it. */
function quotedRecord(
  text: string,
  start: number,
  final: boolean,
): { fields: string[]; next: number } | undefined {
  const fields: string[] = [];
  let i = start;
  for (;;) {
    let value = '';
    if (text.charCodeAt(i) === 34) {
      let from = i + 1;
      for (;;) {
        const quote = text.indexOf('"', from);
        if (quote === -1) return undefined;
        if (quote + 1 >= text.length && !final) return undefined;
        if (text.charCodeAt(quote + 1) === 34) {
          value += text.slice(from, quote + 1);
          from = quote + 2;
          continue;
        }
        value += text.slice(from, quote);
        i = quote + 1;
        break;
      }
      // Anything between the closing quote and the separator is kept, as lenient readers do.
      const comma = text.indexOf(',', i);
      const newline = text.indexOf('\n', i);
      const stop = nearest(comma, newline, text.length);
      if (stop === text.length && !final) return undefined;
      value += text.slice(i, stop).replace(/\r$/, '');
      i = stop;
    } else {
      const comma = text.indexOf(',', i);
      const newline = text.indexOf('\n', i);
      const stop = nearest(comma, newline, text.length);
      if (stop === text.length && !final) return undefined;
      value = text.slice(i, stop);
      if (stop === newline || stop === text.length) value = value.replace(/\r$/, '');
      i = stop;
    }
    fields.push(value);
    if (i >= text.length) return { fields, next: i };
    if (text.charCodeAt(i) === 10) return { fields, next: i + 1 };
    i += 1; // the comma
  }
}

function nearest(a: number, b: number, none: number): number {
  if (a === -1) return b === -1 ? none : b;
  return b === -1 ? a : Math.min(a, b);
}
