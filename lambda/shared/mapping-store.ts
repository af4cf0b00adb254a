import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
  paginateQuery,
} from '@aws-sdk/lib-dynamodb';
import { type ExportRequest, locationOf, targetPartition } from './export-request.js';

/**
 * The certificate-to-target inventory (DESIGN.md "Data model"). One item per mapping of a certificate
 * (under a file name) to the instances carrying one tag. Items hold names, dates and statuses, never key
 * material.
 */
export const PARTITION_KEY = 'TagKeyValue';
export const SORT_KEY = 'CertificateArn#CertName';
export const CERTIFICATE_INDEX = 'CertificateArnIndex';
/** Finds the mapping a State Manager association belongs to (sparse: mappings without one are absent). */
export const ASSOCIATION_INDEX = 'AssociationIdIndex';

/**
 * Where a mapping's latest execution stands: Exporting (a new mapping, its secret not written yet),
 * Exported (secret written, install not sent yet), CommandSent, then a final one: Success, Failed,
 * TimedOut or CommandRejected.
 */
export type InstallStatus =
  'Exporting' | 'Exported' | 'CommandSent' | 'CommandRejected' | 'Success' | 'Failed' | 'TimedOut';

/** The statuses an execution ends a mapping with. */
export const FINAL_INSTALL_STATUSES: ReadonlySet<string> = new Set<InstallStatus>([
  'Success',
  'Failed',
  'TimedOut',
  'CommandRejected',
]);

export interface CertificateMapping {
  readonly TagKeyValue: string;
  readonly 'CertificateArn#CertName': string;
  readonly CertificateArn: string;
  readonly CertName: string;
  readonly TargetTagKey: string;
  readonly TargetTagValue: string;
  /** The hosts' account and Region, when not this deployment's own. */
  readonly TargetAccount?: string;
  readonly TargetRegion?: string;
  readonly CertExpiryDate?: string;
  readonly LastExportedDate?: string;
  readonly SecretId?: string;
  readonly Serial?: string;
  readonly LastExecutionArn?: string;
  readonly LastCommandId?: string;
  readonly LastInstallStatus?: InstallStatus;
  readonly LastInstallSummary?: string;
  readonly LastInstallDate?: string;
  /** The mapping's State Manager association, which keeps every tagged node converged. */
  readonly AssociationId?: string;
  readonly AssociationName?: string;
  /** The install profile its hosts use (absent: `default`). */
  readonly Profile?: string;
}

export function mappingKey(request: ExportRequest): Record<string, string> {
  return {
    [PARTITION_KEY]: targetPartition(request),
    [SORT_KEY]: `${request.CertificateArn}#${request.CertName}`,
  };
}

export interface ExportRecord {
  /** The install profile; kept as it was when absent (a record made before profiles existed). */
  readonly profile?: string;
  readonly expiresAt: string;
  readonly exportedAt: string;
  readonly secretId: string;
  readonly serial: string;
  readonly executionArn: string;
  readonly commandId?: string;
  readonly association?: { readonly id: string; readonly name: string };
  readonly installStatus: InstallStatus;
}

/** One mapping, read consistently, or undefined when there is none. */
export async function getMapping(
  db: DynamoDBDocumentClient,
  tableName: string,
  request: ExportRequest,
): Promise<CertificateMapping | undefined> {
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName, Key: mappingKey(request), ConsistentRead: true }),
  );
  return Item as CertificateMapping | undefined;
}

/**
 * Creates or updates a mapping after an export. An older export never overwrites a newer one (two
 * executions for one mapping can overlap, e.g. a renewal while a manual export runs); returns false when
 * the item already records a later export.
 */
export async function recordExport(
  db: DynamoDBDocumentClient,
  tableName: string,
  request: ExportRequest,
  record: ExportRecord,
): Promise<boolean> {
  const values: Record<string, string> = {
    ':arn': request.CertificateArn,
    ':name': request.CertName,
    ':tagKey': request.TargetTagKey,
    ':tagValue': request.TargetTagValue,
    ':expires': record.expiresAt,
    ':exported': record.exportedAt,
    ':secret': record.secretId,
    ':serial': record.serial,
    ':execution': record.executionArn,
    ':status': record.installStatus,
  };
  const assignments = [
    'CertificateArn = :arn',
    'CertName = :name',
    'TargetTagKey = :tagKey',
    'TargetTagValue = :tagValue',
    'CertExpiryDate = :expires',
    'LastExportedDate = :exported',
    'SecretId = :secret',
    'Serial = :serial',
    'LastExecutionArn = :execution',
    'LastInstallStatus = :status',
  ];
  addLocation(request, assignments, values);
  if (record.commandId) {
    assignments.push('LastCommandId = :command');
    values[':command'] = record.commandId;
  }
  if (record.profile) {
    assignments.push('#profile = :profile');
    values[':profile'] = record.profile;
  }
  if (record.association) {
    assignments.push('AssociationId = :associationId', 'AssociationName = :associationName');
    values[':associationId'] = record.association.id;
    values[':associationName'] = record.association.name;
  }
  return conditionalUpdate(
    db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: mappingKey(request),
        // A record without a command (just exported, or rejected) must not keep an earlier execution's.
        UpdateExpression: `SET ${assignments.join(', ')} REMOVE LastInstallSummary, LastInstallDate${record.commandId ? '' : ', LastCommandId'}`,
        ConditionExpression: 'attribute_not_exists(LastExportedDate) OR LastExportedDate <= :exported',
        ExpressionAttributeValues: values,
        ...(record.profile ? { ExpressionAttributeNames: { '#profile': 'Profile' } } : {}),
      }),
    ),
  );
}

/**
 * Creates a mapping before its secret is first written, with the status Exporting, so a secret never
 * exists without its mapping (the failure path ends the status, unmap removes both). An existing
 * mapping is left as it is; returns whether one was created.
 */
export async function recordExportStarted(
  db: DynamoDBDocumentClient,
  tableName: string,
  request: ExportRequest,
  started: { readonly secretId: string; readonly profile: string; readonly executionArn: string },
): Promise<boolean> {
  const assignments = [
    'CertificateArn = :arn',
    'CertName = :name',
    'TargetTagKey = :tagKey',
    'TargetTagValue = :tagValue',
    'SecretId = :secret',
    '#profile = :profile',
    'LastExecutionArn = :execution',
    'LastInstallStatus = :status',
  ];
  const values: Record<string, string> = {
    ':arn': request.CertificateArn,
    ':name': request.CertName,
    ':tagKey': request.TargetTagKey,
    ':tagValue': request.TargetTagValue,
    ':secret': started.secretId,
    ':profile': started.profile,
    ':execution': started.executionArn,
    ':status': 'Exporting' satisfies InstallStatus,
  };
  addLocation(request, assignments, values);
  return conditionalUpdate(
    db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: mappingKey(request),
        UpdateExpression: `SET ${assignments.join(', ')}`,
        ConditionExpression: 'attribute_not_exists(CertificateArn)',
        ExpressionAttributeNames: { '#profile': 'Profile' },
        ExpressionAttributeValues: values,
      }),
    ),
  );
}

/**
 * Points a mapping at its target's association (the deploy-time sync moving it off an association of its
 * own); false when the mapping is gone (unmapped meanwhile).
 */
export async function recordAssociation(
  db: DynamoDBDocumentClient,
  tableName: string,
  request: ExportRequest,
  association: { readonly id: string; readonly name: string },
): Promise<boolean> {
  return conditionalUpdate(
    db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: mappingKey(request),
        UpdateExpression: 'SET AssociationId = :id, AssociationName = :name',
        ConditionExpression: 'attribute_exists(CertificateArn)',
        ExpressionAttributeValues: { ':id': association.id, ':name': association.name },
      }),
    ),
  );
}

export interface InstallResult {
  readonly commandId: string;
  readonly status: InstallStatus;
  readonly summary: string;
  readonly finishedAt: string;
}

/**
 * Records how an install command ended, only if the mapping still points at that command, so a slow
 * execution cannot overwrite the result of a newer one. Returns false when it was superseded.
 */
export async function recordInstallResult(
  db: DynamoDBDocumentClient,
  tableName: string,
  request: ExportRequest,
  result: InstallResult,
): Promise<boolean> {
  return conditionalUpdate(
    db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: mappingKey(request),
        UpdateExpression:
          'SET LastInstallStatus = :status, LastInstallSummary = :summary, LastInstallDate = :at',
        ConditionExpression: 'LastCommandId = :command',
        ExpressionAttributeValues: {
          ':status': result.status,
          ':summary': result.summary,
          ':at': result.finishedAt,
          ':command': result.commandId,
        },
      }),
    ),
  );
}

/** Every mapping of one certificate, through the CertificateArn index, all pages. */
export async function mappingsForCertificate(
  db: DynamoDBDocumentClient,
  tableName: string,
  certificateArn: string,
  options: { readonly pageSize?: number } = {},
): Promise<CertificateMapping[]> {
  const mappings: CertificateMapping[] = [];
  const pages = paginateQuery(
    { client: db, ...(options.pageSize ? { pageSize: options.pageSize } : {}) },
    {
      TableName: tableName,
      IndexName: CERTIFICATE_INDEX,
      KeyConditionExpression: 'CertificateArn = :arn',
      ExpressionAttributeValues: { ':arn': certificateArn },
    },
  );
  for await (const page of pages) {
    mappings.push(...((page.Items ?? []) as CertificateMapping[]));
  }
  return mappings;
}

/** A mapping in another account or Region keeps where its hosts are beside its key. */
function addLocation(request: ExportRequest, assignments: string[], values: Record<string, string>): void {
  const location = locationOf(request);
  if (!location) return;
  assignments.push('TargetAccount = :account', 'TargetRegion = :region');
  values[':account'] = location.TargetAccount;
  values[':region'] = location.TargetRegion;
}

async function conditionalUpdate(update: Promise<unknown>): Promise<boolean> {
  try {
    await update;
    return true;
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

/** Every mapping a target association lists, through the AssociationId index, all pages. */
export async function mappingsByAssociation(
  db: DynamoDBDocumentClient,
  tableName: string,
  associationId: string,
): Promise<CertificateMapping[]> {
  return allPages(db, {
    TableName: tableName,
    IndexName: ASSOCIATION_INDEX,
    KeyConditionExpression: 'AssociationId = :id',
    ExpressionAttributeValues: { ':id': associationId },
  });
}

/** Every mapping to one tag (`key=value`), read consistently, all pages. */
export async function mappingsOfTag(
  db: DynamoDBDocumentClient,
  tableName: string,
  tag: string,
): Promise<CertificateMapping[]> {
  return allPages(db, {
    TableName: tableName,
    KeyConditionExpression: '#tag = :tag',
    ExpressionAttributeNames: { '#tag': PARTITION_KEY },
    ExpressionAttributeValues: { ':tag': tag },
    ConsistentRead: true,
  });
}

async function allPages(
  db: DynamoDBDocumentClient,
  query: ConstructorParameters<typeof QueryCommand>[0],
): Promise<CertificateMapping[]> {
  const mappings: CertificateMapping[] = [];
  for await (const page of paginateQuery({ client: db }, query)) {
    mappings.push(...((page.Items ?? []) as CertificateMapping[]));
  }
  return mappings;
}
