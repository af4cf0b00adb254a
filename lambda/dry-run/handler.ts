import { ACMClient } from '@aws-sdk/client-acm';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { retryingTransient } from '../shared/errors.js';
import { accountIdOf, partitionOf, requiredEnv } from '../shared/env.js';
import { installProfilesFromEnv } from '../shared/install-parameters.js';
import { logKeysOf, logger, withLogContext } from '../shared/logger.js';
import { type DryRunReport, dryRun } from './dry-run.js';

const acm = new ACMClient({});
const ssm = new SSMClient({});

/** Step "DryRun" of the export-install workflow: reports what an export would do. */
export async function handler(event: unknown, context: Context): Promise<DryRunReport> {
  return withLogContext(logKeysOf(event), async () => {
    const report = await retryingTransient(() =>
      dryRun(event, {
        acm,
        ssm,
        region: requiredEnv('AWS_REGION'),
        accountId: accountIdOf(context.invokedFunctionArn),
        partition: partitionOf(context.invokedFunctionArn),
        grantedTagKeys: requiredEnv('GRANTED_TAG_KEYS').split(','),
        profiles: installProfilesFromEnv(),
      }),
    );
    logger.info('dry run', {
      certificateArn: report.certificateArn,
      target: report.target,
      ready: report.ready,
    });
    return report;
  });
}
