import {
  type AssociationComplianceSeverity,
  type AssociationDescription,
  CreateAssociationCommand,
  DeleteAssociationCommand,
  DescribeAssociationCommand,
  ListAssociationsCommand,
  type SSMClient,
  UpdateAssociationCommand,
} from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { InstallCommandRejectedError } from './errors.js';
import {
  DEFAULT_PROFILE,
  type TargetLocation,
  locationOf,
  tagKeyValue,
  targetPartition,
} from './export-request.js';
import {
  type InstallProfiles,
  MAX_CERTIFICATES_PER_TARGET,
  hostParameters,
  installProfilesFromEnv,
  profileSettings,
} from './install-parameters.js';
import { mappingsOfTag } from './mapping-store.js';
import { clientFor } from './target-location.js';

/**
 * Each target's State Manager association: the install document bound to one tag (and the install
 * profile its hosts use) on a schedule, listing the secret of every certificate mapped to that target, so
 * every node that carries the tag (now or later, online now or back next week, intact or with its files
 * deleted) converges to each certificate's current version without anyone re-running an export. One
 * association per target, not per mapping: State Manager lets at most 20 associations target one node
 * and 2,000 exist in an account and Region, and a proxy serving fifty certificates is one target.
 */

/** How the associations run, from the deployment's configuration. */
export interface ConvergenceSettings {
  /** A State Manager schedule: `rate(…)` (30 minutes at least) or `cron(…)`. */
  readonly schedule: string;
  readonly maxConcurrency: string;
  readonly maxErrors: string;
  /** What a node that has not converged counts as in Systems Manager compliance. */
  readonly complianceSeverity: AssociationComplianceSeverity;
  /**
   * The tag every association of this deployment carries. The workflow's role may update, run and
   * delete only associations with this tag, and create them only with it.
   */
  readonly deploymentTag: { readonly key: string; readonly value: string };
}

/** AssociationName: 3–128 of `[a-zA-Z0-9_.-]`. */
const ASSOCIATION_NAME = /^[a-zA-Z0-9_.-]{3,128}$/;
const LONGEST_PREFIX = 40;

/**
 * Where a set of certificates goes: the nodes carrying one tag (in this deployment's account and Region,
 * or in the one it names), installing the way one profile says.
 */
export interface InstallTarget extends Partial<TargetLocation> {
  readonly TargetTagKey: string;
  readonly TargetTagValue: string;
  readonly profile: string;
}

export function targetOf(
  mapping: {
    readonly TargetTagKey: string;
    readonly TargetTagValue: string;
    readonly Profile?: string;
    readonly profile?: string;
  } & Partial<TargetLocation>,
): InstallTarget {
  return {
    TargetTagKey: mapping.TargetTagKey,
    TargetTagValue: mapping.TargetTagValue,
    profile: mapping.profile ?? mapping.Profile ?? DEFAULT_PROFILE,
    ...locationOf(mapping),
  };
}

/** How a target is named in messages: its tag, and where when not here. */
export function describeTarget(
  target: Pick<InstallTarget, 'TargetTagKey' | 'TargetTagValue'> & Partial<TargetLocation>,
): string {
  const location = locationOf(target);
  return location
    ? `${tagKeyValue(target)} in account ${location.TargetAccount} (${location.TargetRegion})`
    : tagKeyValue(target);
}

/**
 * The target's association name: deterministic per deployment, tag and profile, readable in the console
 * (`<install document>.<profile>.<16 hex digits of the tag>`; the association's own Targets show the
 * tag). A document name too long to leave room is cut and suffixed with a hash of itself, so two
 * deployments never share a name.
 */
export function targetAssociationName(documentName: string, target: InstallTarget): string {
  const prefix =
    documentName.length <= LONGEST_PREFIX
      ? documentName
      : `${documentName.slice(0, LONGEST_PREFIX - 9)}-${createHash('sha256').update(documentName).digest('hex').slice(0, 8)}`;
  const tag = createHash('sha256').update(tagKeyValue(target)).digest('hex').slice(0, 16);
  const name = `${prefix}.${target.profile}.${tag}`;
  if (!ASSOCIATION_NAME.test(name)) throw new Error(`not a valid association name: ${name}`);
  return name;
}

/** Everything a target's association says, as CreateAssociation and UpdateAssociation take it. */
export interface DesiredAssociation {
  readonly AssociationName: string;
  /** The install document. */
  readonly Name: string;
  readonly DocumentVersion: '$LATEST';
  readonly Targets: { Key: string; Values: string[] }[];
  readonly Parameters: Record<string, string[]>;
  readonly ScheduleExpression: string;
  readonly MaxConcurrency: string;
  readonly MaxErrors: string;
  readonly ComplianceSeverity: AssociationComplianceSeverity;
  readonly SyncCompliance: 'AUTO';
  /** Run on creation, on update and when a node newly matches the tag, not only on the schedule. */
  readonly ApplyOnlyAtCronInterval: false;
}

/** What the associations of a deployment install, and how: the document, the Region, the profiles. */
export interface TargetAssociationSettings extends ConvergenceSettings {
  readonly documentName: string;
  /** The Region of the secrets. */
  readonly region: string;
  readonly profiles: InstallProfiles;
}

/** The association for `target` listing `secretIds` (sorted, so the same set is always the same text). */
export function desiredTargetAssociation(
  target: InstallTarget,
  secretIds: readonly string[],
  settings: TargetAssociationSettings,
): DesiredAssociation {
  return {
    AssociationName: targetAssociationName(settings.documentName, target),
    Name: settings.documentName,
    // As the workflow's commands: a redeployed document reaches the hosts at their next run.
    DocumentVersion: '$LATEST',
    Targets: [{ Key: `tag:${target.TargetTagKey}`, Values: [target.TargetTagValue] }],
    Parameters: {
      Certificates: [[...secretIds].sort().join(' ')],
      Region: [settings.region],
      ...hostParameters(profileSettings(settings.profiles, target.profile)),
    } as Record<string, string[]>,
    ScheduleExpression: settings.schedule,
    MaxConcurrency: settings.maxConcurrency,
    MaxErrors: settings.maxErrors,
    ComplianceSeverity: settings.complianceSeverity,
    SyncCompliance: 'AUTO',
    ApplyOnlyAtCronInterval: false,
  };
}

export interface TargetSyncDependencies {
  /** State Manager here; for a target elsewhere, `stateManagerAt` gives the member account's. */
  readonly stateManager: SSMClient;
  readonly stateManagerAt?: (location: TargetLocation) => SSMClient;
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly settings: TargetAssociationSettings;
}

/** A secret to count in (a mapping being recorded) or out (a mapping being removed) of what the table says. */
export interface TargetAdjustment {
  readonly include?: string;
  readonly exclude?: string;
}

export type TargetAssociationOutcome =
  | EnsuredAssociation
  | { readonly change: 'deleted' | 'absent'; readonly associationName: string; readonly certificates: 0 };

/** UpdateAssociation's answer when another writer changed the association since it was described. */
const CONCURRENT_CHANGES = new Set(['InvalidAssociationVersion', 'AssociationAlreadyExists']);
const SYNC_ATTEMPTS = 5;

/**
 * Makes the target's association list exactly the certificates its mappings hold (with `adjust`):
 * created with the first, updated when the list or the deployment's settings changed, deleted with the
 * last. Safe to run concurrently for one target: every run reads the table, and an update names the
 * association version it read, so a run that raced another reads again instead of overwriting it.
 * A target already holding MAX_CERTIFICATES_PER_TARGET refuses one more, with the reason.
 */
export async function syncTargetAssociation(
  deps: TargetSyncDependencies,
  target: InstallTarget,
  adjust: TargetAdjustment = {},
): Promise<TargetAssociationOutcome> {
  const associationName = targetAssociationName(deps.settings.documentName, target);
  const stateManager = stateManagerFor(deps, target);
  for (let attempt = 1; ; attempt++) {
    const secretIds = await certificatesOf(deps, target, adjust);
    try {
      if (secretIds.length === 0) {
        const deleted = await deleteAssociation(stateManager, associationName);
        return { change: deleted ? 'deleted' : 'absent', associationName, certificates: 0 };
      }
      if (secretIds.length > MAX_CERTIFICATES_PER_TARGET) {
        throw new InstallCommandRejectedError(
          `instances tagged ${describeTarget(target)} (profile ${target.profile}) already take ${MAX_CERTIFICATES_PER_TARGET} certificates, as many as one target's association can list: map this certificate to another tag value, or unmap one first`,
        );
      }
      return await ensureAssociation(
        stateManager,
        desiredTargetAssociation(target, secretIds, deps.settings),
        deps.settings,
      );
    } catch (error) {
      if (CONCURRENT_CHANGES.has((error as Error).name) && attempt < SYNC_ATTEMPTS) continue;
      throw error;
    }
  }
}

/** The secrets of the target's mappings (those exported at least once), as the table holds them now. */
async function certificatesOf(
  deps: TargetSyncDependencies,
  target: InstallTarget,
  adjust: TargetAdjustment,
): Promise<string[]> {
  const secretIds = new Set(
    (await mappingsOfTag(deps.db, deps.tableName, targetPartition(target)))
      // A mapping SSM rejected waits for its next export to be listed (a target at its limit stays there).
      .filter(
        (mapping) =>
          (mapping.Profile ?? DEFAULT_PROFILE) === target.profile &&
          mapping.SecretId &&
          mapping.Serial !== undefined &&
          mapping.LastInstallStatus !== 'CommandRejected',
      )
      .map((mapping) => mapping.SecretId!),
  );
  if (adjust.include) secretIds.add(adjust.include);
  if (adjust.exclude) secretIds.delete(adjust.exclude);
  return [...secretIds].sort();
}

/** The State Manager a target's association lives in: this deployment's, or the member account's. */
export function stateManagerFor(deps: TargetSyncDependencies, target: Partial<TargetLocation>): SSMClient {
  return clientFor(deps.stateManager, deps.stateManagerAt, locationOf(target));
}

export type AssociationChange = 'created' | 'updated' | 'unchanged';

export interface EnsuredAssociation {
  readonly associationId: string;
  readonly associationName: string;
  /** Created and updated associations run at once on every node the tag selects. */
  readonly change: AssociationChange;
  /** How many certificates it lists. */
  readonly certificates: number;
}

/**
 * Makes the association say what `desired` says, in as few calls as it takes: none changed when it
 * already does (no run is started), an update naming the version it replaces when anything differs, a
 * creation when there is none. Found by its deterministic name, so a retried step never creates a second
 * one. An association at State Manager's 1,000 versions is replaced by a new one.
 */
export async function ensureAssociation(
  ssm: SSMClient,
  desired: DesiredAssociation,
  settings: Pick<ConvergenceSettings, 'deploymentTag'>,
): Promise<EnsuredAssociation> {
  const current = await findAssociation(ssm, desired.AssociationName);
  const named = {
    associationName: desired.AssociationName,
    certificates: (desired.Parameters.Certificates?.[0] ?? '').split(' ').filter(Boolean).length,
  };
  if (!current?.AssociationId) {
    const created = await ssm.send(
      new CreateAssociationCommand({
        ...desired,
        Targets: desired.Targets,
        Tags: [{ Key: settings.deploymentTag.key, Value: settings.deploymentTag.value }],
      }),
    );
    const associationId = created.AssociationDescription?.AssociationId;
    if (!associationId) throw new Error('SSM created the association but returned no association id');
    return { associationId, ...named, change: 'created' };
  }
  if (sameAssociation(current, desired)) {
    return { associationId: current.AssociationId, ...named, change: 'unchanged' };
  }
  // UpdateAssociation resets every optional field left out of the request, so all of them are sent.
  try {
    await ssm.send(
      new UpdateAssociationCommand({
        AssociationId: current.AssociationId,
        AssociationVersion: current.AssociationVersion,
        ...desired,
      }),
    );
  } catch (error) {
    if ((error as Error).name !== 'AssociationVersionLimitExceeded') throw error;
    await ssm.send(new DeleteAssociationCommand({ AssociationId: current.AssociationId }));
    return ensureAssociation(ssm, desired, settings);
  }
  return { associationId: current.AssociationId, ...named, change: 'updated' };
}

/** Removes an association by name; true if there was one. */
export async function deleteAssociation(ssm: SSMClient, name: string): Promise<boolean> {
  const current = await findAssociation(ssm, name);
  if (!current?.AssociationId) return false;
  try {
    await ssm.send(new DeleteAssociationCommand({ AssociationId: current.AssociationId }));
  } catch (error) {
    if ((error as Error).name !== 'AssociationDoesNotExist') throw error;
    return false;
  }
  return true;
}

/**
 * The association named `name`, if there is one. It is looked up with ListAssociations, which needs no
 * tag, before it is described: DescribeAssociation is granted only on associations that carry the
 * deployment's tag, and one that no longer exists has none, so describing it by a recorded id would be
 * refused (AccessDeniedException) rather than answered AssociationDoesNotExist.
 */
async function findAssociation(ssm: SSMClient, name: string): Promise<AssociationDescription | undefined> {
  const id = await associationIdByName(ssm, name);
  if (!id) return undefined;
  try {
    const { AssociationDescription: description } = await ssm.send(
      new DescribeAssociationCommand({ AssociationId: id }),
    );
    if (description?.AssociationName === name) return description;
  } catch (error) {
    // Deleted since it was listed.
    if ((error as Error).name !== 'AssociationDoesNotExist') throw error;
  }
  return undefined;
}

async function associationIdByName(ssm: SSMClient, name: string): Promise<string | undefined> {
  let NextToken: string | undefined;
  do {
    const page = await ssm.send(
      new ListAssociationsCommand({
        AssociationFilterList: [{ key: 'AssociationName', value: name }],
        MaxResults: 50,
        NextToken,
      }),
    );
    // The filter may match more loosely than equality: only the exact name counts.
    const match = page.Associations?.find((association) => association.AssociationName === name);
    if (match?.AssociationId) return match.AssociationId;
    NextToken = page.NextToken;
  } while (NextToken);
  return undefined;
}

function sameAssociation(current: AssociationDescription, desired: DesiredAssociation): boolean {
  const normalisedTargets = (targets: { Key?: string; Values?: string[] }[] | undefined) =>
    JSON.stringify((targets ?? []).map((target) => [target.Key, target.Values ?? []]));
  const sortedParameters = (parameters: Record<string, string[]> | undefined) =>
    JSON.stringify(Object.entries(parameters ?? {}).sort(([a], [b]) => a.localeCompare(b)));
  return (
    current.Name === desired.Name &&
    current.DocumentVersion === desired.DocumentVersion &&
    normalisedTargets(current.Targets) === normalisedTargets(desired.Targets) &&
    sortedParameters(current.Parameters) === sortedParameters(desired.Parameters) &&
    current.ScheduleExpression === desired.ScheduleExpression &&
    current.MaxConcurrency === desired.MaxConcurrency &&
    current.MaxErrors === desired.MaxErrors &&
    current.ComplianceSeverity === desired.ComplianceSeverity &&
    current.SyncCompliance === desired.SyncCompliance &&
    (current.ApplyOnlyAtCronInterval ?? false) === desired.ApplyOnlyAtCronInterval
  );
}

/** The environment variables the stack gives the functions that manage associations. */
export const CONVERGENCE_ENV = {
  schedule: 'CONVERGENCE_SCHEDULE',
  maxConcurrency: 'CONVERGENCE_MAX_CONCURRENCY',
  maxErrors: 'CONVERGENCE_MAX_ERRORS',
  complianceSeverity: 'CONVERGENCE_COMPLIANCE_SEVERITY',
  deploymentTagValue: 'DEPLOYMENT_TAG_VALUE',
} as const;

/** The tag key every association of a deployment carries (its value is the stack name). */
export const DEPLOYMENT_TAG_KEY = 'cert-lifecycle:deployment';

export function convergenceSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ConvergenceSettings {
  const read = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`environment variable ${name} is not set`);
    return value;
  };
  return {
    schedule: read(CONVERGENCE_ENV.schedule),
    maxConcurrency: read(CONVERGENCE_ENV.maxConcurrency),
    maxErrors: read(CONVERGENCE_ENV.maxErrors),
    complianceSeverity: read(CONVERGENCE_ENV.complianceSeverity) as AssociationComplianceSeverity,
    deploymentTag: { key: DEPLOYMENT_TAG_KEY, value: read(CONVERGENCE_ENV.deploymentTagValue) },
  };
}

/** The settings of the targets' associations from the environment the stack gives the functions. */
export function targetAssociationSettingsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): TargetAssociationSettings {
  const documentName = env.INSTALL_DOCUMENT_NAME;
  const region = env.AWS_REGION;
  if (!documentName || !region)
    throw new Error('environment variable INSTALL_DOCUMENT_NAME or AWS_REGION is not set');
  return {
    ...convergenceSettingsFromEnv(env),
    documentName,
    region,
    profiles: installProfilesFromEnv(env),
  };
}
