import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type CustomResourceEvent, respond } from '../shared/cloudformation-response.js';
import { requiredEnv } from '../shared/env.js';
import { logger } from '../shared/logger.js';
import { targetAssociationSettingsFromEnv } from '../shared/target-association.js';
import { ssmClientsAt } from '../shared/target-location.js';
import { syncAllTargets } from './sync-associations.js';

const ssm = new SSMClient({});
const ssmAt = ssmClientsAt(ssm);
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/**
 * A custom resource of the stack, updated whenever the install document or the associations'
 * configuration changes: brings every target's association in line with what was just deployed. A
 * failure fails the deploy with the reason (CloudFormation rolls back), so a deployment never goes
 * quietly half-applied. Deleting the stack leaves the associations to `cli uninstall`.
 */
export async function handler(event: CustomResourceEvent): Promise<void> {
  if (event.RequestType === 'Delete') {
    await respond(event, { Status: 'SUCCESS' });
    return;
  }
  try {
    const summary = await syncAllTargets({
      stateManager: ssm,
      stateManagerAt: ssmAt,
      db,
      tableName: requiredEnv('TABLE_NAME'),
      settings: targetAssociationSettingsFromEnv(),
    });
    await respond(event, {
      Status: 'SUCCESS',
      Data: {
        Targets: String(summary.targets),
        Replaced: String(summary.replaced),
        Unreachable: String(summary.unreachable),
      },
    });
  } catch (error) {
    logger.error('associations not brought in step', { error: (error as Error).name });
    await respond(event, {
      Status: 'FAILED',
      Reason: `could not bring the State Manager associations in step (${(error as Error).name}: ${(error as Error).message}); see the function's log`,
    });
  }
}
