import { SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InstallCommandRejectedError } from '../shared/errors.js';
import type { HostInstallSettings, InstallParameterName } from '../shared/install-parameters.js';
import {
  type ExportRequest,
  tagKeyValue,
  requestFieldsOf,
  validatedRequest,
} from '../shared/export-request.js';
import { logger } from '../shared/logger.js';
import { recordExport } from '../shared/mapping-store.js';
import type { ExportedCertificate, InstallCommand } from '../shared/workflow-state.js';

/** How the install command is sent: the document and the rollout limits from configuration. */
export interface InstallCommandSettings {
  readonly documentName: string;
  readonly maxConcurrency: string;
  readonly maxErrors: string;
  /** Seconds a command may wait for delivery before it is given up on an instance. */
  readonly deliveryTimeoutSeconds: number;
  readonly region: string;
  /** Where and how the hosts install the files. */
  readonly host: HostInstallSettings;
}

export interface RecordAndInstallDependencies {
  readonly ssm: SSMClient;
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly command: InstallCommandSettings;
}

export interface RecordAndInstallInput extends ExportRequest {
  readonly export: ExportedCertificate;
  readonly executionArn: string;
}

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
]);

/**
 * The parameters the install document receives: names and settings only. The host reads the key
 * material from the secret itself, with its own role; nothing secret is ever a command parameter (SSM
 * echoes parameters into events and the console).
 */
export function installParameters(
  input: RecordAndInstallInput,
  settings: InstallCommandSettings,
): Partial<Record<InstallParameterName, string[]>> {
  const { host } = settings;
  return {
    CertName: [input.CertName],
    SecretId: [input.export.secretId],
    Region: [settings.region],
    CertDirectory: [host.certDirectory],
    KeyDirectory: [host.keyDirectory],
    FileOwner: [host.fileOwner],
    FileGroup: [host.fileGroup],
    // The document's default (no reload) applies when none is configured.
    ...(host.reloadCommand ? { ReloadCommand: [host.reloadCommand] } : {}),
  };
}

/**
 * Sends the install document to every managed instance carrying the target tag, then records the mapping
 * with the command's id. The mapping is recorded even when SSM rejects the command, so renewals still
 * reach this target once the cause is fixed.
 */
export async function recordAndInstall(
  input: RecordAndInstallInput,
  deps: RecordAndInstallDependencies,
): Promise<InstallCommand> {
  const request = validatedRequest(requestFieldsOf(input));
  const record = {
    expiresAt: input.export.notAfter,
    exportedAt: input.export.exportedAt,
    secretId: input.export.secretId,
    serial: input.export.serial,
    executionArn: input.executionArn,
  };

  let command;
  try {
    command = await sendInstallCommand(input, deps.ssm, deps.command);
  } catch (error) {
    if (!REJECTED_COMMAND_ERRORS.has((error as Error).name)) throw error;
    await recordExport(deps.db, deps.tableName, request, { ...record, installStatus: 'CommandRejected' });
    throw new InstallCommandRejectedError(
      `SSM rejected the install command (${(error as Error).name}): ${(error as Error).message}`,
    );
  }

  const recorded = await recordExport(deps.db, deps.tableName, request, {
    ...record,
    commandId: command.commandId,
    installStatus: 'CommandSent',
  });
  if (!recorded) {
    logger.warn('a later export of this mapping is already recorded; keeping it', {
      mapping: tagKeyValue(request),
      certificateArn: request.CertificateArn,
    });
  }
  return command;
}

async function sendInstallCommand(
  input: RecordAndInstallInput,
  ssm: SSMClient,
  settings: InstallCommandSettings,
): Promise<InstallCommand> {
  const response = await ssm.send(
    new SendCommandCommand({
      DocumentName: settings.documentName,
      DocumentVersion: '$LATEST',
      Targets: [{ Key: `tag:${input.TargetTagKey}`, Values: [input.TargetTagValue] }],
      Parameters: installParameters(input, settings),
      MaxConcurrency: settings.maxConcurrency,
      MaxErrors: settings.maxErrors,
      TimeoutSeconds: settings.deliveryTimeoutSeconds,
      Comment: `Install ${input.CertName} serial ${input.export.serial}`.slice(0, MAX_COMMENT_LENGTH),
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
