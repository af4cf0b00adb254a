import { X509Certificate, createHash } from 'node:crypto';
import {
  type ACMClient,
  type CertificateDetail,
  DescribeCertificateCommand,
  ExportCertificateCommand,
} from '@aws-sdk/client-acm';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  formatCertificateBundle,
  isScheduledForDeletion,
  mappingSecretName,
} from '../shared/certificate-secret.js';
import {
  CertificateNotExportableError,
  CertificateNotFoundError,
  CertificateNotIssuedError,
  CertificateOutOfScopeError,
  TargetTagNotGrantedError,
  InvalidExportRequestError,
  CertificateChangedDuringExportError,
} from '../shared/errors.js';
import {
  type ExportRequest,
  isDryRun,
  profileOf,
  tagKeyValue,
  validatedRequest,
} from '../shared/export-request.js';
import { type InstallProfiles, profileSettings } from '../shared/install-parameters.js';
import { logger } from '../shared/logger.js';
import { serialFromAcm, serialFromHex } from '../shared/serial.js';
import type { ExportedCertificate } from '../shared/workflow-state.js';

export interface ExportDependencies {
  readonly acm: ACMClient;
  readonly secrets: SecretsManagerClient;
  /** The app's KMS key; every secret is encrypted with it. */
  readonly kmsKeyId: string;
  readonly region: string;
  readonly accountId: string;
  /** The partition the deployment runs in: a certificate of another one is out of reach. */
  readonly partition: string;
  /** Tag keys the hosts' access policy compares; a request on another key could never be read. */
  readonly grantedTagKeys: readonly string[];
  /** The deployment's install profiles: a request may name only one of them. */
  readonly profiles: InstallProfiles;
  readonly now: () => Date;
}

/** ACM's export passphrase: 4–128 ASCII characters, never `#`, `$` or `%`. */
export const PASSPHRASE_LENGTH = 64;
export const PASSPHRASE_EXCLUDED_CHARACTERS = '#$%';

/**
 * Exports an ACM certificate with a fresh passphrase and stores what the target hosts need in the
 * mapping's secret, as a new version.
 */
export async function exportCertificate(
  input: unknown,
  deps: ExportDependencies,
  run?: { readonly executionArn: string },
): Promise<ExportedCertificate> {
  if (isDryRun(input)) throw new InvalidExportRequestError('a dry run never reaches the export step');
  const request = validatedRequest(input);
  assertTagGranted(request.TargetTagKey, deps.grantedTagKeys);
  const profile = profileOf(input);
  profileSettings(deps.profiles, profile);
  const detail = await exportableCertificate(request.CertificateArn, deps);
  const secretId = mappingSecretName(request);
  const metadata = (serial: string, secretVersionId: string): ExportedCertificate => ({
    certificateArn: request.CertificateArn,
    certName: request.CertName,
    certificateType: detail.Type ?? 'UNKNOWN',
    serial,
    notAfter: (detail.NotAfter ?? new Date(0)).toISOString(),
    secretId,
    secretVersionId,
    exportedAt: deps.now().toISOString(),
    profile,
  });

  // One export per execution: the secret version an execution writes is named after it, so a retry of
  // this step (a lost response, a failure after the write) finds it and exports nothing again.
  const token = run ? secretVersionToken(run.executionArn) : undefined;
  if (token && (await hasVersion(deps.secrets, secretId, token))) {
    logger.info('this execution already exported the certificate; using that secret version', { secretId });
    return metadata(serialFromAcm(detail.Serial ?? ''), token);
  }

  const passphrase = await generatePassphrase(deps.secrets);
  const exported = await deps.acm.send(
    new ExportCertificateCommand({
      CertificateArn: request.CertificateArn,
      Passphrase: new TextEncoder().encode(passphrase),
    }),
  );
  if (!exported.Certificate || !exported.PrivateKey) {
    throw new Error('ACM returned an export without a certificate or private key');
  }
  // Metadata describes what was exported; ACM renewing in between is caught and retried.
  const serial = serialFromHex(new X509Certificate(exported.Certificate).serialNumber);
  if (serialFromAcm(detail.Serial ?? '') !== serial) {
    throw new CertificateChangedDuringExportError(
      `certificate ${request.CertificateArn} changed while it was exported (renewed?); exporting again`,
    );
  }

  const secretVersionId = await storeBundle(
    deps,
    request,
    secretId,
    {
      passphrase,
      encryptedPrivateKey: exported.PrivateKey,
      certificate: exported.Certificate,
      certificateChain: exported.CertificateChain ?? '',
    },
    token,
  );
  return metadata(serial, secretVersionId);
}

/** The secret version id an execution writes: a UUID made from its ARN (Secrets Manager's idempotency token). */
export function secretVersionToken(executionArn: string): string {
  const hex = createHash('sha256').update(executionArn).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Whether the secret holds the version `versionId` (a missing secret holds none). */
async function hasVersion(
  secrets: SecretsManagerClient,
  secretId: string,
  versionId: string,
): Promise<boolean> {
  try {
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    return Object.hasOwn(described.VersionIdsToStages ?? {}, versionId);
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return false;
    throw error;
  }
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

async function generatePassphrase(secrets: SecretsManagerClient): Promise<string> {
  const response = await secrets.send(
    new GetRandomPasswordCommand({
      PasswordLength: PASSPHRASE_LENGTH,
      ExcludeCharacters: PASSPHRASE_EXCLUDED_CHARACTERS,
      RequireEachIncludedType: true,
    }),
  );
  if (!response.RandomPassword) throw new Error('Secrets Manager returned no random password');
  return response.RandomPassword;
}

/**
 * Writes a new version of the mapping's secret. Renewals are the common case, so this tries
 * PutSecretValue first and creates the secret only when it does not exist yet.
 */
async function storeBundle(
  deps: ExportDependencies,
  request: ExportRequest,
  secretId: string,
  material: Parameters<typeof formatCertificateBundle>[0],
  token?: string,
): Promise<string> {
  const SecretString = formatCertificateBundle(material);
  const ClientRequestToken = token;
  const putVersion = async () =>
    (
      await deps.secrets.send(
        new PutSecretValueCommand({ SecretId: secretId, SecretString, ClientRequestToken }),
      )
    ).VersionId ?? '';
  try {
    return await putVersion();
  } catch (error) {
    if (isScheduledForDeletion(error)) {
      // Unmapped earlier and mapped again within the recovery window: the same secret comes back.
      await deps.secrets.send(new RestoreSecretCommand({ SecretId: secretId }));
      return putVersion();
    }
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
  }
  try {
    const created = await deps.secrets.send(
      new CreateSecretCommand({
        Name: secretId,
        SecretString,
        ClientRequestToken,
        KmsKeyId: deps.kmsKeyId,
        Description: `ACM export of ${request.CertificateArn} as ${request.CertName} for instances tagged ${tagKeyValue(request)}`,
        Tags: [{ Key: request.TargetTagKey, Value: request.TargetTagValue }],
      }),
    );
    return created.VersionId ?? '';
  } catch (error) {
    if ((error as Error).name === 'ResourceExistsException') return putVersion();
    throw error;
  }
}
