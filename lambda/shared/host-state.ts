import { type DynamoDBDocumentClient, PutCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { type ExportRequest, mappingId } from './export-request.js';

/**
 * What each host last did with each certificate its target's association lists: one item per mapping
 * and node, written when State Manager reports a run, from what the node itself recorded for that
 * certificate (its compliance item) or, where it recorded nothing, from the run as a whole. Holds ids,
 * dates, statuses and error words, never key material.
 */
export const HOST_PARTITION_KEY = 'AssociationId';
export const HOST_SORT_KEY = 'InstanceId';

/**
 * The partition of one mapping's hosts: its association and the mapping id (the one its secret's name
 * ends with), since one association lists every certificate of its target.
 */
export function hostStatePartition(
  mapping: Pick<ExportRequest, 'CertificateArn' | 'TargetTagKey' | 'TargetTagValue'> & {
    readonly AssociationId?: string;
  },
): string | undefined {
  return mapping.AssociationId ? `${mapping.AssociationId}/${mappingId(mapping)}` : undefined;
}

export interface HostState {
  /** The mapping's partition (hostStatePartition). */
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
  /** The serial the node says it holds (else the mapping's, when the node last succeeded). */
  readonly Serial?: string;
  /** The node's own words on why this certificate failed. */
  readonly Error?: string;
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

/** Every host of one mapping (its hostStatePartition), all pages. */
export async function hostStates(
  db: DynamoDBDocumentClient,
  tableName: string,
  partition: string,
): Promise<HostState[]> {
  const hosts: HostState[] = [];
  for await (const page of paginateQuery(
    { client: db },
    {
      TableName: tableName,
      KeyConditionExpression: 'AssociationId = :id',
      ExpressionAttributeValues: { ':id': partition },
    },
  )) {
    hosts.push(...((page.Items ?? []) as HostState[]));
  }
  return hosts;
}
