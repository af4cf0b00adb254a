import { DeleteSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mappingSecretName } from '../shared/certificate-secret.js';
import { type ExportRequest, tagKeyValue } from '../shared/export-request.js';
import { associationName, deleteAssociation } from '../shared/mapping-association.js';
import { getMapping, mappingKey } from '../shared/mapping-store.js';

export interface UnmapDependencies {
  readonly stateManager: SSMClient;
  readonly secrets: SecretsManagerClient;
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The install document: the association's name starts with it. */
  readonly documentName: string;
  /** Days the mapping's secret can still be restored (7–30). */
  readonly recoveryWindowDays: number;
}

export interface UnmapOutcome {
  /** False when there was nothing to unmap: a repeated unmap is a no-op, not an error. */
  readonly unmapped: boolean;
  readonly message: string;
  readonly associationDeleted: boolean;
  /** When Secrets Manager deletes the mapping's secret for good (restorable until then). */
  readonly secretDeletionDate?: string;
}

/**
 * Stops distributing a certificate to a tag. The association goes first (nothing re-installs the
 * certificate after that), then the secret is scheduled for deletion with a recovery window, and the
 * mapping goes last, so an unmap that fails half-way can be repeated and finishes the job; renewals,
 * which follow the mappings, start nothing for it from then on. The hosts keep the files they have.
 */
export async function unmap(request: ExportRequest, deps: UnmapDependencies): Promise<UnmapOutcome> {
  const mapping = await getMapping(deps.db, deps.tableName, request);
  const name = associationName(deps.documentName, request);
  const associationDeleted = await deleteAssociation(deps.stateManager, name, mapping?.AssociationId);
  const described = `${request.CertName} (${request.CertificateArn}) on instances tagged ${tagKeyValue(request)}`;
  if (!mapping) {
    return {
      unmapped: false,
      associationDeleted,
      message: `${described} was not mapped: nothing to do`,
    };
  }

  const secretDeletionDate = await scheduleSecretDeletion(
    deps.secrets,
    mapping.SecretId ?? mappingSecretName(request),
    deps.recoveryWindowDays,
  );
  await deps.db.send(new DeleteCommand({ TableName: deps.tableName, Key: mappingKey(request) }));
  return {
    unmapped: true,
    associationDeleted,
    ...(secretDeletionDate ? { secretDeletionDate } : {}),
    message: `${described} is unmapped: no host gets it any more${
      secretDeletionDate ? `; its secret is deleted on ${secretDeletionDate} unless restored before` : ''
    }. The files already installed stay on the hosts.`,
  };
}

async function scheduleSecretDeletion(
  secrets: SecretsManagerClient,
  secretId: string,
  recoveryWindowDays: number,
): Promise<string | undefined> {
  try {
    const { DeletionDate } = await secrets.send(
      new DeleteSecretCommand({ SecretId: secretId, RecoveryWindowInDays: recoveryWindowDays }),
    );
    return DeletionDate?.toISOString();
  } catch (error) {
    // Already gone, or already scheduled by an earlier unmap that stopped half-way.
    if ((error as Error).name === 'ResourceNotFoundException') return undefined;
    if (
      (error as Error).name === 'InvalidRequestException' &&
      /marked for deletion/i.test((error as Error).message)
    )
      return undefined;
    throw error;
  }
}
