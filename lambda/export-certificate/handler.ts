import { ACMClient } from '@aws-sdk/client-acm';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { retryingTransient } from '../shared/errors.js';
import { accountIdOf, partitionOf, requiredEnv } from '../shared/env.js';
import { installProfilesFromEnv } from '../shared/install-parameters.js';
import { logKeysOf, logger, withLogContext } from '../shared/logger.js';
import type { ExportedCertificate } from '../shared/workflow-state.js';
import { exportCertificate } from './export-certificate.js';

const acm = new ACMClient({});
const secrets = new SecretsManagerClient({});

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
    logger.info('certificate exported', { ...result });
    return result;
  });
}
