import { type CompletionDependencies, completeIfFinished, pendingWaits } from '../shared/install-wait.js';
import { logger } from '../shared/logger.js';
import type { InstallStatusReport } from '../shared/workflow-state.js';

/** What invokes this step: SSM's status-change event for an install command, or the slow sweep. */
export type InstallFinishedEvent =
  | {
      readonly 'detail-type': 'EC2 Command Status-change Notification';
      readonly detail?: { readonly 'command-id'?: string };
    }
  | { readonly 'detail-type': 'Scheduled Event' };

export interface FinishedOutcome {
  /** Commands whose waiting execution was given its outcome. */
  readonly completed: { readonly commandId: string; readonly report: InstallStatusReport }[];
  /** Commands looked at and still running. */
  readonly stillRunning: number;
}

/**
 * Hands an install command's outcome to the execution waiting for it. SSM's event arrives within
 * seconds of the command ending; the sweep, every few minutes, looks at every registered wait, so a lost
 * or late event only delays the outcome, and a command that outlives its deadline is reported TimedOut.
 */
export async function handleInstallFinished(
  event: InstallFinishedEvent,
  deps: CompletionDependencies,
): Promise<FinishedOutcome> {
  const completed: FinishedOutcome['completed'] = [];
  let stillRunning = 0;
  if (event['detail-type'] === 'Scheduled Event') {
    for (const wait of await pendingWaits(deps.waits)) {
      const report = await completeIfFinished(wait.CommandId, deps, wait);
      if (report) completed.push({ commandId: wait.CommandId, report });
      else stillRunning += 1;
    }
  } else {
    const commandId = event.detail?.['command-id'];
    if (!commandId) throw new Error('the command status event has no command-id');
    const report = await completeIfFinished(commandId, deps);
    if (report) completed.push({ commandId, report });
    else stillRunning += 1;
  }
  logger.info('install commands looked at', {
    completed: completed.map(({ commandId, report }) => ({ commandId, outcome: report.outcome })),
    stillRunning,
  });
  return { completed, stillRunning };
}
