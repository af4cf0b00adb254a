import {
  type AwsSecurityFinding,
  BatchImportFindingsCommand,
  type ImportFindingsError,
  type SecurityHubClient,
  paginateGetFindings,
} from '@aws-sdk/client-securityhub';
import { logger } from './logger.js';

/** BatchImportFindings takes at most 100 findings, and 6 MB, per call. */
export const IMPORT_BATCH_SIZE = 100;
const IMPORT_BATCH_BYTES = 5_000_000;

export interface ImportOutcome {
  readonly imported: number;
  /** Findings Security Hub refused even after one more try: reported, never dropped silently. */
  readonly failed: ImportFindingsError[];
  /** Why nothing was imported at all (Security Hub is not enabled in that Region, say). */
  readonly skippedBecause?: string;
}

/**
 * Imports findings in batches, checks every answer's FailedFindings (a 200 can still refuse some) and
 * tries the refused ones once more. A Region without Security Hub gets a reason, not an exception.
 */
export async function importFindings(
  client: SecurityHubClient,
  findings: readonly AwsSecurityFinding[],
): Promise<ImportOutcome> {
  let imported = 0;
  let failed: ImportFindingsError[] = [];
  try {
    for (const batch of batches(findings)) {
      const result = await importBatch(client, batch);
      imported += result.imported;
      failed.push(...result.failed);
    }
    if (failed.length > 0) {
      const retry = findings.filter((finding) => failed.some((failure) => failure.Id === finding.Id));
      failed = [];
      for (const batch of batches(retry)) {
        const result = await importBatch(client, batch);
        imported += result.imported;
        failed.push(...result.failed);
      }
    }
  } catch (error) {
    const reason = notEnabledReason(error);
    if (!reason) throw error;
    return { imported, failed, skippedBecause: reason };
  }
  const notEnabled = failed.find((failure) => failure.ErrorCode === 'InvalidAccess');
  if (notEnabled && imported === 0)
    return { imported, failed: [], skippedBecause: notEnabled.ErrorMessage ?? 'InvalidAccess' };
  for (const failure of failed) {
    logger.error('Security Hub refused a finding', {
      findingId: failure.Id,
      errorCode: failure.ErrorCode,
      errorMessage: failure.ErrorMessage,
    });
  }
  return { imported, failed };
}

async function importBatch(client: SecurityHubClient, findings: AwsSecurityFinding[]) {
  const response = await client.send(new BatchImportFindingsCommand({ Findings: findings }));
  return { imported: response.SuccessCount ?? 0, failed: response.FailedFindings ?? [] };
}

function* batches(findings: readonly AwsSecurityFinding[]): Generator<AwsSecurityFinding[]> {
  let batch: AwsSecurityFinding[] = [];
  let bytes = 0;
  for (const finding of findings) {
    const size = Buffer.byteLength(JSON.stringify(finding));
    if (batch.length === IMPORT_BATCH_SIZE || (batch.length > 0 && bytes + size > IMPORT_BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(finding);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

/** This app's findings still active, optionally about one certificate only (all pages). */
export async function activeFindings(
  client: SecurityHubClient,
  generatorIds: readonly string[],
  resourceId?: string,
): Promise<{ findings: AwsSecurityFinding[]; skippedBecause?: string }> {
  const findings: AwsSecurityFinding[] = [];
  try {
    const pages = paginateGetFindings(
      { client, pageSize: 100 },
      {
        Filters: {
          GeneratorId: generatorIds.map((Value) => ({ Value, Comparison: 'EQUALS' })),
          RecordState: [{ Value: 'ACTIVE', Comparison: 'EQUALS' }],
          ...(resourceId ? { ResourceId: [{ Value: resourceId, Comparison: 'EQUALS' }] } : {}),
        },
      },
    );
    for await (const page of pages) findings.push(...(page.Findings ?? []));
  } catch (error) {
    const reason = notEnabledReason(error);
    if (!reason) throw error;
    return { findings, skippedBecause: reason };
  }
  return { findings };
}

function notEnabledReason(error: unknown): string | undefined {
  const { name, message } = error as Error;
  return name === 'InvalidAccessException' || name === 'ResourceNotFoundException'
    ? `Security Hub is not enabled here (${message})`
    : undefined;
}

/** The Region findings go to: the deployment's securityHubRegion setting, else the function's own Region. */
export function findingsRegion(): string {
  const region = process.env.SECURITY_HUB_REGION || process.env.AWS_REGION;
  if (!region) throw new Error('neither SECURITY_HUB_REGION nor AWS_REGION is set');
  return region;
}
