import { type DynamoDBDocumentClient, PutCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';

/**
 * What each host of a mapping last did with the mapping's association, one item per association and
 * node, written when State Manager reports a run. Holds ids, dates, statuses and SSM's own error words,
 * never key material.
 */
export const HOST_PARTITION_KEY = 'AssociationId';
export const HOST_SORT_KEY = 'InstanceId';

export interface HostState {
  readonly AssociationId: string;
  readonly InstanceId: string;
  /** Success, Failed, Pending, … as State Manager reports the node's association. */
  readonly Status: string;
  readonly DetailedStatus?: string;
  readonly ErrorCode?: string;
  /** SSM's words for the run, e.g. "1 out of 1 plugin processed, 1 failed, …". */
  readonly ExecutionSummary?: string;
  /** When the association last ran on the node, and last succeeded there. */
  readonly LastExecutionDate?: string;
  readonly LastSuccessfulExecutionDate?: string;
  /** The mapping's serial when the node last succeeded: what it holds since. */
  readonly Serial?: string;
}

export async function recordHostState(
  db: DynamoDBDocumentClient,
  tableName: string,
  state: HostState,
): Promise<void> {
  await db.send(
    new PutCommand({
      TableName: tableName,
      Item: Object.fromEntries(Object.entries(state).filter(([, value]) => value !== undefined)),
    }),
  );
}

/** Every host of one association, all pages. */
export async function hostStates(
  db: DynamoDBDocumentClient,
  tableName: string,
  associationId: string,
): Promise<HostState[]> {
  const hosts: HostState[] = [];
  for await (const page of paginateQuery(
    { client: db },
    {
      TableName: tableName,
      KeyConditionExpression: 'AssociationId = :id',
      ExpressionAttributeValues: { ':id': associationId },
    },
  )) {
    hosts.push(...((page.Items ?? []) as HostState[]));
  }
  return hosts;
}
