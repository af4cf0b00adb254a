import { DeleteSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { certificateExportSecretName } from '../shared/certificate-export.js';
import { isScheduledForDeletion, mappingSecretName } from '../shared/certificate-secret.js';
import {
  type ExportRequest,
  type TargetLocation,
  locationOf,
  targetPartition,
} from '../shared/export-request.js';
import { type InstallProfiles, profileSettings } from '../shared/install-parameters.js';
import {
  type TargetAssociationSettings,
  describeTarget,
  syncTargetAssociation,
  targetOf,
} from '../shared/target-association.js';
import {
  type CertificateMapping,
  SORT_KEY,
  getMapping,
  mappingKey,
  mappingsForCertificate,
} from '../shared/mapping-store.js';
import { clientFor } from '../shared/target-location.js';

export interface UnmapDependencies {
  readonly stateManager: SSMClient;
  /** For the Remove command (the same client in production). */
  readonly commands: SSMClient;
  /** SSM in the member account and Region of a mapping that names one (associations and commands). */
  readonly ssmAt?: (location: TargetLocation) => SSMClient;
  readonly secrets: SecretsManagerClient;
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  /** How the targets' associations are written (this certificate leaves its target's). */
  readonly associations: TargetAssociationSettings;
  /** Days the mapping's secret can still be restored (7–30). */
  readonly recoveryWindowDays: number;
  /** How the files are removed from the hosts when asked: the Remove document and the install settings. */
  readonly removal: {
    readonly documentName: string;
    readonly maxConcurrency: string;
    readonly maxErrors: string;
    readonly deliveryTimeoutSeconds: number;
    /** Where each profile's hosts keep the files: the mapping's recorded profile says which. */
    readonly profiles: InstallProfiles;
  };
}

export interface UnmapOptions {
  /** Also remove the installed files from the hosts the tag selects. */
  readonly removeFiles?: boolean;
}

export interface UnmapOutcome {
  /** False when there was nothing to unmap: a repeated unmap is a no-op, not an error. */
  readonly unmapped: boolean;
  readonly message: string;
  /** True when the certificate was the target's last, so its association went with it. */
  readonly associationDeleted: boolean;
  /** When Secrets Manager deletes the mapping's secret for good (restorable until then). */
  readonly secretDeletionDate?: string;
  /** The Run Command command that removes the files from the hosts, when asked. */
  readonly removeCommandId?: string;
}

/**
 * Stops distributing a certificate to a tag. It leaves its target's association first (nothing
 * re-installs it after that; the association goes with the target's last certificate), then the secret
 * is scheduled for deletion with a recovery window, and the mapping goes last, so an unmap that fails
 * half-way can be repeated and finishes the job; renewals, which follow the mappings, start nothing for
 * it from then on. The hosts keep the files they have, unless asked: then, once the certificate has
 * left the association, the Remove document is sent to the tag.
 */
export async function unmap(
  request: ExportRequest,
  deps: UnmapDependencies,
  options: UnmapOptions = {},
): Promise<UnmapOutcome> {
  const mapping = await getMapping(deps.db, deps.tableName, request);
  const targets = {
    stateManager: deps.stateManager,
    ...(deps.ssmAt ? { stateManagerAt: deps.ssmAt } : {}),
    db: deps.db,
    tableName: deps.tableName,
    settings: deps.associations,
  };
  const target = targetOf(mapping ?? request);
  const secretId = mapping?.SecretId ?? mappingSecretName(request);
  const left = await syncTargetAssociation(targets, target, { exclude: secretId });
  const described = `${request.CertName} (${request.CertificateArn}) on instances tagged ${describeTarget(request)}`;
  if (!mapping) {
    return {
      unmapped: false,
      associationDeleted: left.change === 'deleted',
      message: `${described} was not mapped: nothing to do`,
    };
  }

  const removeCommandId = options.removeFiles ? await sendRemoval(deps, request, mapping) : undefined;
  const secretDeletionDate = await scheduleSecretDeletion(deps.secrets, secretId, deps.recoveryWindowDays);
  await deps.db.send(new DeleteCommand({ TableName: deps.tableName, Key: mappingKey(request) }));
  await deleteExportWithLastMapping(deps, request);
  // Read against the table again now that the mapping is gone: an export to the same target that synced
  // at the same moment cannot have put this certificate back.
  const after = await syncTargetAssociation(targets, target);
  const associationDeleted = left.change === 'deleted' || after.change === 'deleted';
  return {
    unmapped: true,
    associationDeleted,
    ...(secretDeletionDate ? { secretDeletionDate } : {}),
    ...(removeCommandId ? { removeCommandId } : {}),
    message: `${described} is unmapped: no host gets it any more${
      secretDeletionDate ? `; its secret is deleted on ${secretDeletionDate} unless restored before` : ''
    }. ${
      removeCommandId
        ? `Command ${removeCommandId} removes the installed files from the hosts (see its Run Command output).`
        : 'The files already installed stay on the hosts.'
    }`,
  };
}

async function sendRemoval(
  deps: UnmapDependencies,
  request: ExportRequest,
  mapping: CertificateMapping,
): Promise<string> {
  const { removal } = deps;
  const host = profileSettings(removal.profiles, mapping.Profile);
  const commands = clientFor(deps.commands, deps.ssmAt, locationOf(request));
  const response = await commands.send(
    new SendCommandCommand({
      DocumentName: removal.documentName,
      DocumentVersion: '$LATEST',
      Targets: [{ Key: `tag:${request.TargetTagKey}`, Values: [request.TargetTagValue] }],
      Parameters: {
        CertName: [request.CertName],
        CertDirectory: [host.certDirectory],
        KeyDirectory: [host.keyDirectory],
        FileOwner: [host.fileOwner],
        FileGroup: [host.fileGroup],
        // Windows nodes take the certificate out of the profile's bindings it owns.
        ...(host.iisBindings ? { IisBindings: [host.iisBindings] } : {}),
        ...(host.httpSysBindings ? { HttpSysBindings: [host.httpSysBindings] } : {}),
      },
      MaxConcurrency: removal.maxConcurrency,
      MaxErrors: removal.maxErrors,
      TimeoutSeconds: removal.deliveryTimeoutSeconds,
      Comment: `Remove ${request.CertName} (unmapped)`,
    }),
  );
  const commandId = response.Command?.CommandId;
  if (!commandId) throw new Error('SSM accepted the remove command but returned no command id');
  return commandId;
}

/**
 * The certificate's own export (what every mapping's secret is written from) goes with its last
 * mapping, with the same recovery window; an export mapped again meanwhile brings it back.
 */
async function deleteExportWithLastMapping(deps: UnmapDependencies, request: ExportRequest): Promise<void> {
  const unmapped = mappingKey(request)[SORT_KEY];
  const others = (await mappingsForCertificate(deps.db, deps.tableName, request.CertificateArn)).filter(
    // The index may still list the mapping just deleted.
    (mapping) => mapping.TagKeyValue !== targetPartition(request) || mapping[SORT_KEY] !== unmapped,
  );
  if (others.length > 0) return;
  await scheduleSecretDeletion(
    deps.secrets,
    certificateExportSecretName(request.CertificateArn),
    deps.recoveryWindowDays,
  );
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
    if (isScheduledForDeletion(error)) return undefined;
    throw error;
  }
}
