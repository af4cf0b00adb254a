import type { CertificateDetail, CertificateSummary } from '@aws-sdk/client-acm';

/** What the alerts and findings say about a certificate, from whichever source knew it. */
export interface CertificateFacts {
  readonly arn: string;
  readonly domainName?: string;
  /** AMAZON_ISSUED, PRIVATE or IMPORTED. */
  readonly type?: string;
  readonly status?: string;
  readonly notAfter?: Date;
  readonly notBefore?: Date;
  readonly keyAlgorithm?: string;
  readonly inUseBy?: readonly string[];
  readonly renewalEligibility?: string;
  readonly renewalStatus?: string;
  readonly renewalStatusReason?: string;
  readonly serial?: string;
  readonly subject?: string;
  readonly issuer?: string;
  /** Set for a certificate issued by AWS Private CA directly (never tracked by ACM). */
  readonly privateCa?: { readonly certificateAuthorityArn: string; readonly templateArn?: string };
}

export function factsFromDetail(detail: CertificateDetail): CertificateFacts {
  return {
    arn: detail.CertificateArn ?? '',
    domainName: detail.DomainName,
    type: detail.Type,
    status: detail.Status,
    notAfter: detail.NotAfter,
    notBefore: detail.NotBefore,
    keyAlgorithm: detail.KeyAlgorithm,
    inUseBy: detail.InUseBy,
    renewalEligibility: detail.RenewalEligibility,
    renewalStatus: detail.RenewalSummary?.RenewalStatus,
    renewalStatusReason: detail.RenewalSummary?.RenewalStatusReason,
    serial: detail.Serial,
    subject: detail.Subject,
    issuer: detail.Issuer,
  };
}

export function factsFromSummary(summary: CertificateSummary): CertificateFacts {
  return {
    arn: summary.CertificateArn ?? '',
    domainName: summary.DomainName,
    type: summary.Type,
    status: summary.Status,
    notAfter: summary.NotAfter,
    notBefore: summary.NotBefore,
    keyAlgorithm: summary.KeyAlgorithm,
    renewalEligibility: summary.RenewalEligibility,
  };
}

/** The ARN's parts: partition, Region, account and the certificate id. */
export function arnParts(arn: string): { partition: string; region: string; account: string; id: string } {
  const [, partition = 'aws', , region = '', account = '', resource = ''] = arn.split(':');
  return { partition, region, account, id: resource.split('/').pop() ?? '' };
}

/** The certificate's page in the console: ACM's, or its CA's in AWS Private CA's. */
export function consoleUrl(arn: string, privateCa?: CertificateFacts['privateCa']): string {
  const { partition, region, id } = arnParts(arn);
  const host =
    partition === 'aws-cn'
      ? 'console.amazonaws.cn'
      : partition === 'aws-us-gov'
        ? 'console.amazonaws-us-gov.com'
        : 'console.aws.amazon.com';
  if (privateCa) {
    return `https://${host}/acm-pca/home?region=${region}#/details?arn=${encodeURIComponent(privateCa.certificateAuthorityArn)}`;
  }
  return `https://${host}/acm/home?region=${region}#/certificates/${id}`;
}
