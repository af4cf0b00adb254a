import {
  type Command,
  type CommandInvocation,
  ListCommandsCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { type ExportRequest, tagKeyValue } from './export-request.js';
import { errorLine, everyStepSkipped, listInvocations, resultLine } from './command-invocations.js';
import { type HostCertificateReport, hostReports, reportOfRun } from './host-compliance.js';
import type { InstallOutcome, InstallStatusReport, InstanceInstallResult } from './workflow-state.js';

/** Keeps the state (256 KB ceiling) small however many instances a tag selects. */
export const MAX_REPORTED_INSTANCES = 50;
const MAX_NAMED_IN_REASON = 10;

const RUNNING_COMMAND_STATUSES = new Set(['Pending', 'InProgress', 'Cancelling']);
const FINISHED_COMMAND_STATUSES = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);

export interface InstallCheck {
  readonly commandId: string;
  /** The mapping's secret: the hosts' own reports of this certificate are read by it. */
  readonly secretId?: string;
  /** When the command was sent, and how long it may run before it is reported as TimedOut. */
  readonly sentAt: Date;
  readonly deadline: Date;
  readonly now: Date;
}

/**
 * Looks at an install command once and says whether it is done. Every SSM status maps to an outcome:
 * still running (and before the deadline) → InProgress; finished with every targeted instance
 * successful → Success; anything else → Failed with the instances and why; no instance matched → Failed;
 * still running at the deadline → TimedOut.
 */
export async function assessInstall(
  ssm: SSMClient,
  request: ExportRequest,
  check: InstallCheck,
): Promise<InstallStatusReport> {
  const { commandId } = check;
  const command = await describeCommand(ssm, commandId);
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
    ...extra,
  });

  if (!command || RUNNING_COMMAND_STATUSES.has(status)) {
    if (check.now < check.deadline) return report('InProgress');
    const waited = Math.round((check.now.getTime() - check.sentAt.getTime()) / 1000);
    return report('TimedOut', {
      reason: `the install command ${commandId} was still ${status} after ${waited} seconds (${command?.CompletedCount ?? 0} of ${targets} instances finished); see its Run Command history for the instances still running`,
    });
  }
  if (!FINISHED_COMMAND_STATUSES.has(status)) {
    return report('Failed', {
      reason: `SSM reported an unknown status "${status}" for command ${commandId}`,
    });
  }
  if (targets === 0 || command.StatusDetails === 'No Instances In Tag') {
    return report('Failed', {
      reason: `no managed instance has tag ${tagKeyValue(request)}: tag the EC2 or on-premises instances and check that their SSM Agent is online`,
    });
  }

  const invocations = await listInvocations(ssm, commandId);
  const reports = await reportsWhereOutputIsCut(ssm, invocations, check);
  const instances = invocations.map((invocation) =>
    instanceResult(invocation, reports.get(invocation.InstanceId ?? '')),
  );
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
    .map(
      (instance) =>
        `${instance.instanceId} ${instance.status}${instance.error ? ` (${instance.error})` : ''}`,
    )
    .join(', ');
  const more = failed.length > MAX_NAMED_IN_REASON ? ` and ${failed.length - MAX_NAMED_IN_REASON} more` : '';
  return `${failed.length} of ${targets} instances failed: ${named}${more}`;
}

async function describeCommand(ssm: SSMClient, commandId: string): Promise<Command | undefined> {
  // A command just sent can be briefly invisible (eventual consistency): reported as still pending.
  const response = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
  return response.Commands?.[0];
}

/**
 * What the hosts whose output lacks the line that says how the install ended (SSM returns the first
 * 2,500 characters of it here) recorded themselves for this certificate in this command: read only for
 * those, one call per 100 of them.
 */
async function reportsWhereOutputIsCut(
  ssm: SSMClient,
  invocations: readonly CommandInvocation[],
  check: InstallCheck,
): Promise<Map<string, HostCertificateReport>> {
  const cut = invocations
    .filter((invocation) =>
      invocation.Status === 'Success'
        ? !resultLine(invocation) && !everyStepSkipped(invocation)
        : !errorLine(invocation),
    )
    .map((invocation) => invocation.InstanceId)
    .filter((id): id is string => Boolean(id));
  const { secretId } = check;
  if (!secretId || cut.length === 0) return new Map();
  const reports = new Map<string, HostCertificateReport>();
  for (const [instanceId, own] of await hostReports(ssm, cut, secretId)) {
    const report = reportOfRun(own, secretId, check.sentAt.getTime());
    if (report) reports.set(instanceId, report);
  }
  return reports;
}

/**
 * One host's outcome. A host counts as installed only when its run printed the install's RESULT line,
 * or recorded the certificate as installed itself (when SSM cut the output): SSM reports a step skipped
 * by its precondition as Success (every node skips the other platform's step; a macOS node skips both).
 */
function instanceResult(
  invocation: CommandInvocation,
  report: HostCertificateReport | undefined,
): InstanceInstallResult {
  const result =
    resultLine(invocation) ??
    (report?.installed
      ? {
          cert_name: report.certName,
          status: report.status,
          ...(report.serial ? { serial: report.serial } : {}),
          ...(report.notAfter ? { not_after: report.notAfter } : {}),
          ...(report.served ? { served: report.served } : {}),
        }
      : undefined);
  const status =
    invocation.Status !== 'Success'
      ? invocation.StatusDetails || invocation.Status || 'Unknown'
      : result
        ? 'Success'
        : everyStepSkipped(invocation)
          ? 'Skipped: neither Linux nor Windows'
          : 'Success without the install RESULT line';
  const error = status === 'Success' ? undefined : (errorLine(invocation) ?? report?.error);
  return {
    instanceId: invocation.InstanceId ?? 'unknown-instance',
    status,
    ...(result ? { result } : {}),
    ...(error ? { error } : {}),
  };
}
