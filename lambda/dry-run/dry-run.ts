import type { ACMClient } from '@aws-sdk/client-acm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  type InstanceInformation,
  type SSMClient,
  paginateDescribeInstanceInformation,
} from '@aws-sdk/client-ssm';
import { assertTagGranted, exportableCertificate } from '../export-certificate/export-certificate.js';
import { EXPLAINED_ERROR_NAMES } from '../shared/errors.js';
import { type TargetLocation, locationOf, profileOf, validatedRequest } from '../shared/export-request.js';
import { describeTarget } from '../shared/target-association.js';
import {
  type TargetLocationPolicy,
  clientFor,
  locationProblems,
  ownPlaceOnly,
} from '../shared/target-location.js';
import {
  type HostInstallSettings,
  type InstallProfiles,
  profileSettings,
} from '../shared/install-parameters.js';
import { type CertificateMapping, getMapping } from '../shared/mapping-store.js';
import {
  type CollectDependencies,
  type HostAnswer,
  type HostCheckCommand,
  MOST_HOSTS_CHECKED,
  collectHostAnswers,
  sendHostCheck,
} from './host-check.js';

/** The install document reads its parameters as environment variables, which needs this agent or later. */
export const MINIMUM_AGENT_VERSION = '3.3.2746.0';

export interface DryRunDependencies {
  readonly acm: ACMClient;
  readonly ssm: SSMClient;
  readonly region: string;
  readonly accountId: string;
  readonly partition: string;
  readonly grantedTagKeys: readonly string[];
  readonly profiles: InstallProfiles;
  /** Where the dry run finds whether the mapping exists (then its hosts rehearse against its secret). */
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The dry run's document, sent to the ready hosts. */
  readonly documentName: string;
  readonly now?: () => Date;
  /** Where a mapping's hosts may be besides this account and Region. @default nowhere else */
  readonly locations?: TargetLocationPolicy;
  /** SSM in a member account and Region, and the check that the member stack there answers. */
  readonly ssmAt?: (location: TargetLocation) => SSMClient;
  readonly assertReachable?: (location: TargetLocation) => Promise<void>;
}

export interface TargetInstance {
  readonly instanceId: string;
  readonly pingStatus?: string;
  readonly platform?: string;
  readonly agentVersion?: string;
  /** Linux or Windows: which step of the install document the host runs. */
  readonly platformType?: string;
  /** Windows: what the host's own check cannot tell here (the Windows step's needs are the README's). */
  readonly windowsNeeds?: string;
  /** Online, Linux or Windows Server 2019 or later, and an agent new enough for the install document. */
  readonly ready: boolean;
  readonly notReadyBecause?: string;
  /** What the host said of itself when the dry run's document ran there. */
  readonly host?: HostAnswer;
}

export interface DryRunReport {
  readonly dryRun: true;
  readonly certificateArn: string;
  readonly target: string;
  readonly exportable: boolean;
  readonly notExportableBecause?: string;
  /** Why hosts could not read the secret by this tag, when they could not. */
  readonly tagNotGrantedBecause?: string;
  /** Why the mapping's account and Region cannot be installed in, when they cannot. */
  readonly locationNotReadyBecause?: string;
  /** The install profile the export would use, and why it could not, when it names none that exists. */
  readonly profile: string;
  readonly unknownProfileBecause?: string;
  readonly instances: TargetInstance[];
  /** The dry run's document on the ready hosts: sent when the tag and profile allow it. */
  readonly hostCheck?: HostCheckCommand;
  /** True when a real export would be expected to install on every instance. */
  readonly ready: boolean;
}

/**
 * What an export would do, without doing it: whether the certificate can be exported, which managed
 * instances the tag selects (online or not, platform, agent version), and, sent to those that are ready,
 * the dry run's document (`collectDryRun` reads its answers). Nothing is exported, no secret is created
 * and nothing is written on a host.
 */
export async function dryRun(input: unknown, deps: DryRunDependencies): Promise<DryRunReport> {
  const request = validatedRequest(input);
  let notExportableBecause: string | undefined;
  try {
    await exportableCertificate(request.CertificateArn, deps);
  } catch (error) {
    if (!(EXPLAINED_ERROR_NAMES as readonly string[]).includes((error as Error).name)) throw error;
    notExportableBecause = (error as Error).message;
  }
  let tagNotGrantedBecause: string | undefined;
  try {
    assertTagGranted(request.TargetTagKey, deps.grantedTagKeys);
  } catch (error) {
    tagNotGrantedBecause = (error as Error).message;
  }
  const profile = profileOf(input);
  let unknownProfileBecause: string | undefined;
  try {
    profileSettings(deps.profiles, profile);
  } catch (error) {
    unknownProfileBecause = (error as Error).message;
  }
  const location = locationOf(request);
  const locationNotReadyBecause = location ? await locationNotReady(location, deps) : undefined;
  const ssm = clientFor(deps.ssm, deps.ssmAt, location);
  const instances =
    locationNotReadyBecause === undefined
      ? (await taggedInstances(ssm, request.TargetTagKey, request.TargetTagValue)).map(describeInstance)
      : [];
  // The host's own check is a Linux script; a Windows node is judged by what SSM knows of it.
  const readyIds = instances
    .filter((instance) => instance.ready && instance.platformType !== 'Windows')
    .map((instance) => instance.instanceId);
  let hostCheck: HostCheckCommand | undefined;
  if (
    readyIds.length > 0 &&
    tagNotGrantedBecause === undefined &&
    unknownProfileBecause === undefined &&
    locationNotReadyBecause === undefined
  ) {
    const mapping: CertificateMapping | undefined = await getMapping(deps.db, deps.tableName, request);
    const settings: HostInstallSettings = profileSettings(deps.profiles, profile);
    // In a member account, through the member role there (the member stack holds the same document).
    hostCheck = await sendHostCheck(request, settings, mapping, readyIds, { ...deps, ssm });
  }
  return {
    dryRun: true,
    certificateArn: request.CertificateArn,
    target: describeTarget(request),
    exportable: notExportableBecause === undefined,
    ...(notExportableBecause ? { notExportableBecause } : {}),
    ...(tagNotGrantedBecause ? { tagNotGrantedBecause } : {}),
    ...(locationNotReadyBecause ? { locationNotReadyBecause } : {}),
    profile,
    ...(unknownProfileBecause ? { unknownProfileBecause } : {}),
    instances,
    ...(hostCheck ? { hostCheck } : {}),
    ready:
      notExportableBecause === undefined &&
      tagNotGrantedBecause === undefined &&
      unknownProfileBecause === undefined &&
      locationNotReadyBecause === undefined &&
      instances.length > 0 &&
      instances.every((instance) => instance.ready),
  };
}

/** Why a mapping's account and Region cannot be installed in: not allowed, or no member stack answering. */
async function locationNotReady(
  location: TargetLocation,
  deps: DryRunDependencies,
): Promise<string | undefined> {
  const problems = locationProblems(
    location,
    deps.locations ?? ownPlaceOnly({ account: deps.accountId, region: deps.region }),
  );
  if (problems.length > 0) return problems.join('; ');
  try {
    await deps.assertReachable?.(location);
  } catch (error) {
    if ((error as Error).name !== 'TargetNotReachableError') throw error;
    return (error as Error).message;
  }
  return undefined;
}

/** A dry run whose hosts have been sent the check: `collectDryRun` reads their answers. */
export function awaitsHosts(input: unknown): input is DryRunReport & { hostCheck: HostCheckCommand } {
  const report = input as Partial<DryRunReport> | null;
  return report?.dryRun === true && report.hostCheck?.pending === true;
}

/**
 * The report with each checked host's answer, once every host has answered or the wait is over (until
 * then, the same report, still pending). The dry run is ready only when every host is.
 */
export async function collectDryRun(
  report: DryRunReport & { hostCheck: HostCheckCommand },
  deps: CollectDependencies,
): Promise<DryRunReport> {
  const answers = await collectHostAnswers(report.hostCheck, deps);
  if (!answers) return report;
  const instances = report.instances.map((instance) => {
    const host = answers.get(instance.instanceId);
    if (!instance.ready || instance.platformType === 'Windows') return instance;
    if (!host) {
      const notReadyBecause = report.hostCheck.instanceIds.includes(instance.instanceId)
        ? 'no answer: SSM has no run of the dry run on this host'
        : `not checked: a dry run looks at the first ${MOST_HOSTS_CHECKED} ready hosts`;
      return { ...instance, ready: false, notReadyBecause };
    }
    const problems = host.checks.filter((check) => check.verdict === 'problem').map((check) => check.words);
    const because =
      host.status === 'ready' ? undefined : [host.error, ...problems].filter(Boolean).join('; ');
    return {
      ...instance,
      host,
      ready: host.status === 'ready',
      ...(because !== undefined ? { notReadyBecause: because || `the host answered ${host.status}` } : {}),
    };
  });
  return {
    ...report,
    instances,
    hostCheck: { ...report.hostCheck, pending: false },
    ready: report.ready && instances.every((instance) => instance.ready),
  };
}

async function taggedInstances(ssm: SSMClient, key: string, value: string): Promise<InstanceInformation[]> {
  const instances: InstanceInformation[] = [];
  const pages = paginateDescribeInstanceInformation(
    { client: ssm, pageSize: 50 },
    { Filters: [{ Key: `tag:${key}`, Values: [value] }] },
  );
  for await (const page of pages) instances.push(...(page.InstanceInformationList ?? []));
  return instances;
}

export function describeInstance(info: InstanceInformation): TargetInstance {
  const problems = [
    info.PingStatus !== 'Online' ? `agent is ${info.PingStatus ?? 'not reporting'}` : undefined,
    info.PlatformType !== 'Linux' && info.PlatformType !== 'Windows'
      ? `platform is ${info.PlatformType ?? 'unknown'}, neither Linux nor Windows`
      : undefined,
    info.PlatformType === 'Windows' && compareVersions(info.PlatformVersion ?? '0', WINDOWS_SERVER_2019) < 0
      ? `Windows ${info.PlatformVersion ?? 'version unknown'} is older than Windows Server 2019 (${WINDOWS_SERVER_2019}), which the keystore's AES-256 protection needs`
      : undefined,
    !info.AgentVersion || compareVersions(info.AgentVersion, MINIMUM_AGENT_VERSION) < 0
      ? `SSM Agent ${info.AgentVersion ?? 'version unknown'} is older than ${MINIMUM_AGENT_VERSION}`
      : undefined,
  ].filter((problem): problem is string => problem !== undefined);
  return {
    instanceId: info.InstanceId ?? 'unknown',
    pingStatus: info.PingStatus,
    platform: [info.PlatformName, info.PlatformVersion].filter(Boolean).join(' ') || info.PlatformType,
    agentVersion: info.AgentVersion,
    ...(info.PlatformType ? { platformType: info.PlatformType } : {}),
    ...(info.PlatformType === 'Windows' ? { windowsNeeds: WINDOWS_NEEDS } : {}),
    ready: problems.length === 0,
    ...(problems.length > 0 ? { notReadyBecause: problems.join('; ') } : {}),
  };
}

/** Windows Server 2019's version: the first to import a PKCS #12 keystore protected with AES-256. */
export const WINDOWS_SERVER_2019 = '10.0.17763';
const WINDOWS_NEEDS =
  'not checked on the host: AWS Tools for PowerShell or the AWS CLI v2, the WebAdministration module for IIS bindings, and each named binding existing (README, "Windows hosts")';

/** Compares dotted version numbers numerically ("3.3.10" is later than "3.3.9"). */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i += 1) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}
