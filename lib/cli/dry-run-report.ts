import type { DryRunReport, TargetInstance } from '../../lambda/dry-run/dry-run.js';

/** Whether an execution's output is a dry run's report (the dry run's execution ends with it). */
export function isDryRunReport(output: unknown): output is DryRunReport {
  return (output as Partial<DryRunReport> | null)?.dryRun === true;
}

/**
 * A dry run's report for a person: the verdict first, then what stands in the way (the certificate, the
 * tag, the profile), then each host with what it said of itself that is not simply fine.
 */
export function dryRunLines(report: DryRunReport): string[] {
  const checked = report.hostCheck
    ? `${report.hostCheck.mode === 'rehearsal' ? 'rehearsed on' : 'preflight on'} ${report.hostCheck.instanceIds.length} host(s)`
    : 'no host was asked';
  const blockers = [
    report.notExportableBecause && `certificate: ${report.notExportableBecause}`,
    report.tagNotGrantedBecause && `tag: ${report.tagNotGrantedBecause}`,
    report.unknownProfileBecause && `profile: ${report.unknownProfileBecause}`,
    report.instances.length === 0 && `hosts: no managed instance carries ${report.target}`,
  ].filter((line): line is string => typeof line === 'string');
  return [
    `${report.ready ? 'READY' : 'NOT READY'}  ${report.target}  profile ${report.profile}  (${checked})`,
    ...blockers.map((line) => `  ${line}`),
    ...report.instances.flatMap(instanceLines),
  ];
}

function instanceLines(instance: TargetInstance): string[] {
  const about = [instance.platform, instance.agentVersion && `agent ${instance.agentVersion}`]
    .filter(Boolean)
    .join(', ');
  const host = instance.host;
  // A host that answered lists its own findings below; the line says only why it gave none.
  const because = host ? host.error : (instance.notReadyBecause ?? 'unknown');
  const verdict = instance.ready ? 'ready' : `not ready${because ? `: ${because}` : ''}`;
  return [
    `  ${instance.instanceId}  ${verdict}${about ? `  (${about})` : ''}`,
    ...(host?.would ? [`      rehearsal: ${host.rehearsal ?? `would ${host.would}`}`] : []),
    ...(host?.checks ?? [])
      .filter((check) => check.verdict !== 'ok')
      .map((check) => `      ${check.verdict} ${check.item}: ${check.words}`),
  ];
}
