import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { requiredEnv, requiredIntegerEnv } from '../shared/env.js';
import { REMOVE_FILES_FIELD, requestFieldsOf, unmapRequestProblems } from '../shared/export-request.js';
import type { ExportRequest } from '../shared/export-request.js';
import { installProfilesFromEnv } from '../shared/install-parameters.js';
import { logKeysOf, logger, withLogContext } from '../shared/logger.js';
import { targetAssociationSettingsFromEnv } from '../shared/target-association.js';
import { ssmClientsAt } from '../shared/target-location.js';
import { unmap } from './unmap.js';

const ssm = new SSMClient({});
const ssmAt = ssmClientsAt(ssm);
const secrets = new SecretsManagerClient({});
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

interface ApiEvent {
  readonly body?: string | null;
  readonly requestContext?: { readonly requestId?: string };
}

interface ApiResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const respond = (statusCode: number, body: Record<string, unknown>): ApiResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** `DELETE /export-cert` (Lambda proxy integration): the body passed the API's model; checked again here. */
export async function handler(event: ApiEvent): Promise<ApiResponse> {
  const requestId = event.requestContext?.requestId;
  let input: unknown;
  try {
    input = JSON.parse(event.body ?? '');
  } catch {
    return respond(400, { message: 'the body must be JSON', requestId });
  }
  const problems = unmapRequestProblems(input);
  if (problems.length > 0) return respond(400, { message: 'invalid unmap request', problems, requestId });
  const request = requestFieldsOf(input as ExportRequest);
  const removeFiles = (input as Record<string, unknown>)[REMOVE_FILES_FIELD] === true;
  return withLogContext(logKeysOf(request), async () => {
    const outcome = await unmap(
      request,
      {
        stateManager: ssm,
        commands: ssm,
        ssmAt,
        secrets,
        db,
        tableName: requiredEnv('TABLE_NAME'),
        associations: targetAssociationSettingsFromEnv(),
        recoveryWindowDays: requiredIntegerEnv('SECRET_RECOVERY_WINDOW_DAYS'),
        removal: {
          documentName: requiredEnv('REMOVE_DOCUMENT_NAME'),
          maxConcurrency: requiredEnv('INSTALL_MAX_CONCURRENCY'),
          maxErrors: requiredEnv('INSTALL_MAX_ERRORS'),
          deliveryTimeoutSeconds: requiredIntegerEnv('INSTALL_DELIVERY_TIMEOUT_SECONDS'),
          profiles: installProfilesFromEnv(),
        },
      },
      { removeFiles },
    );
    logger.info('unmap', { ...outcome });
    return respond(200, { ...outcome, requestId });
  });
}
