import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';

/**
 * Who is exporting a certificate at a serial right now. ExportCertificate has no idempotency token, so
 * the one export of a serial is guarded by a lease in DynamoDB: the first caller to write it exports;
 * any other caller for the same serial waits until the export is stored (or the lease runs out, when
 * its holder died). The item holds names and times, never key material.
 */
export const CLAIM_KEY = 'CertificateArn';

/** Long enough for a describe, an export and a secret write, with the SDK's retries. */
export const CLAIM_LEASE_MS = 120_000;

export interface ExportClaimStore {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
}

export interface ExportClaim {
  readonly certificateArn: string;
  readonly serial: string;
  /** The execution (or renewal event) exporting; the same owner may claim again (its own retry). */
  readonly owner: string;
  readonly now: Date;
}

/** Takes the lease on exporting `serial`; false when another owner holds an unexpired one. */
export async function claimExport(store: ExportClaimStore, claim: ExportClaim): Promise<boolean> {
  const now = claim.now.getTime();
  try {
    await store.db.send(
      new PutCommand({
        TableName: store.tableName,
        Item: {
          [CLAIM_KEY]: claim.certificateArn,
          Serial: claim.serial,
          Owner: claim.owner,
          ClaimedUntil: now + CLAIM_LEASE_MS,
          // DynamoDB TTL (epoch seconds): a claim is worth nothing once its export is stored.
          ExpiresAt: Math.ceil(now / 1000) + 86_400,
        },
        ConditionExpression:
          'attribute_not_exists(#key) OR Serial <> :serial OR ClaimedUntil < :now OR #owner = :owner',
        ExpressionAttributeNames: { '#key': CLAIM_KEY, '#owner': 'Owner' },
        ExpressionAttributeValues: { ':serial': claim.serial, ':now': now, ':owner': claim.owner },
      }),
    );
    return true;
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}
