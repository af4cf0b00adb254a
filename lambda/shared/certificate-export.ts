import { X509Certificate, createHash } from 'node:crypto';
import { type ACMClient, ExportCertificateCommand } from '@aws-sdk/client-acm';
import {
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  type ExportedMaterial,
  formatCertificateBundle,
  isScheduledForDeletion,
  parseCertificateBundle,
} from './certificate-secret.js';
import { type ExportClaimStore, claimExport } from './export-claim.js';
import { CertificateChangedDuringExportError, ExportInProgressError } from './errors.js';
import { logger } from './logger.js';
import { writeSecretVersion } from './secret-versions.js';
import { serialFromHex } from './serial.js';
import { windowsKeystore } from './pkcs12.js';

/**
 * One export of a certificate per serial, whatever number of mappings it has. The export is kept in a
 * secret of the certificate's own (below a prefix no host is granted), as a version named after the
 * serial; every mapping's secret is written from it. ExportCertificate returns the same key each time
 * (only its passphrase differs), so N exports protect nothing one does not.
 */
export const EXPORT_SECRET_PREFIX = 'acm-export/';

/** ACM's export passphrase: 4–128 ASCII characters, never `#`, `$` or `%`. */
export const PASSPHRASE_LENGTH = 64;
export const PASSPHRASE_EXCLUDED_CHARACTERS = '#$%';

export interface CertificateExportDependencies {
  readonly acm: ACMClient;
  readonly secrets: SecretsManagerClient;
  readonly claims: ExportClaimStore;
  /** The app's KMS key; every secret is encrypted with it. */
  readonly kmsKeyId: string;
  readonly now: () => Date;
}

/** `acm-export/<certificate id>`: one per certificate, stable across its renewals. */
export function certificateExportSecretName(certificateArn: string): string {
  return `${EXPORT_SECRET_PREFIX}${certificateArn.split('/').pop()}`;
}

/** A UUID made from `text` (Secrets Manager's version ids and idempotency tokens are UUIDs). */
export function uuidFrom(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The version id of a certificate's export at a serial: the same for every caller, run and retry. */
export function exportVersionId(certificateArn: string, serial: string): string {
  return uuidFrom(`${certificateArn}\n${serial}`);
}

/** The serial of a bundle's leaf certificate, in the app's one form. */
export function leafSerial(material: Pick<ExportedMaterial, 'certificate'>): string {
  return serialFromHex(new X509Certificate(material.certificate).serialNumber);
}

/**
 * The certificate's stored export at `serial`, or undefined when there is none. With `latestOnly`, only
 * the newest export counts (AWSCURRENT): a caller that trusts the serial without asking ACM never gets
 * an export a later renewal replaced.
 */
export async function storedExport(
  secrets: SecretsManagerClient,
  certificateArn: string,
  serial: string,
  options: { readonly latestOnly?: boolean } = {},
): Promise<ExportedMaterial | undefined> {
  let answer;
  try {
    answer = await secrets.send(
      new GetSecretValueCommand({
        SecretId: certificateExportSecretName(certificateArn),
        VersionId: exportVersionId(certificateArn, serial),
      }),
    );
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException' || isScheduledForDeletion(error)) {
      return undefined;
    }
    throw error;
  }
  if (options.latestOnly && !(answer.VersionStages ?? []).includes('AWSCURRENT')) return undefined;
  const material = parseCertificateBundle(answer.SecretString ?? '');
  if (leafSerial(material) !== serial) {
    throw new Error(`the stored export of ${certificateArn} at ${serial} holds another certificate`);
  }
  return material;
}

/**
 * The certificate's export at `serial`: the stored one, or a new export when there is none yet. Only the
 * holder of the export claim calls ACM; anyone else for the same serial gets ExportInProgressError and
 * retries until the export is stored. The export is stored before it is returned; a write that fails
 * is retried by the SDK with the same version id, so a lost answer never makes a second version.
 */
export async function exportOnce(
  deps: CertificateExportDependencies,
  certificateArn: string,
  serial: string,
  owner: string,
): Promise<ExportedMaterial> {
  const stored = await storedExport(deps.secrets, certificateArn, serial);
  if (stored) return stored;
  const claimed = await claimExport(deps.claims, { certificateArn, serial, owner, now: deps.now() });
  if (!claimed) {
    throw new ExportInProgressError(
      `certificate ${certificateArn} is being exported at serial ${serial} by another run; waiting for that export`,
    );
  }

  const passphrase = await generatePassphrase(deps.secrets);
  const exported = await deps.acm.send(
    new ExportCertificateCommand({
      CertificateArn: certificateArn,
      Passphrase: new TextEncoder().encode(passphrase),
    }),
  );
  if (!exported.Certificate || !exported.PrivateKey) {
    throw new Error('ACM returned an export without a certificate or private key');
  }
  const acmExport = {
    passphrase,
    encryptedPrivateKey: exported.PrivateKey,
    certificate: exported.Certificate,
    certificateChain: exported.CertificateChain ?? '',
  };
  // What was described is what is stored under its serial: ACM renewing in between is retried.
  if (leafSerial(acmExport) !== serial) {
    throw new CertificateChangedDuringExportError(
      `certificate ${certificateArn} changed while it was exported (renewed?); exporting again`,
    );
  }
  // Windows hosts cannot open ACM's encrypted PKCS #8 key (README, "Windows hosts"): their keystore
  // is made here, once per serial, beside it.
  const material: ExportedMaterial = { ...acmExport, windowsKeystore: windowsKeystore(acmExport) };
  await writeSecretVersion(deps.secrets, {
    secretId: certificateExportSecretName(certificateArn),
    secretString: formatCertificateBundle(material),
    versionId: exportVersionId(certificateArn, serial),
    create: {
      kmsKeyId: deps.kmsKeyId,
      description: `The export of ${certificateArn} every mapping's secret is written from; no host reads it`,
    },
  });
  logger.info('certificate exported', { certificateArn, serial });
  return material;
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
