import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { retryingTransient } from '../shared/errors.js';
import { requiredEnv, requiredIntegerEnv } from '../shared/env.js';
import { installProfilesFromEnv } from '../shared/install-parameters.js';
import { logKeysOf, logger, withLogContext } from '../shared/logger.js';
import { convergenceSettingsFromEnv } from '../shared/target-association.js';
import { ssmClientsAt } from '../shared/target-location.js';
import type { InstallCommand } from '../shared/workflow-state.js';
import { type RecordAndInstallInput, recordAndInstall } from './record-and-install.js';

const ssm = new SSMClient({});
// SendCommand and CreateAssociation take no idempotency token: each is sent once per call, and a lost
// answer is made good by the step's retry, which finds what the first attempt made (by mark, by name).
const ssmOnce = new SSMClient({ maxAttempts: 1 });
const sfn = new SFNClient({});
// The same, in the member account and Region of a mapping that names one.
const ssmAt = ssmClientsAt(ssm);
const ssmOnceAt = ssmClientsAt(ssmOnce, { maxAttempts: 1 });
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/**
 * Step "RecordAndInstall" of the export-install workflow (invoked with a task token): keeps the
 * mapping's association in step, sends the install command, records the mapping and registers the wait
 * that the command's end completes.
 */
export async function handler(event: RecordAndInstallInput): Promise<InstallCommand> {
  return withLogContext({ ...logKeysOf(event), executionArn: event.executionArn }, async () => {
    const command = await retryingTransient(() =>
      recordAndInstall(event, {
        ssm,
        stateManager: ssmOnce,
        commandSender: ssmOnce,
        clientsAt: (location) => ({
          ssm: ssmAt(location),
          stateManager: ssmOnceAt(location),
          commandSender: ssmOnceAt(location),
        }),
        sfn,
        db,
        tableName: requiredEnv('TABLE_NAME'),
        waits: { db, tableName: requiredEnv('WAITS_TABLE_NAME') },
        now: () => new Date(),
        maxWaitSeconds: requiredIntegerEnv('INSTALL_MAX_WAIT_SECONDS'),
        convergence: convergenceSettingsFromEnv(),
        command: {
          documentName: requiredEnv('INSTALL_DOCUMENT_NAME'),
          maxConcurrency: requiredEnv('INSTALL_MAX_CONCURRENCY'),
          maxErrors: requiredEnv('INSTALL_MAX_ERRORS'),
          deliveryTimeoutSeconds: requiredIntegerEnv('INSTALL_DELIVERY_TIMEOUT_SECONDS'),
          region: requiredEnv('AWS_REGION'),
          profiles: installProfilesFromEnv(),
        },
      }),
    );
    logger.info('install command sent', { commandId: command.commandId });
    return command;
  });
}
