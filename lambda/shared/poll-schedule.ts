/**
 * How long the workflow waits before each look at an install command: the first check comes 5 seconds
 * after SendCommand, then the gaps double up to a 30-second ceiling. The state machine's Wait state reads
 * the figure the status step returns, and the stack derives the attempt limit from the same schedule.
 */
const FIRST_WAIT_SECONDS = 5;
const LONGEST_WAIT_SECONDS = 30;

/** Seconds to wait before check number `attempt` (0 for the first check). */
export function waitBeforeCheck(attempt: number): number {
  return Math.min(FIRST_WAIT_SECONDS * 2 ** Math.max(0, attempt), LONGEST_WAIT_SECONDS);
}

/** The number of checks whose waits add up to at least `maxWaitSeconds`: the poll loop's hard bound. */
export function maxPollAttempts(maxWaitSeconds: number): number {
  let attempts = 0;
  let waited = 0;
  while (waited < maxWaitSeconds) {
    waited += waitBeforeCheck(attempts);
    attempts += 1;
  }
  return Math.max(attempts, 1);
}
