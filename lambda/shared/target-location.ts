import { DescribeDocumentCommand, SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { requiredEnv } from './env.js';
import { TargetNotReachableError } from './errors.js';
import { type TargetLocation, locationOf } from './export-request.js';

/**
 * Where a mapping's hosts may be, and how the central deployment reaches them: through the member
 * stack's role in the target account and Region (SSM acts only in its caller's account and Region).
 */
export interface TargetLocationPolicy {
  /** This deployment's account and Region: a request that names them is told to leave them out. */
  readonly home: { readonly account: string; readonly region: string };
  /** Account ids a mapping may name; `organization` for any account of the organization. */
  readonly accounts: readonly string[] | 'organization';
  /** Regions a mapping may name besides this deployment's. */
  readonly regions: readonly string[];
}

/**
 * The role the central deployment acts through in a member account and Region: the same name in every
 * account, one per Region (IAM names are global to an account, and the member stack may be in several).
 */
export const memberRoleName = (stackName: string, region: string): string => `${stackName}-Central-${region}`;

/** The member stack's policy for its hosts' roles: a fixed name, so every account's reads alike. */
export const memberHostPolicyName = (stackName: string, region: string): string =>
  `${stackName}-HostAccess-${region}`;

export function memberHostPolicyArn(location: TargetLocation, partition: string, stackName: string): string {
  return `arn:${partition}:iam::${location.TargetAccount}:policy/${memberHostPolicyName(stackName, location.TargetRegion)}`;
}

export function memberRoleArn(location: TargetLocation, partition: string, stackName: string): string {
  return `arn:${partition}:iam::${location.TargetAccount}:role/${memberRoleName(stackName, location.TargetRegion)}`;
}

/** Why a request's location may not be used, as sentences; empty when it may. */
export function locationProblems(request: Partial<TargetLocation>, policy: TargetLocationPolicy): string[] {
  const location = locationOf(request);
  if (!location) return [];
  const { TargetAccount: account, TargetRegion: region } = location;
  if (account === policy.home.account && region === policy.home.region) {
    return [
      "TargetAccount and TargetRegion name this deployment's own account and Region: leave both out for its hosts",
    ];
  }
  const problems: string[] = [];
  const accountAllowed =
    account === policy.home.account ||
    policy.accounts === 'organization' ||
    policy.accounts.includes(account);
  if (!accountAllowed) {
    problems.push(
      policy.accounts.length === 0
        ? `TargetAccount ${account} is not allowed: this deployment installs in its own account only (configure organizationId, and targetAccounts to name accounts)`
        : `TargetAccount ${account} is not allowed: this deployment installs in ${[policy.home.account, ...policy.accounts].join(', ')}`,
    );
  }
  if (region !== policy.home.region && !policy.regions.includes(region)) {
    problems.push(
      `TargetRegion ${region} is not allowed: this deployment installs in ${[policy.home.region, ...policy.regions].join(', ')} (configure targetRegions)`,
    );
  }
  return problems;
}

/** The policy from the environment the stack gives the functions that take requests. */
export function locationPolicyFromEnv(home: { account: string; region: string }): TargetLocationPolicy {
  const accounts = process.env.TARGET_ACCOUNTS ?? '';
  return {
    home,
    accounts: accounts === '*' ? 'organization' : splitList(accounts),
    regions: splitList(process.env.TARGET_REGIONS ?? ''),
  };
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}

/**
 * The client for a location: `home` for this deployment's own account and Region, else the one `at`
 * gives (through the member role there). A location with no way to reach it is a wiring bug: it throws
 * rather than act in the wrong account.
 */
export function clientFor<Client>(
  home: Client,
  at: ((location: TargetLocation) => Client) | undefined,
  location: TargetLocation | undefined,
): Client {
  if (!location) return home;
  if (!at) throw new Error('no way to reach another account and Region was given');
  return at(location);
}

/** Whether two items (mappings, events' origins) name the same place: both here, or the same account and Region. */
export function sameLocation(a: Partial<TargetLocation>, b: Partial<TargetLocation>): boolean {
  const [left, right] = [locationOf(a), locationOf(b)];
  return left?.TargetAccount === right?.TargetAccount && left?.TargetRegion === right?.TargetRegion;
}

/** The policy of a deployment that names no other place: its own account and Region only. */
export function ownPlaceOnly(home: TargetLocationPolicy['home']): TargetLocationPolicy {
  return { home, accounts: [], regions: [] };
}

/** The SSM client for a location: this deployment's own, or one acting through the member role there. */
export type SsmAt = (location: TargetLocation | undefined) => SSMClient;

/** What a member client is built with: the location's Region and the member role's credentials. */
export interface MemberClientSettings {
  readonly region: string;
  readonly credentials: ReturnType<typeof fromTemporaryCredentials>;
}

/**
 * Clients of one service for each location, kept for the function's lifetime: `home` for this
 * deployment's own, and for a member location one made by `make`, whose credentials assume the member
 * role there when first used and again before they expire. STS is asked in this deployment's own Region
 * (`sts` overrides its client settings, for tests).
 */
export function clientsAt<Client>(
  home: Client,
  make: (settings: MemberClientSettings) => Client,
  sts: Parameters<typeof fromTemporaryCredentials>[0]['clientConfig'] = {},
): (location: TargetLocation | undefined) => Client {
  const clients = new Map<string, Client>();
  return (location) => {
    if (!location) return home;
    const key = `${location.TargetAccount}/${location.TargetRegion}`;
    let client = clients.get(key);
    if (!client) {
      const stackName = requiredEnv('STACK_NAME');
      client = make({
        region: location.TargetRegion,
        credentials: fromTemporaryCredentials({
          params: {
            RoleArn: memberRoleArn(location, requiredEnv('PARTITION'), stackName),
            RoleSessionName: `${stackName}-${process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'central'}`.slice(0, 64),
            DurationSeconds: 900,
          },
          clientConfig: { region: process.env.AWS_REGION, ...sts },
        }),
      });
      clients.set(key, client);
    }
    return client;
  };
}

/** `clientsAt` for SSM, the service the central deployment mostly acts through. */
export function ssmClientsAt(
  home: SSMClient,
  config: SSMClientConfig = {},
  sts: Parameters<typeof fromTemporaryCredentials>[0]['clientConfig'] = {},
): SsmAt {
  return clientsAt(home, (settings) => new SSMClient({ ...config, ...settings }), sts);
}

/** The account and Region an ARN names (`arn:partition:service:region:account:…`). */
export function arnLocation(arn: string): TargetLocation {
  const [, , , TargetRegion = '', TargetAccount = ''] = arn.split(':');
  return { TargetAccount, TargetRegion };
}

/**
 * Proves the central deployment can act where a mapping's hosts are, before anything is exported for
 * them: the member role there can be assumed and the member stack's install document exists. Throws
 * TargetNotReachableError saying what to fix; passing failures are left to the step's retries.
 */
export async function assertReachable(
  ssm: SSMClient,
  location: TargetLocation,
  documentName: string,
): Promise<void> {
  const where = `account ${location.TargetAccount} in ${location.TargetRegion}`;
  try {
    await ssm.send(new DescribeDocumentCommand({ Name: documentName }));
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'InvalidDocument') {
      throw new TargetNotReachableError(
        `${where} has no document ${documentName}: deploy the member stack there (the StackSet's instances for that Region)`,
      );
    }
    if (REFUSED.has(name) || /AssumeRole/.test((error as Error).message)) {
      throw new TargetNotReachableError(
        `cannot act in ${where} (${name}): deploy the member stack there, in the organization this deployment names, so its role trusts this deployment`,
      );
    }
    throw error;
  }
}

/** `assertReachable` through `ssmAt`, for the install document `documentName`: what the handlers wire. */
export function memberStackCheck(
  ssmAt: SsmAt,
  documentName: string,
): (location: TargetLocation) => Promise<void> {
  return (location) => assertReachable(ssmAt(location), location, documentName);
}

/** What STS or SSM answer when the member role is missing or does not trust the caller. */
const REFUSED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
]);

/**
 * Where an EventBridge event comes from, when not from this deployment's account and Region: a member
 * account's SSM events reach the central bus through the member stack's rule and keep their origin.
 */
export function eventLocation(
  event: { readonly account?: string; readonly region?: string },
  home: { readonly account: string; readonly region: string },
): TargetLocation | undefined {
  if (!event.account || !event.region) return undefined;
  if (event.account === home.account && event.region === home.region) return undefined;
  return { TargetAccount: event.account, TargetRegion: event.region };
}
