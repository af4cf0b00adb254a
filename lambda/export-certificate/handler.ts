import { ACMClient } from '@aws-sdk/client-acm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { retryingTransient } from '../shared/errors.js';
import { homeOf, partitionOf, requiredEnv } from '../shared/env.js';
import { type ExportRequest, requestFieldsOf } from '../shared/export-request.js';
import { installProfilesFromEnv } from '../shared/install-parameters.js';
import { getMapping, recordExport, recordExportStarted } from '../shared/mapping-store.js';
import { logKeysOf, logger, withLogContext } from '../shared/logger.js';
import { locationPolicyFromEnv, memberStackCheck, ssmClientsAt } from '../shared/target-location.js';
import type { ExportedCertificate } from '../shared/workflow-state.js';
import { exportCertificate, mappingRemoved } from './export-certificate.js';

const acm = new ACMClient({});
// Every write names its version, so the SDK's retries (more of them than its default three: a secret
// write lost now means exporting again later) never make a second version.
const secrets = new SecretsManagerClient({ maxAttempts: 6 });
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
// Only for a mapping in another account or Region: the member stack there is asked before any export.
const ssmAt = ssmClientsAt(new SSMClient({}));

/** What the workflow hands the step: the request as it came, and the execution it belongs to. */
interface ExportStepInput {
  readonly request: unknown;
  readonly executionArn: string;
}

/** Step "ExportCertificate" of the export-install workflow. */
export async function handler(event: ExportStepInput, context: Context): Promise<ExportedCertificate> {
  return withLogContext(logKeysOf(event.request), async () => {
    const tableName = requiredEnv('TABLE_NAME');
    const home = homeOf(context.invokedFunctionArn);
    const result = await retryingTransient(() =>
      exportCertificate(
        event.request,
        {
          acm,
          secrets,
          claims: { db, tableName: requiredEnv('EXPORT_CLAIMS_TABLE_NAME') },
          kmsKeyId: requiredEnv('SECRET_KMS_KEY_ARN'),
          region: home.region,
          accountId: home.account,
          partition: partitionOf(context.invokedFunctionArn),
          grantedTagKeys: requiredEnv('GRANTED_TAG_KEYS').split(','),
          profiles: installProfilesFromEnv(),
          locations: locationPolicyFromEnv(home),
          organizationId: process.env.ORGANIZATION_ID ?? '',
          assertReachable: memberStackCheck(ssmAt, requiredEnv('INSTALL_DOCUMENT_NAME')),
          recordStarted: async (request, started) => {
            // A renewal's mapping must still be there (unmap wins over a renewal queued before it).
            if (started.renewal) {
              if (!(await getMapping(db, tableName, request))) throw mappingRemoved(request);
              return;
            }
            await recordExportStarted(db, tableName, request, started);
          },
          now: () => new Date(),
        },
        { executionArn: event.executionArn },
      ),
    );
    // A retry finds the same secret version and records the same thing again.
    await retryingTransient(() =>
      recordExport(db, tableName, requestFieldsOf(event.request as ExportRequest), {
        profile: result.profile,
        expiresAt: result.notAfter,
        exportedAt: result.exportedAt,
        secretId: result.secretId,
        serial: result.serial,
        executionArn: event.executionArn,
        installStatus: 'Exported',
      }),
    );
    logger.info('mapping secret written', { ...result });
    return result;
  });
}
