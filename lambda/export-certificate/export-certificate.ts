import { X509Certificate } from 'node:crypto';
import { type ACMClient, type CertificateDetail, DescribeCertificateCommand } from '@aws-sdk/client-acm';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  type CertificateExportDependencies,
  exportOnce,
  leafSerial,
  storedExport,
  uuidFrom,
} from '../shared/certificate-export.js';
import {
  formatCertificateBundle,
  isScheduledForDeletion,
  mappingSecretName,
  parseCertificateBundle,
} from '../shared/certificate-secret.js';
import {
  CertificateNotExportableError,
  CertificateNotFoundError,
  CertificateNotIssuedError,
  CertificateOutOfScopeError,
  MappingRemovedError,
  TargetTagNotGrantedError,
  InvalidExportRequestError,
} from '../shared/errors.js';
import {
  EXPORTED_SERIAL_FIELD,
  type ExportRequest,
  type TargetLocation,
  isDryRun,
  locationOf,
  profileOf,
  tagKeyValue,
  validatedRequest,
} from '../shared/export-request.js';
import { type InstallProfiles, profileSettings } from '../shared/install-parameters.js';
import { logger } from '../shared/logger.js';
import { writeSecretVersion } from '../shared/secret-versions.js';
import { shareSecretWithTarget, targetReadPolicy } from '../shared/secret-sharing.js';
import { type TargetLocationPolicy, locationProblems, ownPlaceOnly } from '../shared/target-location.js';
import { isSerial, serialFromAcm, serialFromHex } from '../shared/serial.js';
import type { ExportedCertificate } from '../shared/workflow-state.js';

export interface ExportDependencies extends CertificateExportDependencies {
  readonly region: string;
  readonly accountId: string;
  /** The partition the deployment runs in: a certificate of another one is out of reach. */
  readonly partition: string;
  /** Tag keys the hosts' access policy compares; a request on another key could never be read. */
  readonly grantedTagKeys: readonly string[];
  /** The deployment's install profiles: a request may name only one of them. */
  readonly profiles: InstallProfiles;
  /** Where a mapping's hosts may be besides this account and Region. @default nowhere else */
  readonly locations?: TargetLocationPolicy;
  /** In a deployment for an organization: its id, which a shared secret's policy requires. */
  readonly organizationId?: string;
  /** Throws TargetNotReachableError when the member stack at a location cannot be acted through. */
  readonly assertReachable?: (location: TargetLocation) => Promise<void>;
  /**
   * Makes sure the mapping exists before its secret is first written (creating it with the status
   * Exporting when it does not), so a secret never outlives a failed mapping write.
   */
  readonly recordStarted: (request: ExportRequest, started: ExportStarted) => Promise<void>;
}

export interface ExportStarted {
  readonly secretId: string;
  readonly profile: string;
  readonly executionArn: string;
  /**
   * A renewal execution's: its mapping must still exist (throw MappingRemovedError when it was unmapped
   * since the renewal was queued); an export request's creates it when it is new.
   */
  readonly renewal: boolean;
}

/**
 * Gives the mapping's secret a new version holding the certificate's export at its current serial:
 * the certificate's one export of that serial when there is one, a new export otherwise.
 */
export async function exportCertificate(
  input: unknown,
  deps: ExportDependencies,
  run: { readonly executionArn: string },
): Promise<ExportedCertificate> {
  if (isDryRun(input)) throw new InvalidExportRequestError('a dry run never reaches the export step');
  const { [EXPORTED_SERIAL_FIELD]: exportedSerial, ...fields } = (input ?? {}) as Record<string, unknown>;
  const request = validatedRequest(fields);
  assertTagGranted(request.TargetTagKey, deps.grantedTagKeys);
  const profile = profileOf(fields);
  profileSettings(deps.profiles, profile);
  const secretId = mappingSecretName(request);
  const location = locationOf(request);
  if (location) await assertLocation(location, deps);

  const renewed = await renewalExport(deps.secrets, request.CertificateArn, exportedSerial);
  const serial = renewed
    ? leafSerial(renewed)
    : serialFromAcm((await exportableCertificate(request.CertificateArn, deps)).Serial ?? '');
  const renewal = exportedSerial !== undefined;
  await deps.recordStarted(request, { secretId, profile, executionArn: run.executionArn, renewal });
  const material = renewed ?? (await exportOnce(deps, request.CertificateArn, serial, run.executionArn));

  // One version per execution, named after it: a retry of this step (a lost response, a failure after
  // the write) writes nothing new, and the version says which execution wrote it. A renewal never brings
  // back a secret an unmap scheduled for deletion.
  const written = await writeSecretVersion(deps.secrets, {
    secretId,
    restore: !renewal,
    secretString: formatCertificateBundle(material),
    versionId: secretVersionToken(run.executionArn),
    create: {
      kmsKeyId: deps.kmsKeyId,
      description: `ACM export of ${request.CertificateArn} as ${request.CertName} for instances tagged ${tagKeyValue(request)}`,
      tags: [{ Key: request.TargetTagKey, Value: request.TargetTagValue }],
    },
  }).catch((error: unknown) => {
    if (renewal && isScheduledForDeletion(error)) throw mappingRemoved(request);
    throw error;
  });
  if (written.secretString !== formatCertificateBundle(material)) {
    logger.info('this execution already wrote the secret; using that version', { secretId });
  }
  if (location) {
    await shareSecretWithTarget(
      deps.secrets,
      secretId,
      targetReadPolicy(request, location, {
        partition: deps.partition,
        organizationId: deps.organizationId ?? '',
      }),
    );
  }
  // The metadata describes what the secret holds.
  const leaf = new X509Certificate(parseCertificateBundle(written.secretString).certificate);
  return {
    certificateArn: request.CertificateArn,
    certName: request.CertName,
    serial: serialFromHex(leaf.serialNumber),
    notAfter: new Date(leaf.validTo).toISOString(),
    secretId,
    secretVersionId: written.versionId,
    exportedAt: deps.now().toISOString(),
    profile,
    ...(location ? { location } : {}),
  };
}

/** A mapping in another account or Region: allowed by configuration, and its member stack answering. */
async function assertLocation(location: TargetLocation, deps: ExportDependencies): Promise<void> {
  const problems = locationProblems(
    location,
    deps.locations ?? ownPlaceOnly({ account: deps.accountId, region: deps.region }),
  );
  if (problems.length > 0)
    throw new InvalidExportRequestError(`invalid export request: ${problems.join('; ')}`);
  await deps.assertReachable?.(location);
}

/** Why a renewal did nothing: its mapping was unmapped after the renewal was queued. */
export function mappingRemoved(request: ExportRequest): MappingRemovedError {
  return new MappingRemovedError(
    `${request.CertName} (${request.CertificateArn}) on instances tagged ${tagKeyValue(request)} was unmapped after its renewal was queued: nothing was exported, restored or installed`,
  );
}

/** The secret version id an execution writes: a UUID made from its ARN (Secrets Manager's idempotency token). */
export function secretVersionToken(executionArn: string): string {
  return uuidFrom(executionArn);
}

/**
 * The export a renewal execution was queued with, when the certificate's latest stored export is still
 * at that serial; undefined when the input names none (or a later renewal replaced it: ask ACM then).
 */
async function renewalExport(secrets: SecretsManagerClient, certificateArn: string, exportedSerial: unknown) {
  if (exportedSerial === undefined) return undefined;
  if (!isSerial(exportedSerial)) {
    throw new InvalidExportRequestError(
      `invalid export request: ${EXPORTED_SERIAL_FIELD} must be a serial as colon-separated lower-case hex bytes`,
    );
  }
  return storedExport(secrets, certificateArn, exportedSerial, { latestOnly: true });
}

/**
 * Hosts read their secret through the instance access policy, which compares only the configured tag
 * keys: a target on any other key would get the certificate exported and never installed.
 */
export function assertTagGranted(tagKey: string, grantedTagKeys: readonly string[]): void {
  if (!grantedTagKeys.includes(tagKey)) {
    throw new TargetTagNotGrantedError(
      `hosts cannot read secrets by the tag key "${tagKey}": the instance access policy compares only ${grantedTagKeys.map((key) => `"${key}"`).join(', ')}; add "${tagKey}" to instanceTagKeys and redeploy, or target by one of those keys`,
    );
  }
}

/** The certificate's details, once it is known to be in scope, issued and exportable. */
export async function exportableCertificate(
  certificateArn: string,
  deps: Pick<ExportDependencies, 'acm' | 'region' | 'accountId' | 'partition'>,
): Promise<CertificateDetail> {
  assertInScope(certificateArn, deps);
  const detail = await describe(deps.acm, certificateArn);
  assertExportable(detail);
  return detail;
}

function assertInScope(
  certificateArn: string,
  deps: Pick<ExportDependencies, 'region' | 'accountId' | 'partition'>,
): void {
  const [, partition, , region, account] = certificateArn.split(':');
  if (partition !== deps.partition) {
    throw new CertificateOutOfScopeError(
      `certificate ${certificateArn} is in the ${partition} partition, but this deployment runs in ${deps.partition}`,
    );
  }
  if (region !== deps.region) {
    throw new CertificateOutOfScopeError(
      `certificate ${certificateArn} is in ${region}, but this deployment exports certificates in ${deps.region} only; deploy the app in ${region} to export it`,
    );
  }
  if (account !== deps.accountId) {
    throw new CertificateOutOfScopeError(
      `certificate ${certificateArn} belongs to account ${account}, not to this account (${deps.accountId})`,
    );
  }
}

async function describe(acm: ACMClient, certificateArn: string): Promise<CertificateDetail> {
  try {
    const response = await acm.send(new DescribeCertificateCommand({ CertificateArn: certificateArn }));
    if (!response.Certificate)
      throw new CertificateNotFoundError(`certificate ${certificateArn} was not found`);
    return response.Certificate;
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') {
      throw new CertificateNotFoundError(
        `certificate ${certificateArn} does not exist in this account and Region (was it deleted?)`,
      );
    }
    throw error;
  }
}

/** Only ISSUED private certificates, and public ones requested with Export=ENABLED, can be exported. */
export function assertExportable(detail: CertificateDetail): void {
  const arn = detail.CertificateArn ?? 'the certificate';
  if (detail.Status !== 'ISSUED') {
    throw new CertificateNotIssuedError(
      `certificate ${arn} is ${detail.Status ?? 'in an unknown state'}, not ISSUED: only issued certificates can be exported`,
    );
  }
  if (detail.Type === 'PRIVATE') return;
  if (detail.Type === 'IMPORTED') {
    throw new CertificateNotExportableError(
      `certificate is not exportable: ${arn} was imported into ACM, and ACM exports only certificates it issued`,
    );
  }
  if (detail.Options?.Export !== 'ENABLED') {
    throw new CertificateNotExportableError(
      `certificate is not exportable: ${arn} was requested with Export=${detail.Options?.Export ?? 'DISABLED'}; request a new public certificate with Export=ENABLED`,
    );
  }
}
