/**
 * The top-level objects of a JSON array, cut out of a text that arrives in chunks, without parsing
 * them: each comes back as its own text, for JSON.parse or a quick look at one field. Strings are
 * skipped whole (with indexOf, escapes honoured), so a brace inside one never counts.
 */
export class JsonObjectSplitter {
  private pending = '';

  /** The objects `chunk` completes, in order; an unfinished one waits for the next chunk. */
  push(chunk: string): string[] {
    const text = this.pending + chunk;
    const objects: string[] = [];
    let position = 0;
    for (;;) {
      const open = text.indexOf('{', position);
      if (open === -1) {
        this.pending = '';
        return objects;
      }
      const close = objectEnd(text, open);
      if (close === -1) {
        this.pending = text.slice(open);
        return objects;
      }
      objects.push(text.slice(open, close + 1));
      position = close + 1;
    }
  }

  /** What was left unfinished when the text ended (a truncated report), if anything. */
  end(): string | undefined {
    const rest = this.pending.trim();
    this.pending = '';
    return rest === '' ? undefined : rest;
  }
}

const STRUCTURAL = /["{}[\]]/g;

/** Index of the `}` that closes the object opening at `start`, or -1 when the text ends first. */
function objectEnd(text: string, start: number): number {
  let depth = 0;
  STRUCTURAL.lastIndex = start;
  for (let match = STRUCTURAL.exec(text); match; match = STRUCTURAL.exec(text)) {
    const c = text.charCodeAt(match.index);
    if (c === 34) {
      const close = stringEnd(text, match.index);
      if (close === -1) return -1;
      STRUCTURAL.lastIndex = close + 1;
    } else if (c === 123 || c === 91) depth += 1;
    else {
      depth -= 1;
      if (depth === 0) return match.index;
    }
  }
  return -1;
}

/** Index of the quote that closes the string opening at `open`, or -1 when the text ends first. */
function stringEnd(text: string, open: number): number {
  let close = open;
  do {
    close = text.indexOf('"', close + 1);
    if (close === -1) return -1;
  } while (escaped(text, close));
  return close;
}

/** Whether the character at `index` follows an odd number of backslashes. */
function escaped(text: string, index: number): boolean {
  let count = 0;
  for (let i = index - 1; i >= 0 && text.charCodeAt(i) === 92; i -= 1) count += 1;
  return count % 2 === 1;
}

/**
 * The string value of the key `name` of an object's text, read without parsing the object, or undefined
 * when it is not there as a string (the caller then parses the object in full). A match counts only as
 * a key: an unescaped quoted name followed by a colon.
 */
export function quickStringField(objectText: string, name: string): string | undefined {
  const key = `"${name}"`;
  for (let at = objectText.indexOf(key); at !== -1; at = objectText.indexOf(key, at + 1)) {
    if (escaped(objectText, at)) continue;
    let colon = at + key.length;
    while (objectText.charCodeAt(colon) === 32) colon += 1;
    if (objectText.charCodeAt(colon) !== 58) continue;
    let open = colon + 1;
    while (objectText.charCodeAt(open) === 32) open += 1;
    if (objectText.charCodeAt(open) !== 34) return undefined;
    const close = stringEnd(objectText, open);
    if (close === -1) return undefined;
    const raw = objectText.slice(open + 1, close);
    if (!raw.includes('\\')) return raw;
    try {
      return JSON.parse(objectText.slice(open, close + 1)) as string;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
