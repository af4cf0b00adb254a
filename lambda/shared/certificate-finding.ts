import type { AwsSecurityFinding, Partition, Resource } from '@aws-sdk/client-securityhub';
import { type CertificateFacts, arnParts, consoleUrl } from './certificate-facts.js';
import { type SeverityLabel, daysLeft, expirySeverity } from './expiry-severity.js';
import { type DriftedHost, servedWords } from './alert-message.js';

/**
 * The one place Security Hub findings (ASFF) about ACM certificates are built. A finding's Id is stable
 * per certificate and kind, so every run updates the same finding rather than adding another.
 */
export type FindingKind = 'expiry' | 'renewal-action-required' | 'private-ca-expiry';

export const GENERATOR_IDS: Record<FindingKind, string> = {
  expiry: 'cert-lifecycle/certificate-expiry',
  'renewal-action-required': 'cert-lifecycle/renewal-action-required',
  'private-ca-expiry': 'cert-lifecycle/private-ca-certificate-expiry',
};

const TYPES: Record<FindingKind, string> = {
  expiry: 'Software and Configuration Checks/AWS Security Best Practices/ACM Certificate Expiry',
  'renewal-action-required':
    'Software and Configuration Checks/AWS Security Best Practices/ACM Certificate Renewal',
  'private-ca-expiry':
    'Software and Configuration Checks/AWS Security Best Practices/Private CA Certificate Expiry',
};

export interface FindingContext {
  /** The Region findings are imported into (the account's default product there). */
  readonly securityHubRegion: string;
  readonly now: Date;
  /** When the finding was first raised; kept on every update. @default now */
  readonly createdAt?: string;
  /**
   * The account that imports the finding, when the certificate is another's (a member account's): Security
   * Hub takes a finding only from the account it names. @default the certificate's account
   */
  readonly reportingAccount?: string;
}

export function findingId(certificateArn: string, kind: FindingKind): string {
  return `${certificateArn}/cert-lifecycle/${kind}`;
}

export function productArn(partition: string, region: string, account: string): string {
  return `arn:${partition}:securityhub:${region}:${account}:product/${account}/default`;
}

export function certificateFinding(
  kind: FindingKind,
  facts: CertificateFacts,
  context: FindingContext,
): AwsSecurityFinding {
  const { partition, region, account } = arnParts(facts.arn);
  const now = context.now.toISOString();
  const severity = findingSeverity(kind, facts, context.now);
  const name = facts.domainName ?? facts.arn;
  const reporter = context.reportingAccount ?? account;
  return {
    SchemaVersion: '2018-10-08',
    Id: findingId(facts.arn, kind),
    ProductArn: productArn(partition, context.securityHubRegion, reporter),
    GeneratorId: GENERATOR_IDS[kind],
    AwsAccountId: reporter,
    Region: region,
    CreatedAt: context.createdAt ?? now,
    UpdatedAt: now,
    Title: truncate(title(kind, name, facts, context.now), 256),
    Description: truncate(description(kind, facts, context.now), 1024),
    FindingProviderFields: {
      Severity: { Label: severity, Original: severity },
      Types: [TYPES[kind]],
    },
    Remediation: {
      Recommendation: {
        Text: truncate(remediation(kind, facts), 512),
        Url: consoleUrl(facts.arn, facts.privateCa),
      },
    },
    ProductFields: {
      'cert-lifecycle/Kind': kind,
      ...(facts.notAfter
        ? { 'cert-lifecycle/DaysToExpiry': String(daysLeft(facts.notAfter, context.now)) }
        : {}),
      ...(facts.renewalStatusReason
        ? { 'cert-lifecycle/RenewalStatusReason': facts.renewalStatusReason }
        : {}),
      ...(reporter !== account ? { 'cert-lifecycle/CertificateAccount': account } : {}),
    },
    Resources: [facts.privateCa ? privateCaResource(facts) : acmResource(facts)],
    RecordState: 'ACTIVE',
  };
}

function acmResource(facts: CertificateFacts): Resource {
  const { partition, region } = arnParts(facts.arn);
  return {
    Type: 'AwsCertificateManagerCertificate',
    Id: facts.arn,
    Partition: partition as Partition,
    Region: region,
    Details: {
      AwsCertificateManagerCertificate: {
        DomainName: facts.domainName,
        Type: facts.type,
        Status: facts.status,
        NotAfter: facts.notAfter?.toISOString(),
        NotBefore: facts.notBefore?.toISOString(),
        KeyAlgorithm: facts.keyAlgorithm,
        InUseBy: facts.inUseBy ? [...facts.inUseBy] : undefined,
        RenewalEligibility: facts.renewalEligibility,
        Serial: facts.serial,
        Subject: facts.subject,
        Issuer: facts.issuer,
        ...(facts.renewalStatus
          ? {
              RenewalSummary: {
                RenewalStatus: facts.renewalStatus,
                RenewalStatusReason: facts.renewalStatusReason,
              },
            }
          : {}),
      },
    },
  };
}

/** A certificate ACM never saw: ASFF has no type for it, so it is `Other` with its identifying details. */
function privateCaResource(facts: CertificateFacts): Resource {
  const { partition, region } = arnParts(facts.arn);
  const details: Record<string, string | undefined> = {
    Serial: facts.serial,
    Subject: facts.subject,
    NotAfter: facts.notAfter?.toISOString(),
    CertificateAuthorityArn: facts.privateCa?.certificateAuthorityArn,
    TemplateArn: facts.privateCa?.templateArn,
  };
  return {
    Type: 'Other',
    Id: facts.arn,
    Partition: partition as Partition,
    Region: region,
    Details: {
      Other: Object.fromEntries(
        Object.entries(details).flatMap(([key, value]) => (value ? [[key, truncate(value, 1024)]] : [])),
      ),
    },
  };
}

export const DRIFT_GENERATOR_ID = 'cert-lifecycle/host-certificate-drift';

export function driftFindingId(certificateArn: string, instanceId: string): string {
  return `${certificateArn}/cert-lifecycle/host-drift/${instanceId}`;
}

/** A host that does not hold ACM's current certificate for its mapping (or holds none). */
export function driftFinding(
  facts: { readonly certificateArn: string; readonly certName: string; readonly currentSerial: string },
  host: DriftedHost,
  context: FindingContext,
): AwsSecurityFinding {
  const { partition, region, account } = arnParts(facts.certificateArn);
  const now = context.now.toISOString();
  const severity: SeverityLabel =
    host.serial && !host.failure && (!host.served || host.served.serial) ? 'MEDIUM' : 'HIGH';
  const what = host.failure
    ? `cannot install serial ${facts.currentSerial} of ${facts.certName}: ${host.failure}`
    : host.served
      ? `holds ACM's current ${facts.currentSerial} of ${facts.certName} in its files, but ${servedWords(host.served)}`
      : host.serial
        ? `still serves serial ${host.serial} of ${facts.certName}, not ACM's current ${facts.currentSerial}`
        : `has no ${facts.certName} certificate files installed`;
  const managed = host.instanceId.startsWith('mi-');
  const at = { account: host.location?.account ?? account, region: host.location?.region ?? region };
  const where = host.location ? ` in account ${at.account} (${at.region})` : '';
  return {
    SchemaVersion: '2018-10-08',
    Id: driftFindingId(facts.certificateArn, host.instanceId),
    ProductArn: productArn(partition, context.securityHubRegion, account),
    GeneratorId: DRIFT_GENERATOR_ID,
    AwsAccountId: account,
    Region: region,
    CreatedAt: context.createdAt ?? now,
    UpdatedAt: now,
    Title: truncate(
      `Host ${host.instanceId} ${host.failure ? 'cannot install the certificate' : host.served && !host.served.serial ? 'does not serve TLS with the certificate' : host.serial ? 'serves an old certificate' : 'is missing the certificate'} ${facts.certName}`,
      256,
    ),
    Description: truncate(
      `Managed instance ${host.instanceId}${where} ${what} (${facts.certificateArn}).`,
      1024,
    ),
    FindingProviderFields: {
      Severity: { Label: severity, Original: severity },
      Types: ['Software and Configuration Checks/AWS Security Best Practices/Certificate Drift'],
    },
    Remediation: {
      Recommendation: {
        Text: 'Export the certificate to this target again (npm run cli -- export ...); if the host still differs, check its SSM Agent and its access to the secret.',
        Url: consoleUrl(facts.certificateArn),
      },
    },
    Resources: [
      {
        Type: managed ? 'Other' : 'AwsEc2Instance',
        Id: managed
          ? `arn:${partition}:ssm:${at.region}:${at.account}:managed-instance/${host.instanceId}`
          : `arn:${partition}:ec2:${at.region}:${at.account}:instance/${host.instanceId}`,
        Partition: partition as Partition,
        Region: at.region,
      },
      {
        Type: 'AwsCertificateManagerCertificate',
        Id: facts.certificateArn,
        Partition: partition as Partition,
        Region: region,
      },
    ],
    RecordState: 'ACTIVE',
  };
}

/** The same finding, closed: sent with a later UpdatedAt, Security Hub archives it. */
export function archivedFinding(finding: AwsSecurityFinding, now: Date): AwsSecurityFinding {
  return { ...finding, UpdatedAt: laterThan(finding.UpdatedAt, now), RecordState: 'ARCHIVED' };
}

export function findingSeverity(kind: FindingKind, facts: CertificateFacts, now: Date): SeverityLabel {
  const severity = facts.notAfter ? expirySeverity(facts.notAfter, now) : 'MEDIUM';
  // A renewal that needs a human is at least MEDIUM however far out the expiry is: it will not fix itself.
  return kind === 'renewal-action-required' && severity === 'LOW' ? 'MEDIUM' : severity;
}

function title(kind: FindingKind, name: string, facts: CertificateFacts, now: Date): string {
  if (kind === 'renewal-action-required') {
    return `Renewal of the certificate for ${name} needs action (${facts.renewalStatusReason ?? 'reason unknown'})`;
  }
  const what = kind === 'private-ca-expiry' ? 'Private CA certificate' : 'Certificate';
  if (!facts.notAfter) return `${what} for ${name} is expiring`;
  if (facts.notAfter.getTime() <= now.getTime()) return `${what} for ${name} has expired`;
  const days = daysLeft(facts.notAfter, now);
  return `${what} for ${name} expires in ${days} ${days === 1 ? 'day' : 'days'}`;
}

function description(kind: FindingKind, facts: CertificateFacts, now: Date): string {
  const expiry = facts.notAfter
    ? facts.notAfter.getTime() <= now.getTime()
      ? `expired on ${facts.notAfter.toISOString()}`
      : `expires on ${facts.notAfter.toISOString()} (${daysLeft(facts.notAfter, now)} days left)`
    : 'is expiring';
  const use =
    facts.inUseBy && facts.inUseBy.length > 0 ? ` It is in use by ${facts.inUseBy.length} resource(s).` : '';
  const renewal = facts.renewalStatus
    ? ` Renewal status: ${facts.renewalStatus}${facts.renewalStatusReason ? ` (${facts.renewalStatusReason})` : ''}.`
    : '';
  if (kind === 'private-ca-expiry') {
    return `The certificate ${facts.serial ?? ''} for ${facts.subject ?? 'an unknown subject'}, issued by ${facts.privateCa?.certificateAuthorityArn ?? 'AWS Private CA'} outside ACM, ${expiry}. ACM does not renew it.`;
  }
  const subject = kind === 'renewal-action-required' ? 'ACM could not renew the' : 'The';
  return `${subject} ${(facts.type ?? 'ACM').toLowerCase().replace('_', ' ')} certificate ${facts.arn} for ${facts.domainName ?? 'its domain'} ${expiry}.${renewal}${use}`;
}

const RENEWAL_GUIDANCE: Record<string, string> = {
  CAA_ERROR:
    'A CAA record on the domain does not let Amazon issue certificates: add amazon.com (or amazontrust.com, awstrust.com, amazonaws.com) to it.',
  PENDING_DOMAIN_VALIDATION:
    'Domain validation is not complete: put the DNS validation CNAME records back, or answer the validation email.',
  NO_AVAILABLE_CONTACTS:
    'ACM found no address to send validation email to: switch the certificate to DNS validation.',
  ADDITIONAL_VERIFICATION_REQUIRED: 'ACM needs more information before it can renew: contact AWS Support.',
  DOMAIN_NOT_ALLOWED: 'ACM may not issue for this domain: request a certificate for a domain ACM accepts.',
  INVALID_PUBLIC_DOMAIN: 'The domain is not a valid public domain: request a certificate for a valid one.',
  DOMAIN_VALIDATION_DENIED: 'The domain owner denied validation: approve it, or validate by DNS.',
  SLR_NOT_FOUND: "ACM's service-linked role is missing: recreate AWSServiceRoleForCertificateManager.",
};

function remediation(kind: FindingKind, facts: CertificateFacts): string {
  if (kind === 'renewal-action-required') {
    const reason = facts.renewalStatusReason ?? 'OTHER';
    if (RENEWAL_GUIDANCE[reason]) return RENEWAL_GUIDANCE[reason];
    if (reason.startsWith('PCA_')) {
      return `AWS Private CA could not sign the renewal (${reason}): check that the CA exists, is ACTIVE, outlives the certificate and lets ACM use it.`;
    }
    return 'Check the renewal status and its reason in the ACM console, then fix what it names.';
  }
  if (kind === 'private-ca-expiry') {
    return 'Issued straight from AWS Private CA, so ACM will not renew it: issue a replacement from the CA (the pipeline that issued it), deploy it, then revoke the old one if it is no longer used.';
  }
  switch (facts.type) {
    case 'IMPORTED':
      return 'ACM does not renew imported certificates: get a new certificate from its issuer and re-import it into the same ARN (aws acm import-certificate --certificate-arn ...) before it expires.';
    case 'PRIVATE':
      return 'ACM renews private certificates through AWS Private CA: check that the CA is ACTIVE, outlives the certificate, and lets ACM issue; then check the renewal status in the ACM console.';
    default:
      return 'ACM renews public certificates once their domains validate: check the renewal status in the ACM console and that the DNS validation records are still in place.';
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Security Hub ignores an update whose UpdatedAt is not later than the stored one. */
function laterThan(previous: string | undefined, now: Date): string {
  const floor = previous ? Date.parse(previous) + 1 : 0;
  return new Date(Math.max(now.getTime(), floor)).toISOString();
}
