import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateScan,
} from '@aws-sdk/lib-dynamodb';
import { type ExportRequest, type TargetLocation, locationOf, requestFieldsOf } from './export-request.js';
import { assessInstall } from './install-status.js';
import { logger } from './logger.js';
import { clientFor } from './target-location.js';
import { recordInstallResult } from './mapping-store.js';
import type { InstallReport, InstallStatusReport } from './workflow-state.js';

/**
 * An export waiting for its install command to end. The RecordAndInstall step registers one per
 * command with the execution's task token; whoever first sees the command finished (SSM's status-change
 * event, the step itself if the command ended at once, or the slow sweep that covers a lost event)
 * hands the outcome back to the execution and removes the wait. The item holds names, ids and the token,
 * never key material.
 */
export const WAIT_KEY = 'CommandId';

export interface InstallWait extends ExportRequest {
  readonly CommandId: string;
  readonly TaskToken: string;
  readonly ExecutionArn: string;
  readonly AssociationId: string;
  readonly AssociationChange: InstallReport['associationChange'];
  /** The mapping's secret (absent in waits registered before the hosts reported per certificate). */
  readonly SecretId?: string;
  readonly SentAt: string;
  /** Past this, a command still running is reported as TimedOut. */
  readonly Deadline: string;
  /** DynamoDB TTL (epoch seconds): a wait nobody completed disappears a day after its deadline. */
  readonly ExpiresAt: number;
}

export interface WaitStore {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
}

export async function registerWait(store: WaitStore, wait: InstallWait): Promise<void> {
  await store.db.send(new PutCommand({ TableName: store.tableName, Item: wait }));
}

export async function pendingWaits(store: WaitStore): Promise<InstallWait[]> {
  const waits: InstallWait[] = [];
  for await (const page of paginateScan({ client: store.db }, { TableName: store.tableName })) {
    waits.push(...((page.Items ?? []) as InstallWait[]));
  }
  return waits;
}

export interface CompletionDependencies {
  readonly ssm: SSMClient;
  /** SSM in a member account and Region, for a wait whose mapping names one. */
  readonly ssmAt?: (location: TargetLocation) => SSMClient;
  readonly sfn: SFNClient;
  readonly waits: WaitStore;
  /** The inventory, where the mapping's last install result is recorded. */
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly now: () => Date;
}

/** Step Functions' answers for a token whose task is already over (completed, timed out, or gone). */
const SETTLED_TOKEN_ERRORS = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/**
 * Looks at the command a wait is for; if it has ended (or passed its deadline), records the result on
 * the mapping, completes the execution's task with it and removes the wait. Returns the report when it
 * completed, undefined when the command is still running or no execution waits for it. Safe to run
 * twice at once: the second completion finds the task settled.
 */
export async function completeIfFinished(
  commandId: string,
  deps: CompletionDependencies,
  known?: InstallWait,
): Promise<InstallStatusReport | undefined> {
  const wait = known ?? (await getWait(deps.waits, commandId));
  if (!wait) return undefined;
  const request = requestFieldsOf(wait);
  const location = locationOf(request);
  const ssm = clientFor(deps.ssm, deps.ssmAt, location);
  const report = await assessInstall(ssm, request, {
    commandId,
    ...(wait.SecretId ? { secretId: wait.SecretId } : {}),
    sentAt: new Date(wait.SentAt),
    deadline: new Date(wait.Deadline),
    now: deps.now(),
  });
  if (report.outcome === 'InProgress') return undefined;

  const recorded = await recordInstallResult(deps.db, deps.tableName, request, {
    commandId,
    status: report.outcome,
    summary:
      report.reason ?? `installed on ${report.summary.succeeded} of ${report.summary.targets} instances`,
    finishedAt: deps.now().toISOString(),
  });
  if (!recorded)
    logger.warn('a newer install of this mapping is recorded; not overwriting it', { commandId });

  const output: InstallReport = {
    ...report,
    commandId,
    associationId: wait.AssociationId,
    associationChange: wait.AssociationChange,
  };
  try {
    await deps.sfn.send(
      new SendTaskSuccessCommand({ taskToken: wait.TaskToken, output: JSON.stringify(output) }),
    );
  } catch (error) {
    if (!SETTLED_TOKEN_ERRORS.has((error as Error).name)) throw error;
    logger.info('the execution no longer waits for this command', {
      commandId,
      executionArn: wait.ExecutionArn,
      error: (error as Error).name,
    });
  }
  await deps.waits.db.send(
    new DeleteCommand({ TableName: deps.waits.tableName, Key: { [WAIT_KEY]: commandId } }),
  );
  return report;
}

async function getWait(store: WaitStore, commandId: string): Promise<InstallWait | undefined> {
  const { Item } = await store.db.send(
    new GetCommand({ TableName: store.tableName, Key: { [WAIT_KEY]: commandId }, ConsistentRead: true }),
  );
  return Item as InstallWait | undefined;
}
