import { ACMClient } from '@aws-sdk/client-acm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { retryingTransient } from '../shared/errors.js';
import { accountIdOf, partitionOf, requiredEnv } from '../shared/env.js';
import { type ExportRequest, requestFieldsOf } from '../shared/export-request.js';
import { installProfilesFromEnv } from '../shared/install-parameters.js';
import { recordExport } from '../shared/mapping-store.js';
import { logKeysOf, logger, withLogContext } from '../shared/logger.js';
import type { ExportedCertificate } from '../shared/workflow-state.js';
import { exportCertificate } from './export-certificate.js';

const acm = new ACMClient({});
const secrets = new SecretsManagerClient({});
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/** What the workflow hands the step: the request as it came, and the execution it belongs to. */
interface ExportStepInput {
  readonly request: unknown;
  readonly executionArn: string;
}

/** Step "ExportCertificate" of the export-install workflow. */
export async function handler(event: ExportStepInput, context: Context): Promise<ExportedCertificate> {
  return withLogContext(logKeysOf(event.request), async () => {
    const result = await retryingTransient(() =>
      exportCertificate(
        event.request,
        {
          acm,
          secrets,
          kmsKeyId: requiredEnv('SECRET_KMS_KEY_ARN'),
          region: requiredEnv('AWS_REGION'),
          accountId: accountIdOf(context.invokedFunctionArn),
          partition: partitionOf(context.invokedFunctionArn),
          grantedTagKeys: requiredEnv('GRANTED_TAG_KEYS').split(','),
          profiles: installProfilesFromEnv(),
          now: () => new Date(),
        },
        { executionArn: event.executionArn },
      ),
    );
    // The mapping exists whenever its secret does: renewals and convergence reach this target even if
    // a later step fails. A retry finds the same secret version and records the same thing again.
    await retryingTransient(() =>
      recordExport(db, requiredEnv('TABLE_NAME'), requestFieldsOf(event.request as ExportRequest), {
        profile: result.profile,
        expiresAt: result.notAfter,
        exportedAt: result.exportedAt,
        secretId: result.secretId,
        serial: result.serial,
        executionArn: event.executionArn,
        installStatus: 'Exported',
      }),
    );
    logger.info('certificate exported', { ...result });
    return result;
  });
}
