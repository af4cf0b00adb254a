import type { ACMClient } from '@aws-sdk/client-acm';
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { describeIfPresent } from '../shared/acm-certificates.js';
import { settleWithConcurrency } from '../shared/concurrency.js';
import { EXPORT_REQUEST_FIELDS, type ExportRequest } from '../shared/export-request.js';
import { logger } from '../shared/logger.js';
import { type CertificateMapping, mappingsForCertificate } from '../shared/mapping-store.js';
import { serialFromAcm } from '../shared/serial.js';

export interface StartRenewalDependencies {
  readonly acm: ACMClient;
  readonly sfn: SFNClient;
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly stateMachineArn: string;
  /** StartExecution calls in flight at once. @default 10 */
  readonly concurrency?: number;
}

export interface RenewalEvent {
  readonly source?: string;
  readonly 'detail-type'?: string;
  readonly resources?: readonly string[];
  readonly detail?: { readonly affectedEntities?: readonly { readonly entityValue?: string }[] };
}

export interface RenewalOutcome {
  readonly certificateArn: string;
  readonly serial?: string;
  /**
   * Executions this call started, or found still running under the same name and input (Step Functions
   * then returns the running execution rather than starting another).
   */
  readonly started: string[];
  /** Executions an earlier delivery of the same renewal had started and that have ended since. */
  readonly alreadyStarted: string[];
  /** Mappings whose recorded serial is already the current one. */
  readonly upToDate: string[];
}

export class RenewalStartError extends Error {
  override name = 'RenewalStartError';
}

const CERTIFICATE_ARN = new RegExp(EXPORT_REQUEST_FIELDS.CertificateArn.pattern);

/**
 * Starts one export-install execution per mapping of a renewed certificate. Each execution is named from
 * the certificate, its new serial and the mapping, so the same renewal delivered twice (or by ACM and by
 * AWS Health) starts nothing new. A partial failure throws, so EventBridge delivers the event again, and
 * the next attempt starts only what is missing.
 */
export async function startRenewal(
  event: RenewalEvent,
  deps: StartRenewalDependencies,
): Promise<RenewalOutcome> {
  const certificateArn = renewedCertificateArn(event);
  const outcome: RenewalOutcome = { certificateArn, started: [], alreadyStarted: [], upToDate: [] };
  const mappings = await mappingsForCertificate(deps.db, deps.tableName, certificateArn);
  if (mappings.length === 0) {
    logger.info('renewed certificate has no mapping; nothing to install', { certificateArn });
    return outcome;
  }

  const current = (await describeIfPresent(deps.acm, certificateArn))?.Serial;
  if (!current) {
    logger.warn('renewed certificate no longer exists; nothing to install', { certificateArn });
    return outcome;
  }
  const serial = serialFromAcm(current);
  const pending = mappings.filter((mapping) => {
    const current = mapping.Serial !== undefined && serialFromAcm(mapping.Serial) === serial;
    if (current) outcome.upToDate.push(mappingName(mapping));
    return !current;
  });

  const results = await settleWithConcurrency(pending, deps.concurrency ?? 10, async (mapping) => {
    const name = renewalExecutionName(certificateArn, serial, mapping);
    try {
      await deps.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: deps.stateMachineArn,
          name,
          input: JSON.stringify(exportRequestOf(mapping)),
        }),
      );
      outcome.started.push(name);
    } catch (error) {
      if ((error as Error).name !== 'ExecutionAlreadyExists') throw error;
      outcome.alreadyStarted.push(name);
    }
  });

  const failures = results.flatMap((result, index) =>
    result.status === 'rejected' ? [`${mappingName(pending[index]!)}: ${(result.reason as Error).name}`] : [],
  );
  logger.info('renewal executions', { ...outcome, serial, failed: failures });
  if (failures.length > 0) {
    throw new RenewalStartError(
      `could not start ${failures.length} of ${pending.length} renewal executions for ${certificateArn} (${failures.slice(0, 5).join(', ')}); the event will be retried`,
    );
  }
  return { ...outcome, serial };
}

/** The certificate an ACM "Certificate Available" or an AWS Health renewal event is about. */
export function renewedCertificateArn(event: RenewalEvent): string {
  const candidates = [
    ...(event.resources ?? []),
    ...(event.detail?.affectedEntities ?? []).map((entity) => entity.entityValue),
  ];
  const arn = candidates.find(
    (candidate): candidate is string => typeof candidate === 'string' && CERTIFICATE_ARN.test(candidate),
  );
  if (!arn) throw new RenewalStartError(`the ${event['detail-type'] ?? 'event'} names no ACM certificate`);
  return arn;
}

/**
 * `renew-<certificate id prefix>-<hash of certificate, serial and mapping>`: at most 80 characters from
 * `0-9A-Za-z-_`, the same for every delivery of one renewal, different for every mapping and serial.
 */
export function renewalExecutionName(
  certificateArn: string,
  serial: string,
  mapping: CertificateMapping,
): string {
  const certificateId = certificateArn.split('/').pop()!.slice(0, 8);
  const digest = createHash('sha256')
    .update([certificateArn, serial, mapping.TagKeyValue, mapping.CertName].join('\n'))
    .digest('hex')
    .slice(0, 40);
  return `renew-${certificateId}-${digest}`;
}

/** The export a renewal starts for a mapping: its four fields, and the profile it was exported with. */
function exportRequestOf(mapping: CertificateMapping): ExportRequest & { Profile?: string } {
  return {
    CertificateArn: mapping.CertificateArn,
    CertName: mapping.CertName,
    TargetTagKey: mapping.TargetTagKey,
    TargetTagValue: mapping.TargetTagValue,
    ...(mapping.Profile ? { Profile: mapping.Profile } : {}),
  };
}

function mappingName(mapping: CertificateMapping): string {
  return `${mapping.CertName}@${mapping.TagKeyValue}`;
}
