import {
  type CommandFilter,
  SendCommandCommand,
  type SSMClient,
  paginateListCommands,
} from '@aws-sdk/client-ssm';
import { createHash } from 'node:crypto';
import { InstallCommandRejectedError } from '../shared/errors.js';
import {
  hostParameters,
  type InstallParameterName,
  type InstallProfiles,
  profileSettings,
} from '../shared/install-parameters.js';
import {
  type ExportRequest,
  type TargetLocation,
  locationOf,
  tagKeyValue,
  requestFieldsOf,
  validatedRequest,
} from '../shared/export-request.js';
import {
  type CompletionDependencies,
  type InstallWait,
  completeIfFinished,
  registerWait,
} from '../shared/install-wait.js';
import { logger } from '../shared/logger.js';
import {
  type ConvergenceSettings,
  type EnsuredAssociation,
  type TargetSyncDependencies,
  syncTargetAssociation,
  targetOf,
} from '../shared/target-association.js';
import {
  type CertificateMapping,
  FINAL_INSTALL_STATUSES,
  getMapping,
  recordExport,
} from '../shared/mapping-store.js';
import type { ExportedCertificate, InstallCommand } from '../shared/workflow-state.js';

/** How the install command is sent: the document and the rollout limits from configuration. */
export interface InstallCommandSettings {
  readonly documentName: string;
  readonly maxConcurrency: string;
  readonly maxErrors: string;
  /** Seconds a command may wait for delivery before it is given up on an instance. */
  readonly deliveryTimeoutSeconds: number;
  readonly region: string;
  /** Where and how each kind of host installs the files, by profile name. */
  readonly profiles: InstallProfiles;
}

export interface RecordAndInstallDependencies extends CompletionDependencies {
  /**
   * For the association calls. In production a client that sends each request once (`maxAttempts: 1`):
   * CreateAssociation has no idempotency token, so the SDK's own retry after a lost answer would make
   * a second association; the step's retry finds the first by its name instead.
   */
  readonly stateManager: SSMClient;
  /**
   * Sends the install command, once per call for the same reason (SendCommand takes no idempotency
   * token): a lost answer fails the step, whose retry finds the command by this execution's mark.
   * Defaults to `ssm`.
   */
  readonly commandSender?: SSMClient;
  readonly command: InstallCommandSettings;
  readonly convergence: ConvergenceSettings;
  /**
   * For a mapping in another account or Region: the same three clients, acting through the member
   * stack's role there (SSM acts only in its caller's account and Region).
   */
  readonly clientsAt?: (location: TargetLocation) => SsmClients;
  /** How long the execution waits for the command before reporting it as timed out. */
  readonly maxWaitSeconds: number;
}

export interface RecordAndInstallInput extends ExportRequest {
  readonly export: ExportedCertificate;
  readonly executionArn: string;
  /** When the execution started: an earlier attempt's command is looked for among those sent since. */
  readonly executionStartedAt?: string;
  /** The execution's task token: the step ends when the command's outcome is sent back with it. */
  readonly taskToken: string;
}

/** A wait nobody completed is deleted by DynamoDB's TTL this long after its deadline. */
const WAIT_RETENTION_SECONDS = 86_400;

/** SSM's ceiling on a command comment. */
const MAX_COMMENT_LENGTH = 100;

/** SSM errors that mean the command itself is wrong, so retrying it cannot help. */
const REJECTED_COMMAND_ERRORS = new Set([
  'InvalidDocument',
  'InvalidDocumentVersion',
  'InvalidParameters',
  'InvalidRole',
  'InvalidOutputFolder',
  'InvalidNotificationConfig',
  'UnsupportedPlatformType',
  'MaxDocumentSizeExceeded',
  'DuplicateInstanceId',
  // The association's own: a quota reached or a schedule SSM does not accept.
  'AssociationLimitExceeded',
  'InstallCommandRejectedError',
  'InvalidSchedule',
  'InvalidTarget',
]);

/**
 * The parameters the install command receives: names and settings only (the list of one secret, as a
 * target's association lists all of its own). The host reads the key material from the secret itself,
 * with its own role; nothing secret is ever a command parameter (SSM echoes parameters into events and
 * the console).
 */
export function installParameters(
  input: {
    readonly export: Pick<ExportedCertificate, 'secretId'> & Partial<Pick<ExportedCertificate, 'profile'>>;
  },
  settings: InstallCommandSettings,
): Record<string, string[]> & Partial<Record<InstallParameterName, string[]>> {
  return {
    Certificates: [input.export.secretId],
    Region: [settings.region],
    ...hostParameters(profileSettings(settings.profiles, input.export.profile)),
  };
}

/**
 * Adds the certificate to its target's association (created with a target's first certificate, updated
 * when its list or settings change), sends the install document to every managed instance carrying the
 * target tag now, and records the mapping with both ids. The command is what this export reports on,
 * host by host; the association brings every other node the tag selects, now or later, to the same
 * certificate. The mapping is recorded even when SSM rejects either, so renewals still reach this target
 * once the cause is fixed.
 */
export async function recordAndInstall(
  input: RecordAndInstallInput,
  given: RecordAndInstallDependencies,
): Promise<InstallCommand> {
  // Where the hosts are: the export step's checked location (the workflow passes the request's four
  // fields by name, and the export on whole).
  const request = validatedRequest({ ...requestFieldsOf(input), ...input.export.location });
  const deps = atLocation(given, locationOf(request));
  const record = {
    profile: input.export.profile,
    expiresAt: input.export.notAfter,
    exportedAt: input.export.exportedAt,
    secretId: input.export.secretId,
    serial: input.export.serial,
    executionArn: input.executionArn,
  };
  const target = targetOf({ ...request, profile: input.export.profile });
  const targets = targetSyncDependencies(given);

  let association: EnsuredAssociation;
  let existing: CertificateMapping | undefined;
  let command: SentCommand;
  try {
    existing = await getMapping(deps.db, deps.tableName, request);
    const synced = await syncTargetAssociation(targets, target, { include: input.export.secretId });
    if (!('associationId' in synced)) throw new Error('the target association lists no certificate');
    association = synced;
    // A retry of this step (a lost response, a failed write after the send) must not send the install
    // again: it takes the command an earlier attempt of the same execution sent, if there is one.
    command =
      (await earlierCommand(input, existing, deps)) ??
      (await sendInstallCommand(input, deps.commandSender ?? deps.ssm, deps.command));
  } catch (error) {
    if (!REJECTED_COMMAND_ERRORS.has((error as Error).name)) throw error;
    await recordExport(deps.db, deps.tableName, request, { ...record, installStatus: 'CommandRejected' });
    throw new InstallCommandRejectedError(
      error instanceof InstallCommandRejectedError
        ? error.message
        : `SSM rejected the install (${(error as Error).name}): ${(error as Error).message}`,
    );
  }

  // A retry that finds the command's outcome already recorded (its end was seen before this attempt)
  // leaves it: CommandSent would take back a final status.
  const alreadyFinal =
    existing?.LastCommandId === command.commandId &&
    FINAL_INSTALL_STATUSES.has(existing.LastInstallStatus ?? '');
  const recorded =
    alreadyFinal ||
    (await recordExport(deps.db, deps.tableName, request, {
      ...record,
      commandId: command.commandId,
      association: { id: association.associationId, name: association.associationName },
      installStatus: 'CommandSent',
    }));
  if (!recorded) {
    logger.warn('a later export of this mapping is already recorded; keeping it', {
      mapping: tagKeyValue(request),
      certificateArn: request.CertificateArn,
    });
  }
  logger.info('association in step', { ...association });
  // Now that the table holds this mapping, the target's association is read against it again: an export
  // to the same target that synced at the same moment cannot have left this certificate out. A mapping
  // that moved to another profile leaves its former target's association too.
  await syncTargetAssociation(targets, target);
  const former = existing && targetOf(existing);
  if (former && former.profile !== target.profile) await syncTargetAssociation(targets, former);

  const sentAt = new Date(command.requestedAt);
  const deadline = new Date(sentAt.getTime() + deps.maxWaitSeconds * 1000);
  const wait: InstallWait = {
    ...request,
    CommandId: command.commandId,
    TaskToken: input.taskToken,
    ExecutionArn: input.executionArn,
    AssociationId: association.associationId,
    AssociationChange: association.change,
    SecretId: input.export.secretId,
    SentAt: sentAt.toISOString(),
    Deadline: deadline.toISOString(),
    ExpiresAt: Math.ceil(deadline.getTime() / 1000) + WAIT_RETENTION_SECONDS,
  };
  await registerWait(deps.waits, wait);
  // A command that ended before the wait was registered (no node carries the tag, say) sent its event
  // to nobody: look once now, so the execution does not wait for the sweep. Only a look: if it fails,
  // the event or the sweep still completes the wait, and the command is not sent again by a retry.
  try {
    await completeIfFinished(command.commandId, deps, wait);
  } catch (error) {
    logger.warn('could not look at the command just sent; its event or the sweep will', {
      commandId: command.commandId,
      error: (error as Error).name,
    });
  }
  return { ...command, associationId: association.associationId, associationChange: association.change };
}

type SentCommand = Omit<InstallCommand, 'associationId' | 'associationChange'>;

export type SsmClients = Pick<RecordAndInstallDependencies, 'ssm' | 'stateManager' | 'commandSender'>;

/** The dependencies with the SSM clients of the mapping's location. */
function atLocation(
  deps: RecordAndInstallDependencies,
  location: TargetLocation | undefined,
): RecordAndInstallDependencies {
  if (!location) return deps;
  if (!deps.clientsAt) throw new Error('no way to reach SSM in another account was given');
  const { clientsAt } = deps;
  // The wait's look at the command reads it where it ran (completeIfFinished, by the wait's location).
  return { ...deps, ...clientsAt(location), ssmAt: (at) => clientsAt(at).ssm };
}

function targetSyncDependencies(deps: RecordAndInstallDependencies): TargetSyncDependencies {
  return {
    stateManager: deps.stateManager,
    ...(deps.clientsAt ? { stateManagerAt: (location) => deps.clientsAt!(location).stateManager } : {}),
    db: deps.db,
    tableName: deps.tableName,
    settings: {
      ...deps.convergence,
      documentName: deps.command.documentName,
      region: deps.command.region,
      profiles: deps.command.profiles,
    },
  };
}

/** The mark an install command's comment carries of the execution that sent it. */
export function executionMark(executionArn: string): string {
  return `run ${createHash('sha256').update(executionArn).digest('hex').slice(0, 16)}`;
}

/**
 * The install command an earlier attempt of this execution sent: the one its mapping records, or else
 * the one among this document's commands since the execution started whose comment carries its mark.
 */
async function earlierCommand(
  input: RecordAndInstallInput,
  mapping: CertificateMapping | undefined,
  deps: RecordAndInstallDependencies,
): Promise<SentCommand | undefined> {
  const mark = executionMark(input.executionArn);
  const filters: CommandFilter[] = [{ key: 'DocumentName', value: deps.command.documentName }];
  // SSM takes whole seconds here (2026-12-01T10:00:00Z): the second the execution started in.
  if (input.executionStartedAt)
    filters.push({ key: 'InvokedAfter', value: `${input.executionStartedAt.slice(0, 19)}Z` });
  const recorded = mapping?.LastExecutionArn === input.executionArn ? mapping.LastCommandId : undefined;
  const pages = paginateListCommands(
    { client: deps.ssm, pageSize: 50 },
    recorded ? { CommandId: recorded } : { Filters: filters },
  );
  for await (const page of pages) {
    const found = (page.Commands ?? []).find(
      (command) => command.CommandId === recorded || (!recorded && command.Comment?.endsWith(mark)),
    );
    if (found?.CommandId) {
      logger.info('install command already sent by an earlier attempt; following it', {
        commandId: found.CommandId,
      });
      return {
        commandId: found.CommandId,
        documentName: deps.command.documentName,
        requestedAt: (found.RequestedDateTime ?? new Date()).toISOString(),
      };
    }
  }
  return undefined;
}

async function sendInstallCommand(
  input: RecordAndInstallInput,
  ssm: SSMClient,
  settings: InstallCommandSettings,
): Promise<SentCommand> {
  const response = await ssm.send(
    new SendCommandCommand({
      DocumentName: settings.documentName,
      DocumentVersion: '$LATEST',
      Targets: [{ Key: `tag:${input.TargetTagKey}`, Values: [input.TargetTagValue] }],
      Parameters: installParameters(input, settings),
      MaxConcurrency: settings.maxConcurrency,
      MaxErrors: settings.maxErrors,
      TimeoutSeconds: settings.deliveryTimeoutSeconds,
      Comment: `${`Install ${input.CertName} serial ${input.export.serial}`.slice(0, MAX_COMMENT_LENGTH - 21)} ${executionMark(input.executionArn)}`,
    }),
  );
  const commandId = response.Command?.CommandId;
  if (!commandId) throw new Error('SSM accepted the install command but returned no command id');
  return {
    commandId,
    documentName: settings.documentName,
    requestedAt: (response.Command?.RequestedDateTime ?? new Date()).toISOString(),
  };
}
