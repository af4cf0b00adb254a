/**
 * How urgent an expiring certificate is, in one place: expired CRITICAL, a week or less HIGH, a month or
 * less MEDIUM, anything further out LOW. A week is about the time a change needs to get through review;
 * a month is ACM's own first warning for public certificates.
 */
export type SeverityLabel = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW';

const DAY_MS = 86_400_000;

/** Whole days left before `notAfter` (0 on its last day, negative once it has passed). */
export function daysLeft(notAfter: Date, now: Date): number {
  return Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
}

export function expirySeverity(notAfter: Date, now: Date): SeverityLabel {
  if (notAfter.getTime() <= now.getTime()) return 'CRITICAL';
  const days = daysLeft(notAfter, now);
  if (days <= 7) return 'HIGH';
  if (days <= 30) return 'MEDIUM';
  return 'LOW';
}

/** Whether a certificate is inside the alert window: expired, or expiring within `thresholdDays`. */
export function insideWindow(notAfter: Date, now: Date, thresholdDays: number): boolean {
  return notAfter.getTime() - now.getTime() <= thresholdDays * DAY_MS;
}
