import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  type SecretsManagerClient,
  type Tag,
} from '@aws-sdk/client-secrets-manager';
import { isScheduledForDeletion } from './certificate-secret.js';

export interface SecretVersionWrite {
  readonly secretId: string;
  readonly secretString: string;
  /**
   * The version's id, also its idempotency token: the same write again (a retry, a lost answer the SDK
   * sends again) makes no second version.
   */
  readonly versionId: string;
  /** How to create the secret when it does not exist yet. */
  readonly create: { readonly kmsKeyId: string; readonly description: string; readonly tags?: Tag[] };
  /**
   * Whether a secret scheduled for deletion comes back (RestoreSecret) to take the version. @default true;
   * false leaves it to its deletion and throws Secrets Manager's answer.
   */
  readonly restore?: boolean;
}

/** What the version holds once written: normally what was asked, or what an earlier write put there. */
export interface WrittenVersion {
  readonly versionId: string;
  readonly secretString: string;
}

/**
 * Writes one version of a secret. Updates are the common case, so this tries PutSecretValue first,
 * brings back a secret scheduled for deletion, and creates the secret only when it does not exist.
 * When the version id is already taken by other content (this write's earlier attempt, made from an
 * earlier export), that version stands, and what it holds is returned.
 */
export async function writeSecretVersion(
  secrets: SecretsManagerClient,
  write: SecretVersionWrite,
): Promise<WrittenVersion> {
  const { secretId: SecretId, secretString: SecretString, versionId: ClientRequestToken } = write;
  const written = { versionId: ClientRequestToken, secretString: SecretString };
  const putVersion = async (): Promise<WrittenVersion> => {
    try {
      await secrets.send(new PutSecretValueCommand({ SecretId, SecretString, ClientRequestToken }));
      return written;
    } catch (error) {
      if ((error as Error).name !== 'ResourceExistsException') throw error;
      const held = await secrets.send(new GetSecretValueCommand({ SecretId, VersionId: ClientRequestToken }));
      return { versionId: ClientRequestToken, secretString: held.SecretString ?? '' };
    }
  };
  try {
    return await putVersion();
  } catch (error) {
    if (isScheduledForDeletion(error) && write.restore !== false) {
      // Removed earlier and written again within the recovery window: the same secret comes back.
      await secrets.send(new RestoreSecretCommand({ SecretId }));
      return putVersion();
    }
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
  }
  try {
    await secrets.send(
      new CreateSecretCommand({
        Name: SecretId,
        SecretString,
        ClientRequestToken,
        KmsKeyId: write.create.kmsKeyId,
        Description: write.create.description,
        ...(write.create.tags ? { Tags: write.create.tags } : {}),
      }),
    );
    return written;
  } catch (error) {
    // Created meanwhile by another writer (or by this call, whose answer was lost): write the version.
    if ((error as Error).name === 'ResourceExistsException') return putVersion();
    throw error;
  }
}
