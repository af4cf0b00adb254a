import {
  ACMClient,
  type CertificateDetail,
  DescribeCertificateCommand,
  ExportCertificateCommand,
} from '@aws-sdk/client-acm';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
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

/**
 * ACM and Secrets Manager mocked with the behaviour that matters: the export encrypts the real key with
 * whatever passphrase it was given, and the secrets store keeps what was written, by name.
 */
export function fakeAcmAndSecrets(
  certificate: TestCertificate,
  detail = certificateDetail(certificate),
  options: { readonly exportThrottles?: number } = {},
) {
  let throttlesLeft = options.exportThrottles ?? 0;
  const acm = mockClient(ACMClient);
  const secrets = mockClient(SecretsManagerClient);
  const stored = new Map<
    string,
    { value: string; versions: number; versionIds: string[]; kmsKeyId?: string; tags: unknown }
  >();

  acm.on(DescribeCertificateCommand).resolves({ Certificate: detail });
  acm.on(ExportCertificateCommand).callsFake((input: { Passphrase: Uint8Array }) => {
    if (throttlesLeft > 0) {
      throttlesLeft -= 1;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    }
    return {
      Certificate: certificate.certificatePem,
      CertificateChain: certificate.chainPem,
      PrivateKey: encryptAsAcmDoes(certificate.privateKeyPem, input.Passphrase),
    };
  });
  secrets.on(GetRandomPasswordCommand).callsFake((input: { PasswordLength: number }) => ({
    RandomPassword: randomBytes(input.PasswordLength).toString('base64').slice(0, input.PasswordLength),
  }));
  const notFound = () =>
    new ResourceNotFoundException({
      message: "Secrets Manager can't find the specified secret.",
      $metadata: {},
    });
  secrets
    .on(PutSecretValueCommand)
    .callsFake((input: { SecretId: string; SecretString: string; ClientRequestToken?: string }) => {
      const secret = stored.get(input.SecretId);
      if (!secret) throw notFound();
      // A version id (the idempotency token) is written once: the same content again is a no-op.
      if (input.ClientRequestToken && secret.versionIds.includes(input.ClientRequestToken)) {
        if (secret.value === input.SecretString)
          return { Name: input.SecretId, VersionId: input.ClientRequestToken };
        throw Object.assign(new Error('You cannot modify an existing version.'), {
          name: 'ResourceExistsException',
        });
      }
      secret.value = input.SecretString;
      secret.versions += 1;
      const versionId = input.ClientRequestToken ?? `v${secret.versions}`;
      secret.versionIds.push(versionId);
      return { Name: input.SecretId, VersionId: versionId };
    });
  secrets
    .on(CreateSecretCommand)
    .callsFake(
      (input: {
        Name: string;
        SecretString: string;
        KmsKeyId: string;
        Tags: unknown;
        ClientRequestToken?: string;
      }) => {
        const versionId = input.ClientRequestToken ?? 'v1';
        stored.set(input.Name, {
          value: input.SecretString,
          versions: 1,
          versionIds: [versionId],
          kmsKeyId: input.KmsKeyId,
          tags: input.Tags,
        });
        return { Name: input.Name, VersionId: versionId };
      },
    );
  secrets.on(DescribeSecretCommand).callsFake((input: { SecretId: string }) => {
    const secret = stored.get(input.SecretId);
    if (!secret) throw notFound();
    return {
      Name: input.SecretId,
      VersionIdsToStages: Object.fromEntries(
        secret.versionIds.map((id, index) => [
          id,
          index === secret.versionIds.length - 1 ? ['AWSCURRENT'] : [],
        ]),
      ),
    };
  });
  return { acm, secrets, stored };
}
