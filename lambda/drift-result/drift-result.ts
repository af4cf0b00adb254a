import type { ACMClient } from '@aws-sdk/client-acm';
import type { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { ListCommandsCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { describeIfPresent } from '../shared/acm-certificates.js';
import { type DriftedHost, driftMessage, hostLocation } from '../shared/alert-message.js';
import {
  DRIFT_GENERATOR_ID,
  archivedFinding,
  driftFinding,
  driftFindingId,
} from '../shared/certificate-finding.js';
import { listInvocations, resultLine } from '../shared/command-invocations.js';
import type { TargetLocation } from '../shared/export-request.js';
import { logger } from '../shared/logger.js';
import { clientFor, eventLocation } from '../shared/target-location.js';
import { activeFindings, importFindings } from '../shared/security-hub.js';
import { serialFromAcm, serialFromHex } from '../shared/serial.js';

export interface DriftResultDependencies {
  readonly ssm: SSMClient;
  /** SSM in a member account and Region, for a check that ran there; `home` says which is here. */
  readonly ssmAt?: (location: TargetLocation) => SSMClient;
  readonly home?: { readonly account: string; readonly region: string };
  readonly acm: ACMClient;
  readonly securityHub: SecurityHubClient;
  readonly sns: SNSClient;
  readonly topicArn: string;
  readonly securityHubRegion: string;
  readonly now: () => Date;
}

export interface CommandStatusEvent {
  /** Where the command ran: a member account's events come to the central bus with theirs. */
  readonly account?: string;
  readonly region?: string;
  readonly detail?: {
    readonly 'command-id'?: string;
    readonly 'document-name'?: string;
    readonly status?: string;
  };
}

export interface DriftOutcome {
  readonly commandId: string;
  readonly checked: number;
  readonly drifted: DriftedHost[];
  readonly unreachable: string[];
  readonly resolved: number;
}

/**
 * Compares what each host of a finished drift check reported with ACM's current certificate: a host
 * with another serial, or without the files, gets a finding and is named in one alert; a host back in
 * sync has its finding archived.
 */
export async function handleDriftResult(
  event: CommandStatusEvent,
  deps: DriftResultDependencies,
): Promise<DriftOutcome> {
  const commandId = event.detail?.['command-id'];
  if (!commandId) throw new Error('the command status event has no command-id');
  const now = deps.now();
  const location = deps.home && eventLocation(event, deps.home);
  const ssm = clientFor(deps.ssm, deps.ssmAt, location);
  const where = hostLocation(location);
  const command = (await ssm.send(new ListCommandsCommand({ CommandId: commandId }))).Commands?.[0];
  const certificateArn = command?.Parameters?.CertificateArn?.[0];
  const certName = command?.Parameters?.CertName?.[0];
  const endpoint = command?.Parameters?.VerifyEndpoint?.[0];
  const drifted: DriftedHost[] = [];
  const unreachable: string[] = [];
  let checked = 0;
  const nothing: DriftOutcome = { commandId, checked, drifted, unreachable, resolved: 0 };
  if (!certificateArn || !certName) {
    logger.warn('not a drift check command, or it has expired', { commandId });
    return nothing;
  }
  const detail = await describeIfPresent(deps.acm, certificateArn);
  if (!detail?.Serial) {
    logger.warn('the checked certificate no longer exists', { commandId, certificateArn });
    return nothing;
  }
  const currentSerial = serialFromAcm(detail.Serial);

  const inSync: string[] = [];
  for (const invocation of await listInvocations(ssm, commandId)) {
    const instanceId = invocation.InstanceId ?? 'unknown';
    const result = resultLine(invocation);
    if (invocation.Status !== 'Success' || !result) {
      unreachable.push(instanceId);
      continue;
    }
    checked += 1;
    const hostSerial = reportedSerial(result.serial);
    // With an endpoint in the profile, the check also reports what the service serves there.
    const servedSerial = result.served === 'none' ? undefined : reportedSerial(result.served);
    if (result.status === 'missing' || hostSerial !== currentSerial)
      drifted.push({ instanceId, ...where, ...(hostSerial ? { serial: hostSerial } : {}) });
    else if (endpoint && result.served !== undefined && servedSerial !== currentSerial)
      drifted.push({
        instanceId,
        ...where,
        serial: hostSerial,
        served: { endpoint, ...(servedSerial ? { serial: servedSerial } : {}) },
      });
    else inSync.push(instanceId);
  }

  const active = await activeFindings(deps.securityHub, [DRIFT_GENERATOR_ID], certificateArn);
  const previous = new Map(active.findings.map((finding) => [finding.Id, finding]));
  const facts = { certificateArn, certName, currentSerial };
  const findings = [
    ...drifted.map((host) =>
      driftFinding(facts, host, {
        securityHubRegion: deps.securityHubRegion,
        now,
        createdAt: previous.get(driftFindingId(certificateArn, host.instanceId))?.CreatedAt,
      }),
    ),
    ...inSync.flatMap((instanceId) => {
      const stale = previous.get(driftFindingId(certificateArn, instanceId));
      return stale ? [archivedFinding(stale, now)] : [];
    }),
  ];
  if (findings.length > 0 && !active.skippedBecause) {
    const imported = await importFindings(deps.securityHub, findings);
    if (imported.skippedBecause)
      logger.warn('no Security Hub findings made', { reason: imported.skippedBecause });
  }
  if (drifted.length > 0) {
    await deps.sns.send(
      new PublishCommand({
        ...driftMessage(certName, certificateArn, currentSerial, drifted),
        TopicArn: deps.topicArn,
      }),
    );
  }
  const outcome: DriftOutcome = {
    commandId,
    checked,
    drifted,
    unreachable,
    resolved: findings.length - drifted.length,
  };
  logger.info('drift check compared', { certificateArn, ...outcome });
  return outcome;
}

/** A serial as the check document reports it (colon-separated hex), in the one comparable form. */
function reportedSerial(text: string | undefined): string | undefined {
  return text ? serialFromHex(text.replace(/:/g, '')) : undefined;
}
