import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { logger } from '../shared/logger.js';
import { parseQueuedRenewal } from '../shared/renewal-queue.js';

export interface RenewalExecutionsDependencies {
  readonly sfn: SFNClient;
  readonly stateMachineArn: string;
  /**
   * Milliseconds between two starts of this invocation at least. Every execution exports the certificate
   * once, and ACM allows a few exports a second per account: starting faster only makes exports fail.
   */
  readonly intervalMs: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/** A message of the renewal queue, as the SQS event source hands it over. */
export interface QueueRecord {
  readonly messageId: string;
  readonly body: string;
}

export interface RenewalExecutionsOutcome {
  readonly started: string[];
  /** Started by an earlier delivery of the same message or event: nothing new. */
  readonly alreadyStarted: string[];
  /** The messages to deliver again (SQS's partial batch response); after the queue's limit, its DLQ. */
  readonly batchItemFailures: { readonly itemIdentifier: string }[];
}

/**
 * Starts the queued renewal executions of one batch, one after another, intervalMs apart at least.
 * An execution that already exists counts as started. A message that failed (throttled, or not a
 * renewal at all) is reported back alone, so SQS delivers only it again, and after the queue's
 * maxReceiveCount moves it to the dead-letter queue, whose alarm says so.
 */
export async function startQueuedRenewals(
  records: readonly QueueRecord[],
  deps: RenewalExecutionsDependencies,
): Promise<RenewalExecutionsOutcome> {
  const outcome: RenewalExecutionsOutcome = { started: [], alreadyStarted: [], batchItemFailures: [] };
  let next = deps.now();
  for (const record of records) {
    try {
      const renewal = parseQueuedRenewal(record.body);
      const wait = next - deps.now();
      if (wait > 0) await deps.sleep(wait);
      next = Math.max(next, deps.now()) + deps.intervalMs;
      await deps.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: deps.stateMachineArn,
          name: renewal.name,
          input: JSON.stringify(renewal.input),
        }),
      );
      outcome.started.push(renewal.name);
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'ExecutionAlreadyExists') {
        outcome.alreadyStarted.push(parseQueuedRenewal(record.body).name);
        continue;
      }
      logger.warn('renewal execution not started; the message will be delivered again', {
        messageId: record.messageId,
        error: name,
        reason: (error as Error).message,
      });
      outcome.batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return outcome;
}
