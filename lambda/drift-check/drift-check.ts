import { SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { type DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { settleWithConcurrency } from '../shared/concurrency.js';
import { logger } from '../shared/logger.js';
import {
  type HostInstallSettings,
  hostParameters,
  type InstallProfiles,
  profileSettings,
} from '../shared/install-parameters.js';
import type { CertificateMapping } from '../shared/mapping-store.js';
import { type TargetLocation, locationOf } from '../shared/export-request.js';
import { clientFor } from '../shared/target-location.js';

export interface DriftCheckDependencies {
  readonly ssm: SSMClient;
  /** SSM in the member account and Region of a mapping that names one. */
  readonly ssmAt?: (location: TargetLocation) => SSMClient;
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The read-only check document. */
  readonly documentName: string;
  /** Where each profile's hosts keep the certificates: each mapping's recorded profile says which. */
  readonly profiles: InstallProfiles;
}

export interface DriftCheckOutcome {
  readonly mappings: number;
  readonly commands: string[];
  readonly failed: number;
}

/**
 * The check document's parameters: where the certificate is, who besides root may own the directories
 * on the way (the host refuses any other), and the endpoint that should serve it.
 */
export function checkParameters(
  mapping: CertificateMapping,
  host: HostInstallSettings,
): Record<string, string[]> {
  // The endpoint settings go as the install sends them (an empty one not at all).
  const { VerifyEndpoint, VerifyServerName, IisBindings, HttpSysBindings } = hostParameters(host);
  return {
    CertName: [mapping.CertName],
    CertDirectory: [host.certDirectory],
    FileOwner: [host.fileOwner],
    CertificateArn: [mapping.CertificateArn],
    ...(VerifyEndpoint ? { VerifyEndpoint } : {}),
    ...(VerifyServerName ? { VerifyServerName } : {}),
    // Windows nodes report the thumbprint each of the profile's bindings points at.
    ...(IisBindings ? { IisBindings } : {}),
    ...(HttpSysBindings ? { HttpSysBindings } : {}),
  };
}

/**
 * Asks every mapped host which certificate it has: one read-only command per mapping, to the instances
 * with its tag. Their answers arrive later (the command's status-change event) and are compared then.
 */
export async function startDriftChecks(deps: DriftCheckDependencies): Promise<DriftCheckOutcome> {
  const mappings: CertificateMapping[] = [];
  for await (const page of paginateScan({ client: deps.db }, { TableName: deps.tableName })) {
    mappings.push(...((page.Items ?? []) as CertificateMapping[]));
  }
  const results = await settleWithConcurrency(mappings, 5, async (mapping) => {
    const ssm = clientFor(deps.ssm, deps.ssmAt, locationOf(mapping));
    const response = await ssm.send(
      new SendCommandCommand({
        DocumentName: deps.documentName,
        DocumentVersion: '$LATEST',
        Targets: [{ Key: `tag:${mapping.TargetTagKey}`, Values: [mapping.TargetTagValue] }],
        Parameters: checkParameters(mapping, profileSettings(deps.profiles, mapping.Profile)),
        MaxConcurrency: '50%',
        MaxErrors: '100%',
        TimeoutSeconds: 600,
        Comment: `Drift check of ${mapping.CertName}`.slice(0, 100),
      }),
    );
    return response.Command?.CommandId ?? '';
  });
  const commands = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = results.length - commands.length;
  results.forEach((result, index) => {
    if (result.status === 'rejected') {
      logger.error('drift check not sent', {
        mapping: mappings[index]!.TagKeyValue,
        certificateArn: mappings[index]!.CertificateArn,
        error: (result.reason as Error).name,
      });
    }
  });
  return { mappings: mappings.length, commands, failed };
}
