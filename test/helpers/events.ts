import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../lib/paths.js';

/** An EventBridge event from `test/fixtures/events/`, as AWS documents it. */
export function fixtureEvent<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(
    readFileSync(path.join(PROJECT_ROOT, 'test', 'fixtures', 'events', `${name}.json`), 'utf8'),
  ) as T;
}

/** The same event about another certificate (the fixtures' account and Region differ from the tests'). */
export function aboutCertificate<T extends { resources?: string[]; detail?: unknown }>(
  event: T,
  certificateArn: string,
): T {
  const [, , , region, account] = certificateArn.split(':');
  const text = JSON.stringify(event).replaceAll(event.resources![0]!, certificateArn);
  return { ...(JSON.parse(text) as T), account, region };
}

/**
 * EventBridge's matching for the pattern forms this app uses: every key of the pattern must be in the
 * event, and a list of values matches when the event's value is one of them.
 */
export function matchesPattern(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const actual = event[key];
    if (Array.isArray(expected)) {
      return Array.isArray(actual)
        ? actual.some((value) => expected.includes(value))
        : expected.includes(actual);
    }
    if (typeof expected === 'object' && expected !== null) {
      return (
        typeof actual === 'object' &&
        actual !== null &&
        matchesPattern(expected as Record<string, unknown>, actual as Record<string, unknown>)
      );
    }
    return false;
  });
}
