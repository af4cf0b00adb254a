import {
  type Command,
  type CommandInvocation,
  ListCommandsCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  type ExportRequest,
  tagKeyValue,
  requestFieldsOf,
  validatedRequest,
} from '../shared/export-request.js';
import { listInvocations, resultLine } from '../shared/command-invocations.js';
import { logger } from '../shared/logger.js';
import { recordInstallResult } from '../shared/mapping-store.js';
import { waitBeforeCheck } from '../shared/poll-schedule.js';
import type { InstallOutcome, InstallStatusReport, InstanceInstallResult } from '../shared/workflow-state.js';

export interface CheckInstallInput extends ExportRequest {
  readonly commandId: string;
  /** 0 for the first check. */
  readonly attempt: number;
}

export interface CheckInstallDependencies {
  readonly ssm: SSMClient;
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The poll loop's bound: after this many checks a command still running is reported as TimedOut. */
  readonly maxAttempts: number;
  readonly now: () => Date;
}

/** Keeps the state (256 KB ceiling) small however many instances a tag selects. */
export const MAX_REPORTED_INSTANCES = 50;
const MAX_NAMED_IN_REASON = 10;

const RUNNING_COMMAND_STATUSES = new Set(['Pending', 'InProgress', 'Cancelling']);
const FINISHED_COMMAND_STATUSES = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);

/**
 * Looks at an install command once and says whether the workflow is done. Every SSM status maps to an
 * outcome: still running (and within the bound) → InProgress; finished with every targeted instance
 * successful → Success; anything else → Failed with the instances and why; no instance matched → Failed.
 */
export async function checkInstallStatus(
  input: CheckInstallInput,
  deps: CheckInstallDependencies,
): Promise<InstallStatusReport> {
  const request = validatedRequest(requestFieldsOf(input));
  const command = await describeCommand(deps.ssm, input.commandId);
  const report = await assess(request, input, command, deps);

  if (report.outcome !== 'InProgress') {
    const recorded = await recordInstallResult(deps.db, deps.tableName, request, {
      commandId: input.commandId,
      status: report.outcome,
      summary:
        report.reason ?? `installed on ${report.summary.succeeded} of ${report.summary.targets} instances`,
      finishedAt: deps.now().toISOString(),
    });
    if (!recorded) {
      logger.warn('a newer install of this mapping is recorded; not overwriting it', {
        commandId: input.commandId,
        mapping: tagKeyValue(request),
      });
    }
  }
  return report;
}

async function assess(
  request: ExportRequest,
  input: CheckInstallInput,
  command: Command | undefined,
  deps: CheckInstallDependencies,
): Promise<InstallStatusReport> {
  const checksDone = input.attempt + 1;
  const status = command?.Status ?? 'Pending';
  const targets = command?.TargetCount ?? 0;
  const report = (
    outcome: InstallOutcome,
    extra: Partial<InstallStatusReport> = {},
  ): InstallStatusReport => ({
    outcome,
    commandStatus: command?.StatusDetails ?? status,
    summary: { targets, succeeded: 0, failed: 0 },
    instances: [],
    nextPoll: { attempt: checksDone, waitSeconds: waitBeforeCheck(checksDone) },
    ...extra,
  });

  if (!command || RUNNING_COMMAND_STATUSES.has(status)) {
    if (checksDone < deps.maxAttempts) return report('InProgress');
    return report('TimedOut', {
      reason: `the install command ${input.commandId} was still ${status} after ${totalWait(checksDone)} seconds (${command?.CompletedCount ?? 0} of ${targets} instances finished); see its Run Command history for the instances still running`,
    });
  }
  if (!FINISHED_COMMAND_STATUSES.has(status)) {
    return report('Failed', {
      reason: `SSM reported an unknown status "${status}" for command ${input.commandId}`,
    });
  }
  if (targets === 0 || command.StatusDetails === 'No Instances In Tag') {
    return report('Failed', {
      reason: `no managed instance has tag ${tagKeyValue(request)}: tag the EC2 or on-premises instances and check that their SSM Agent is online`,
    });
  }

  const instances = (await listInvocations(deps.ssm, input.commandId)).map(instanceResult);
  const failed = instances.filter((instance) => instance.status !== 'Success');
  const summary = {
    targets: Math.max(targets, instances.length),
    succeeded: instances.length - failed.length,
    failed: failed.length,
  };
  // Failed instances first: they are the ones a reader needs, and the list is cut at the limit.
  const reported = [...failed, ...instances.filter((instance) => instance.status === 'Success')].slice(
    0,
    MAX_REPORTED_INSTANCES,
  );
  if (failed.length === 0 && instances.length > 0 && status === 'Success') {
    return report('Success', { summary, instances: reported });
  }
  return report('Failed', {
    summary,
    instances: reported,
    reason: failureReason(status, summary.targets, failed),
  });
}

function failureReason(commandStatus: string, targets: number, failed: InstanceInstallResult[]): string {
  if (failed.length === 0) {
    return `the install command ended ${commandStatus} without reporting any failed instance`;
  }
  const named = failed
    .slice(0, MAX_NAMED_IN_REASON)
    .map((instance) => `${instance.instanceId} ${instance.status}`)
    .join(', ');
  const more = failed.length > MAX_NAMED_IN_REASON ? ` and ${failed.length - MAX_NAMED_IN_REASON} more` : '';
  return `${failed.length} of ${targets} instances failed: ${named}${more}`;
}

function totalWait(checksDone: number): number {
  let seconds = 0;
  for (let attempt = 0; attempt < checksDone; attempt += 1) seconds += waitBeforeCheck(attempt);
  return seconds;
}

async function describeCommand(ssm: SSMClient, commandId: string): Promise<Command | undefined> {
  // A command just sent can be briefly invisible (eventual consistency): reported as still pending.
  const response = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
  return response.Commands?.[0];
}

function instanceResult(invocation: CommandInvocation): InstanceInstallResult {
  const status =
    invocation.Status === 'Success' ? 'Success' : invocation.StatusDetails || invocation.Status || 'Unknown';
  const result = resultLine(invocation);
  return { instanceId: invocation.InstanceId ?? 'unknown-instance', status, ...(result ? { result } : {}) };
}
