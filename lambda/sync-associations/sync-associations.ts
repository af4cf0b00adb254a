import { paginateScan } from '@aws-sdk/lib-dynamodb';
import { locationOf, targetPartition } from '../shared/export-request.js';
import { logger } from '../shared/logger.js';
import { type CertificateMapping, recordAssociation } from '../shared/mapping-store.js';
import {
  type InstallTarget,
  type TargetAssociationOutcome,
  type TargetSyncDependencies,
  deleteAssociation,
  describeTarget,
  stateManagerFor,
  syncTargetAssociation,
  targetOf,
} from '../shared/target-association.js';

export interface SyncSummary {
  readonly targets: number;
  readonly mappings: number;
  /** Targets whose association was created, updated, left as it was, or deleted (no certificate left). */
  readonly changes: Record<TargetAssociationOutcome['change'], number>;
  /** Associations of one mapping each (made before target associations) replaced and deleted. */
  readonly replaced: number;
  /**
   * Targets in member accounts that could not be brought in step (their member stack gone, say): each
   * is logged with its reason, and none of them fails this deployment; the next deploy or export retries.
   */
  readonly unreachable: number;
}

/** Targets synced at once: SSM's association APIs allow a few calls a second each. */
const PARALLEL_TARGETS = 4;

/**
 * At each deploy: every target's association made to say what the table and the configuration just
 * deployed say (its certificates, the profile's settings, schedule and rollout), and every association of
 * one mapping (what an earlier version made) replaced by its target's. The target's association exists
 * before the old one is deleted, so no node goes without one; it runs at once on its nodes, where
 * everything already installed is unchanged and nothing is written or reloaded.
 */
export async function syncAllTargets(deps: TargetSyncDependencies): Promise<SyncSummary> {
  const byTarget = new Map<string, { target: InstallTarget; mappings: CertificateMapping[] }>();
  let mappings = 0;
  for await (const page of paginateScan({ client: deps.db }, { TableName: deps.tableName })) {
    for (const mapping of (page.Items ?? []) as CertificateMapping[]) {
      mappings++;
      const target = targetOf(mapping);
      const key = `${targetPartition(target)}\n${target.profile}`;
      const entry = byTarget.get(key) ?? { target, mappings: [] };
      entry.mappings.push(mapping);
      byTarget.set(key, entry);
    }
  }
  const changes: SyncSummary['changes'] = { created: 0, updated: 0, unchanged: 0, deleted: 0, absent: 0 };
  let replaced = 0;
  let unreachable = 0;
  const queue = [...byTarget.values()];
  const worker = async () => {
    for (let entry = queue.shift(); entry; entry = queue.shift()) {
      try {
        const outcome = await syncTargetAssociation(deps, entry.target);
        changes[outcome.change]++;
        replaced += await retireOldAssociations(deps, entry.mappings, outcome);
      } catch (error) {
        if (!locationOf(entry.target)) throw error;
        unreachable++;
        logger.error('association in a member account not brought in step', {
          target: describeTarget(entry.target),
          error: (error as Error).name,
          message: (error as Error).message,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_TARGETS }, worker));
  const summary = { targets: byTarget.size, mappings, changes, replaced, unreachable };
  logger.info('associations in step with the deployment', { ...summary });
  return summary;
}

/** Points each mapping at its target's association, deleting the one-mapping association it had. */
async function retireOldAssociations(
  deps: TargetSyncDependencies,
  mappings: readonly CertificateMapping[],
  outcome: TargetAssociationOutcome,
): Promise<number> {
  if (!('associationId' in outcome)) return 0;
  let replaced = 0;
  for (const mapping of mappings) {
    if (mapping.AssociationId === outcome.associationId) continue;
    if (mapping.AssociationName && mapping.AssociationName !== outcome.associationName) {
      if (await deleteAssociation(stateManagerFor(deps, mapping), mapping.AssociationName)) replaced++;
    }
    // False when unmapped meanwhile: nothing to point.
    await recordAssociation(deps.db, deps.tableName, mapping, {
      id: outcome.associationId,
      name: outcome.associationName,
    });
  }
  return replaced;
}
