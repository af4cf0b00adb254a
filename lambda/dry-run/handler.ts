import { ACMClient } from '@aws-sdk/client-acm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { retryingTransient } from '../shared/errors.js';
import { accountIdOf, homeOf, partitionOf, requiredEnv } from '../shared/env.js';
import { installProfilesFromEnv } from '../shared/install-parameters.js';
import { logKeysOf, logger, withLogContext } from '../shared/logger.js';
import type { TargetLocation } from '../shared/export-request.js';
import {
  clientsAt,
  locationPolicyFromEnv,
  memberHostPolicyArn,
  memberStackCheck,
  ssmClientsAt,
} from '../shared/target-location.js';
import type { CollectDependencies } from './host-check.js';
import { type DryRunReport, awaitsHosts, collectDryRun, dryRun } from './dry-run.js';

const acm = new ACMClient({});
const ssm = new SSMClient({});
const ssmAt = ssmClientsAt(ssm);
const iam = new IAMClient({});
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const iamAt = clientsAt(iam, (settings) => new IAMClient(settings));

/**
 * Where the hosts' answers are read: here, or in the member account they are in, whose hosts' roles must
 * have the member stack's policy.
 */
function collectDependencies(location: TargetLocation | undefined, accountId: string): CollectDependencies {
  if (!location) {
    return { ssm, iam, accountId, instanceAccessPolicyArn: requiredEnv('INSTANCE_ACCESS_POLICY_ARN') };
  }
  return {
    ssm: ssmAt(location),
    iam: iamAt(location),
    accountId: location.TargetAccount,
    instanceAccessPolicyArn: memberHostPolicyArn(
      location,
      requiredEnv('PARTITION'),
      requiredEnv('STACK_NAME'),
    ),
  };
}

/**
 * Steps "DryRun" and "DryRunHostsAnswered" of the export-install workflow: a request becomes the report
 * of what an export would do (and the dry run's document is sent to the ready hosts); a report still
 * waiting for its hosts gets their answers once they are in.
 */
export async function handler(event: unknown, context: Context): Promise<DryRunReport> {
  return withLogContext(logKeysOf(event), async () => {
    const accountId = accountIdOf(context.invokedFunctionArn);
    const report = await retryingTransient(() =>
      awaitsHosts(event)
        ? collectDryRun(event, collectDependencies(event.hostCheck.location, accountId))
        : dryRun(event, {
            acm,
            ssm,
            db,
            region: requiredEnv('AWS_REGION'),
            accountId,
            partition: partitionOf(context.invokedFunctionArn),
            grantedTagKeys: requiredEnv('GRANTED_TAG_KEYS').split(','),
            profiles: installProfilesFromEnv(),
            tableName: requiredEnv('TABLE_NAME'),
            documentName: requiredEnv('DRY_RUN_DOCUMENT_NAME'),
            locations: locationPolicyFromEnv(homeOf(context.invokedFunctionArn)),
            ssmAt,
            assertReachable: memberStackCheck(ssmAt, requiredEnv('INSTALL_DOCUMENT_NAME')),
          }),
    );
    logger.info('dry run', {
      certificateArn: report.certificateArn,
      target: report.target,
      ready: report.ready,
      ...(report.hostCheck
        ? { commandId: report.hostCheck.commandId, awaitingHosts: report.hostCheck.pending }
        : {}),
    });
    return report;
  });
}
