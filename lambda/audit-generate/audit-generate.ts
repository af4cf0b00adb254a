import {
  type ACMPCAClient,
  CreateCertificateAuthorityAuditReportCommand,
  paginateListCertificateAuthorities,
} from '@aws-sdk/client-acm-pca';
import { settleWithConcurrency } from '../shared/concurrency.js';
import { logger } from '../shared/logger.js';

export interface AuditGenerateDependencies {
  readonly pca: ACMPCAClient;
  readonly bucket: string;
  readonly format: 'JSON' | 'CSV';
  /** The CAs to audit; empty for every ACTIVE CA of the account and Region. */
  readonly certificateAuthorityArns: readonly string[];
}

export interface GenerateOutcome {
  readonly requested: { readonly certificateAuthorityArn: string; readonly s3Key: string }[];
  readonly skipped: { readonly certificateAuthorityArn: string; readonly reason: string }[];
}

export class AuditReportError extends Error {
  override name = 'AuditReportError';
}

/** Refusals that are expected on a schedule and need no one: the CA's state, or the 30-minute limit. */
const EXPECTED_REFUSALS: Record<string, string> = {
  RequestInProgressException: 'a report was already requested in the last 30 minutes (one per 30 minutes)',
  LimitExceededException: 'a report was already requested in the last 30 minutes (one per 30 minutes)',
  InvalidStateException: 'the CA is not ACTIVE (disabled, pending or deleted): it issues nothing to audit',
  ResourceNotFoundException: 'the CA does not exist (deleted?): remove it from privateCaArns',
};

/**
 * Asks AWS Private CA for an audit report of each CA into the app's bucket. One CA's refusal does not stop
 * the others; unexpected failures are raised after every CA was tried.
 */
export async function generateAuditReports(deps: AuditGenerateDependencies): Promise<GenerateOutcome> {
  const authorities =
    deps.certificateAuthorityArns.length > 0
      ? [...deps.certificateAuthorityArns]
      : await activeAuthorities(deps.pca);
  const outcome: GenerateOutcome = { requested: [], skipped: [] };
  const results = await settleWithConcurrency(authorities, 3, async (certificateAuthorityArn) => {
    try {
      const response = await deps.pca.send(
        new CreateCertificateAuthorityAuditReportCommand({
          CertificateAuthorityArn: certificateAuthorityArn,
          S3BucketName: deps.bucket,
          AuditReportResponseFormat: deps.format,
        }),
      );
      outcome.requested.push({ certificateAuthorityArn, s3Key: response.S3Key ?? '' });
    } catch (error) {
      const reason = EXPECTED_REFUSALS[(error as Error).name];
      if (!reason) throw error;
      logger.info('audit report skipped', { certificateAuthorityArn, reason });
      outcome.skipped.push({ certificateAuthorityArn, reason });
    }
  });
  const failures = results.flatMap((result, index) =>
    result.status === 'rejected'
      ? [`${authorities[index]}: ${(result.reason as Error).name} ${(result.reason as Error).message}`]
      : [],
  );
  logger.info('audit reports requested', { ...outcome, failed: failures });
  if (failures.length > 0) {
    throw new AuditReportError(
      `could not request ${failures.length} of ${authorities.length} audit reports: ${failures.join('; ')}`,
    );
  }
  return outcome;
}

async function activeAuthorities(pca: ACMPCAClient): Promise<string[]> {
  const arns: string[] = [];
  for await (const page of paginateListCertificateAuthorities({ client: pca }, {})) {
    for (const authority of page.CertificateAuthorities ?? []) {
      if (authority.Status === 'ACTIVE' && authority.Arn) arns.push(authority.Arn);
    }
  }
  return arns;
}
