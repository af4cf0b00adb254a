import { SFNClient } from '@aws-sdk/client-sfn';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { requiredEnv, requiredIntegerEnv } from '../shared/env.js';
import { logger } from '../shared/logger.js';
import { startQueuedRenewals } from './renewal-executions.js';

// A throttled start is retried by the SDK first; what still fails goes back to the queue.
const sfn = new SFNClient({ maxAttempts: 4 });

/** Consumer of the renewal queue: starts each queued execution, paced (see startQueuedRenewals). */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const outcome = await startQueuedRenewals(event.Records, {
    sfn,
    stateMachineArn: requiredEnv('STATE_MACHINE_ARN'),
    intervalMs: requiredIntegerEnv('START_INTERVAL_MS'),
    now: () => Date.now(),
    sleep: (ms) => sleep(ms),
  });
  logger.info('renewal executions started', {
    started: outcome.started.length,
    alreadyStarted: outcome.alreadyStarted.length,
    retried: outcome.batchItemFailures.length,
  });
  return { batchItemFailures: outcome.batchItemFailures };
}
