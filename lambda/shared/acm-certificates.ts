import {
  type ACMClient,
  type CertificateDetail,
  type CertificateSummary,
  DescribeCertificateCommand,
  KeyAlgorithm,
  paginateListCertificates,
} from '@aws-sdk/client-acm';

/** Every key type: without them ListCertificates returns only RSA_1024 and RSA_2048 certificates. */
export const ALL_KEY_TYPES = Object.values(KeyAlgorithm);
/** Every key-pair origin: the default leaves out ACME certificates. */
export const ALL_KEY_PAIR_ORIGINS = ['AWS_MANAGED', 'ACME', 'CUSTOMER_PROVIDED'] as const;

/** Every certificate of the Region, all key types and origins, 1,000 per page. */
export async function listAllCertificates(acm: ACMClient): Promise<CertificateSummary[]> {
  const summaries: CertificateSummary[] = [];
  const pages = paginateListCertificates(
    { client: acm, pageSize: 1000 },
    { Includes: { keyTypes: ALL_KEY_TYPES }, CertificateKeyPairOrigins: [...ALL_KEY_PAIR_ORIGINS] },
  );
  for await (const page of pages) summaries.push(...(page.CertificateSummaryList ?? []));
  return summaries;
}

/** The certificate's details, or undefined when it no longer exists. */
export async function describeIfPresent(
  acm: ACMClient,
  certificateArn: string,
): Promise<CertificateDetail | undefined> {
  try {
    return (await acm.send(new DescribeCertificateCommand({ CertificateArn: certificateArn }))).Certificate;
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}
