import { describe, expect, it } from 'vitest';
import { maxPollAttempts, waitBeforeCheck } from '../../lambda/shared/poll-schedule.js';

describe('poll schedule', () => {
  it('checks first within 10 seconds, then backs off to a 30-second ceiling', () => {
    expect([0, 1, 2, 3, 4, 20].map(waitBeforeCheck)).toEqual([5, 10, 20, 30, 30, 30]);
  });

  it('bounds the loop so the waits cover the configured maximum', () => {
    for (const maxWait of [60, 65, 900, 3600]) {
      const attempts = maxPollAttempts(maxWait);
      const waited = Array.from({ length: attempts }, (_, attempt) => waitBeforeCheck(attempt)).reduce(
        (a, b) => a + b,
        0,
      );
      expect(waited).toBeGreaterThanOrEqual(maxWait);
      expect(waited - waitBeforeCheck(attempts - 1)).toBeLessThan(maxWait);
    }
    expect(maxPollAttempts(900)).toBe(32);
  });
});
