import { inject } from 'vitest';

/** moto's default account; every ARN it hands out carries it. */
export const MOTO_ACCOUNT = '123456789012';
export const MOTO_REGION = 'eu-west-1';

/** Settings that point a real SDK client at the suite's moto_server. */
export function motoClientConfig() {
  return {
    endpoint: inject('motoEndpoint'),
    region: MOTO_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  };
}

/** Everything moto holds, as its `/moto-api/data.json` shows it (e.g. the messages SNS accepted). */
export async function motoState(): Promise<Record<string, Record<string, unknown[]>>> {
  const response = await fetch(`${inject('motoEndpoint')}/moto-api/data.json`);
  return (await response.json()) as Record<string, Record<string, unknown[]>>;
}

/** A root Private CA in moto, for requesting private certificates through ACM. */
export async function createTestCertificateAuthority(commonName: string): Promise<string> {
  const { ACMPCAClient, CreateCertificateAuthorityCommand } = await import('@aws-sdk/client-acm-pca');
  const created = await new ACMPCAClient(motoClientConfig()).send(
    new CreateCertificateAuthorityCommand({
      CertificateAuthorityType: 'ROOT',
      CertificateAuthorityConfiguration: {
        KeyAlgorithm: 'RSA_2048',
        SigningAlgorithm: 'SHA256WITHRSA',
        Subject: { CommonName: commonName },
      },
    }),
  );
  return created.CertificateAuthorityArn!;
}
