import type { CertificateDetail } from '@aws-sdk/client-acm';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { describeIfPresent } from '../shared/acm-certificates.js';
import { type CertificateExportDependencies, exportOnce } from '../shared/certificate-export.js';
import { ExportInProgressError } from '../shared/errors.js';
import { EXPORT_REQUEST_FIELDS, locationOf } from '../shared/export-request.js';
import { assertExportable } from '../export-certificate/export-certificate.js';
import { logger } from '../shared/logger.js';
import { type CertificateMapping, mappingsForCertificate } from '../shared/mapping-store.js';
import { type QueuedRenewal, queueRenewals } from '../shared/renewal-queue.js';
import { serialFromAcm } from '../shared/serial.js';

export interface StartRenewalDependencies extends CertificateExportDependencies {
  readonly sqs: SQSClient;
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The renewal queue, whose consumer starts the executions. */
  readonly queueUrl: string;
  /** SendMessageBatch calls in flight at once. @default 10 */
  readonly concurrency?: number;
}

export interface RenewalEvent {
  /** EventBridge's id of the event: the same on every delivery of it. */
  readonly id?: string;
  readonly source?: string;
  readonly 'detail-type'?: string;
  readonly resources?: readonly string[];
  readonly detail?: { readonly affectedEntities?: readonly { readonly entityValue?: string }[] };
}

export interface RenewalOutcome {
  readonly certificateArn: string;
  readonly serial?: string;
  /** The executions put on the renewal queue, by name (one per mapping that needs the new serial). */
  readonly queued: string[];
  /** Mappings whose recorded serial is already the current one. */
  readonly upToDate: string[];
  /**
   * Whether the certificate's export at the new serial is stored (made now or by an earlier delivery);
   * false when another run is still making it, or when it cannot be exported (each execution says why).
   */
  readonly exportReady?: boolean;
}

export class RenewalStartError extends Error {
  override name = 'RenewalStartError';
}

const CERTIFICATE_ARN = new RegExp(EXPORT_REQUEST_FIELDS.CertificateArn.pattern);

/**
 * Exports a renewed certificate once, then puts one export-install execution per mapping on the renewal
 * queue, whose consumer starts them; each writes that one export into its mapping's secret and installs
 * it. Each execution is named from the certificate, its new serial and the mapping, so the same renewal
 * delivered twice (or by ACM and by AWS Health) starts nothing new, and the export of a serial is made
 * once (see exportOnce). The event succeeds only once every execution is on the queue; otherwise it
 * fails, EventBridge delivers it again, and queueing one twice is harmless.
 */
export async function startRenewal(
  event: RenewalEvent,
  deps: StartRenewalDependencies,
): Promise<RenewalOutcome> {
  const certificateArn = renewedCertificateArn(event);
  const outcome: RenewalOutcome = { certificateArn, queued: [], upToDate: [] };
  const mappings = await mappingsForCertificate(deps.db, deps.tableName, certificateArn);
  if (mappings.length === 0) {
    logger.info('renewed certificate has no mapping; nothing to install', { certificateArn });
    return outcome;
  }

  const detail = await describeIfPresent(deps.acm, certificateArn);
  if (!detail?.Serial) {
    logger.warn('renewed certificate no longer exists; nothing to install', { certificateArn });
    return outcome;
  }
  const serial = serialFromAcm(detail.Serial);
  const outdated = mappings.filter(
    (mapping) => mapping.Serial === undefined || serialFromAcm(mapping.Serial) !== serial,
  );
  outcome.upToDate.push(...mappings.filter((mapping) => !outdated.includes(mapping)).map(mappingName));
  const exported =
    outdated.length > 0 ? await exportForMappings(deps, event, certificateArn, detail, serial) : 'none';
  const renewals: QueuedRenewal[] = outdated.map((mapping) => ({
    name: renewalExecutionName(certificateArn, serial, mapping),
    input: {
      ...exportRequestOf(mapping),
      // The executions take the one export; one that cannot be made is left to each to explain.
      ...(exported === 'stored' || exported === 'in-progress' ? { ExportedSerial: serial } : {}),
    },
  }));

  const notQueued = await queueRenewals(deps.sqs, deps.queueUrl, renewals, deps.concurrency);
  const failed = new Set(notQueued);
  outcome.queued.push(...renewals.map((renewal) => renewal.name).filter((name) => !failed.has(name)));
  logger.info('renewal executions queued', {
    certificateArn,
    serial,
    queued: outcome.queued.length,
    upToDate: outcome.upToDate.length,
    failed: notQueued.length,
  });
  if (notQueued.length > 0) {
    throw new RenewalStartError(
      `could not queue ${notQueued.length} of ${renewals.length} renewal executions for ${certificateArn}; the event will be retried`,
    );
  }
  return { ...outcome, serial, exportReady: exported === 'stored' };
}

/**
 * The certificate's one export at `serial`, made (or found) before any execution starts, so none of
 * them calls ACM: `stored`. A certificate that cannot be exported is left to the executions, each of
 * which fails with the reason on its mapping: `not-exportable`. Another run exporting the same serial
 * is left to finish, and the executions wait for its export: `in-progress`.
 */
async function exportForMappings(
  deps: StartRenewalDependencies,
  event: RenewalEvent,
  certificateArn: string,
  detail: CertificateDetail,
  serial: string,
): Promise<'stored' | 'in-progress' | 'not-exportable'> {
  try {
    assertExportable(detail);
  } catch (error) {
    logger.warn('renewed certificate cannot be exported; each mapping will report why', {
      reason: (error as Error).message,
    });
    return 'not-exportable';
  }
  try {
    await exportOnce(deps, certificateArn, serial, `renewal/${event.id ?? serial}`);
    return 'stored';
  } catch (error) {
    if (!(error instanceof ExportInProgressError)) throw error;
    logger.info('another run is exporting the renewed certificate; the executions will use its export', {
      certificateArn,
      serial,
    });
    return 'in-progress';
  }
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

/**
 * The export a renewal starts for a mapping: its four fields, where its hosts are when not here, and the
 * profile it was exported with.
 */
function exportRequestOf(mapping: CertificateMapping): QueuedRenewal['input'] {
  return {
    CertificateArn: mapping.CertificateArn,
    CertName: mapping.CertName,
    TargetTagKey: mapping.TargetTagKey,
    TargetTagValue: mapping.TargetTagValue,
    ...locationOf(mapping),
    ...(mapping.Profile ? { Profile: mapping.Profile } : {}),
  };
}

function mappingName(mapping: CertificateMapping): string {
  return `${mapping.CertName}@${mapping.TagKeyValue}`;
}
