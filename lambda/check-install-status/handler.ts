import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { requiredEnv, requiredIntegerEnv } from '../shared/env.js';
import { logKeysOf, logger, withLogContext } from '../shared/logger.js';
import { emitCounts } from '../shared/metrics.js';
import type { InstallStatusReport } from '../shared/workflow-state.js';
import { type CheckInstallInput, checkInstallStatus } from './install-status.js';

const ssm = new SSMClient({});
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/** Step "CheckInstallStatus" of the export-install workflow, run in a bounded poll loop. */
export async function handler(event: CheckInstallInput): Promise<InstallStatusReport> {
  return withLogContext({ ...logKeysOf(event), commandId: event.commandId }, async () => {
    const report = await checkInstallStatus(event, {
      ssm,
      db,
      tableName: requiredEnv('TABLE_NAME'),
      maxAttempts: requiredIntegerEnv('MAX_POLL_ATTEMPTS'),
      now: () => new Date(),
    });
    logger.info('install status checked', {
      attempt: event.attempt,
      outcome: report.outcome,
      summary: report.summary,
      reason: report.reason,
    });
    if (report.outcome !== 'InProgress') {
      emitCounts({ InstancesInstalled: report.summary.succeeded, InstancesFailed: report.summary.failed });
    }
    return report;
  });
}
