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
import { createHash } from 'node:crypto';
import { type ExportRequest, mappingId } from './export-request.js';

/**
 * Each mapping's State Manager association: the install document bound to the mapping's tag on a
 * schedule, so every node that carries the tag (now or later, online now or back next week, intact or
 * with its files deleted) converges to the secret's current certificate without anyone re-running an
 * export. The export workflow creates it on a mapping's first export and keeps it in step afterwards.
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
 * The association's name: deterministic per deployment and mapping, readable in the console
 * (`<install document>.<CertName>.<mapping id>`, the id being the one in the mapping's secret name).
 * A document name too long to leave room is cut and suffixed with a hash of itself, so two deployments
 * never share a name.
 */
export function associationName(documentName: string, request: ExportRequest): string {
  const prefix =
    documentName.length <= LONGEST_PREFIX
      ? documentName
      : `${documentName.slice(0, LONGEST_PREFIX - 9)}-${createHash('sha256').update(documentName).digest('hex').slice(0, 8)}`;
  const name = `${prefix}.${request.CertName}.${mappingId(request)}`;
  if (!ASSOCIATION_NAME.test(name)) throw new Error(`not a valid association name: ${name}`);
  return name;
}

/** Everything an association of a mapping says, as CreateAssociation and UpdateAssociation take it. */
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

export function desiredAssociation(
  request: ExportRequest,
  documentName: string,
  parameters: Record<string, string[]>,
  settings: ConvergenceSettings,
): DesiredAssociation {
  return {
    AssociationName: associationName(documentName, request),
    Name: documentName,
    // As the workflow's commands: a redeployed document reaches the hosts at their next run.
    DocumentVersion: '$LATEST',
    Targets: [{ Key: `tag:${request.TargetTagKey}`, Values: [request.TargetTagValue] }],
    Parameters: parameters,
    ScheduleExpression: settings.schedule,
    MaxConcurrency: settings.maxConcurrency,
    MaxErrors: settings.maxErrors,
    ComplianceSeverity: settings.complianceSeverity,
    SyncCompliance: 'AUTO',
    ApplyOnlyAtCronInterval: false,
  };
}

export type AssociationChange = 'created' | 'updated' | 'unchanged';

export interface EnsuredAssociation {
  readonly associationId: string;
  readonly associationName: string;
  /** Created and updated associations run at once on every node the tag selects. */
  readonly change: AssociationChange;
}

/**
 * Makes the mapping's association say what `desired` says, in as few calls as it takes: none changed
 * when it already does (no run is started), an update when anything differs, a creation when there is
 * none. Found by its deterministic name, so a retried step never creates a second one.
 */
export async function ensureAssociation(
  ssm: SSMClient,
  desired: DesiredAssociation,
  settings: Pick<ConvergenceSettings, 'deploymentTag'>,
): Promise<EnsuredAssociation> {
  const current = await findAssociation(ssm, desired.AssociationName);
  const named = { associationName: desired.AssociationName };
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
  await ssm.send(new UpdateAssociationCommand({ AssociationId: current.AssociationId, ...desired }));
  return { associationId: current.AssociationId, ...named, change: 'updated' };
}

/** Removes a mapping's association; true if there was one. */
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
