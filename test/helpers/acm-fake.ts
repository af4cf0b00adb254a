import {
  ACMClient,
  type CertificateDetail,
  DescribeCertificateCommand,
  ExportCertificateCommand,
} from '@aws-sdk/client-acm';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { randomBytes } from 'node:crypto';
import { type TestCertificate, encryptAsAcmDoes } from './certificates.js';
import { CERTIFICATE_ARN } from './fixtures.js';

/** A DescribeCertificate answer for an issued private certificate (override fields per test). */
export function certificateDetail(
  certificate: TestCertificate,
  overrides: Partial<CertificateDetail> = {},
): CertificateDetail {
  return {
    CertificateArn: CERTIFICATE_ARN,
    DomainName: 'app.example.com',
    Status: 'ISSUED',
    Type: 'PRIVATE',
    Serial: certificate.acmSerial,
    NotAfter: certificate.notAfter,
    KeyAlgorithm: 'RSA_2048',
    ...overrides,
  };
}

/** One secret as the fake Secrets Manager keeps it: every version's content, and the current one. */
export interface StoredSecret {
  /** The AWSCURRENT version's content. */
  value: string;
  /** How many versions were written. */
  versions: number;
  versionIds: string[];
  readonly contents: Map<string, string>;
  kmsKeyId?: string;
  tags: unknown;
  /** Set by DeleteSecret: the secret refuses reads and writes until RestoreSecret. */
  scheduledForDeletion?: boolean;
}

export type SecretsStore = Map<string, StoredSecret>;

/**
 * ACM as this app meets it: DescribeCertificate answers `detail`; ExportCertificate encrypts the real key
 * with whatever passphrase it was given (after `exportThrottles` ThrottlingExceptions) and counts.
 */
export function acmService(
  certificate: TestCertificate,
  detail: CertificateDetail,
  options: { readonly exportThrottles?: number } = {},
) {
  let throttlesLeft = options.exportThrottles ?? 0;
  const counts = { exports: 0 };
  const operations = {
    DescribeCertificate: () => ({ Certificate: detail }),
    ExportCertificate: (input: { Passphrase: Uint8Array }) => {
      if (throttlesLeft > 0) {
        throttlesLeft -= 1;
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      }
      counts.exports += 1;
      return {
        Certificate: certificate.certificatePem,
        CertificateChain: certificate.chainPem,
        PrivateKey: encryptAsAcmDoes(certificate.privateKeyPem, input.Passphrase),
      };
    },
  };
  return { operations, counts };
}

/**
 * Secrets Manager as this app meets it: every version written is kept, by name, with the service's
 * rules for idempotency tokens (a version id is written once; the same content again is a no-op),
 * staging labels, and secrets scheduled for deletion (refused until restored).
 */
export function secretsManagerService(stored: SecretsStore) {
  const notFound = () =>
    new ResourceNotFoundException({
      message: "Secrets Manager can't find the specified secret.",
      $metadata: {},
    });
  const markedForDeletion = () =>
    new InvalidRequestException({
      message: "You can't perform this operation on the secret because it was marked for deletion.",
      $metadata: {},
    });
  const live = (secretId: string) => {
    const secret = stored.get(secretId);
    if (!secret) throw notFound();
    if (secret.scheduledForDeletion) throw markedForDeletion();
    return secret;
  };
  const stagesOf = (secret: StoredSecret, versionId: string) => {
    const index = secret.versionIds.indexOf(versionId);
    const last = secret.versionIds.length - 1;
    return index === last ? ['AWSCURRENT'] : index === last - 1 ? ['AWSPREVIOUS'] : [];
  };
  const addVersion = (secret: StoredSecret, versionId: string, content: string) => {
    secret.value = content;
    secret.versions += 1;
    secret.versionIds.push(versionId);
    secret.contents.set(versionId, content);
  };
  return {
    GetRandomPassword: (input: { PasswordLength: number }) => ({
      RandomPassword: randomBytes(input.PasswordLength).toString('base64').slice(0, input.PasswordLength),
    }),
    PutSecretValue: (input: { SecretId: string; SecretString: string; ClientRequestToken?: string }) => {
      const secret = live(input.SecretId);
      if (input.ClientRequestToken && secret.contents.has(input.ClientRequestToken)) {
        if (secret.contents.get(input.ClientRequestToken) === input.SecretString)
          return { Name: input.SecretId, VersionId: input.ClientRequestToken };
        throw new ResourceExistsException({
          message: 'You cannot modify an existing version.',
          $metadata: {},
        });
      }
      const versionId = input.ClientRequestToken ?? `v${secret.versions + 1}`;
      addVersion(secret, versionId, input.SecretString);
      return { Name: input.SecretId, VersionId: versionId };
    },
    CreateSecret: (input: {
      Name: string;
      SecretString: string;
      KmsKeyId: string;
      Tags: unknown;
      ClientRequestToken?: string;
    }) => {
      if (stored.has(input.Name)) {
        throw new ResourceExistsException({
          message: `The operation failed because the secret ${input.Name} already exists.`,
          $metadata: {},
        });
      }
      const versionId = input.ClientRequestToken ?? 'v1';
      const secret: StoredSecret = {
        value: '',
        versions: 0,
        versionIds: [],
        contents: new Map(),
        kmsKeyId: input.KmsKeyId,
        tags: input.Tags,
      };
      addVersion(secret, versionId, input.SecretString);
      stored.set(input.Name, secret);
      return { Name: input.Name, VersionId: versionId };
    },
    GetSecretValue: (input: { SecretId: string; VersionId?: string; VersionStage?: string }) => {
      const secret = live(input.SecretId);
      const versionId =
        input.VersionId ??
        secret.versionIds.find((id) => stagesOf(secret, id).includes(input.VersionStage ?? 'AWSCURRENT'));
      if (!versionId || !secret.contents.has(versionId)) throw notFound();
      return {
        Name: input.SecretId,
        VersionId: versionId,
        SecretString: secret.contents.get(versionId),
        VersionStages: stagesOf(secret, versionId),
      };
    },
    DescribeSecret: (input: { SecretId: string }) => {
      const secret = stored.get(input.SecretId);
      if (!secret) throw notFound();
      return {
        Name: input.SecretId,
        VersionIdsToStages: Object.fromEntries(secret.versionIds.map((id) => [id, stagesOf(secret, id)])),
      };
    },
    DeleteSecret: (input: { SecretId: string }) => {
      const secret = live(input.SecretId);
      secret.scheduledForDeletion = true;
      return { Name: input.SecretId, DeletionDate: new Date('2026-12-31T00:00:00Z') };
    },
    RestoreSecret: (input: { SecretId: string }) => {
      const secret = stored.get(input.SecretId);
      if (!secret) throw notFound();
      secret.scheduledForDeletion = false;
      return { Name: input.SecretId };
    },
  };
}

/**
 * ACM and Secrets Manager mocked at `send` with the two services above. Pass `stored` to share one
 * secrets store (one account) between several fakes.
 */
export function fakeAcmAndSecrets(
  certificate: TestCertificate,
  detail = certificateDetail(certificate),
  options: { readonly exportThrottles?: number; readonly stored?: SecretsStore } = {},
) {
  const acm = mockClient(ACMClient);
  const secrets = mockClient(SecretsManagerClient);
  const stored: SecretsStore = options.stored ?? new Map();
  const acmFake = acmService(certificate, detail, options);
  acm.on(DescribeCertificateCommand).callsFake(acmFake.operations.DescribeCertificate);
  acm.on(ExportCertificateCommand).callsFake(acmFake.operations.ExportCertificate);
  const service = secretsManagerService(stored);
  secrets.on(GetRandomPasswordCommand).callsFake(service.GetRandomPassword);
  secrets.on(PutSecretValueCommand).callsFake(service.PutSecretValue);
  secrets.on(CreateSecretCommand).callsFake(service.CreateSecret);
  secrets.on(GetSecretValueCommand).callsFake(service.GetSecretValue);
  secrets.on(DescribeSecretCommand).callsFake(service.DescribeSecret);
  secrets.on(DeleteSecretCommand).callsFake(service.DeleteSecret);
  secrets.on(RestoreSecretCommand).callsFake(service.RestoreSecret);
  return { acm, secrets, stored, exports: acmFake.counts };
}
