import { type IAMClient, ListRoleTagsCommand, paginateListAttachedRolePolicies } from '@aws-sdk/client-iam';
import { type CommandInvocation, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { mappingSecretName } from '../shared/certificate-secret.js';
import {
  errorLine,
  lastLineStartingWith,
  listInvocations,
  pluginOutput,
  resultLine,
} from '../shared/command-invocations.js';
import { type ExportRequest, type TargetLocation, locationOf } from '../shared/export-request.js';
import { type HostCheck, hostCheckLines } from '../shared/host-check.js';
import { type HostInstallSettings, hostParameters } from '../shared/install-parameters.js';
import type { CertificateMapping } from '../shared/mapping-store.js';

/** SendCommand names at most 50 instances; a dry run looks at that many of the hosts that are ready. */
export const MOST_HOSTS_CHECKED = 50;
/** How long the dry run waits for the hosts' answers: the document's 120 s, plus delivery. */
export const HOST_CHECK_SECONDS = 300;

/** Preflight before the first export; a rehearsal against the current secret of a mapping that exists. */
export type HostCheckMode = 'preflight' | 'rehearsal';

/** The command the dry run sent to the hosts, and whether their answers are still awaited. */
export interface HostCheckCommand {
  readonly mode: HostCheckMode;
  readonly commandId: string;
  readonly secretId: string;
  /** The target: a host's role must carry this tag to read the secret. */
  readonly tagKey: string;
  readonly tagValue: string;
  /** When the dry run stops waiting: hosts that have not answered by then are reported as silent. */
  readonly deadline: string;
  readonly pending: boolean;
  /** The hosts it was sent to: the first 50 that are ready (one command names at most 50). */
  readonly instanceIds: readonly string[];
  /** Where the hosts are, when in a member account: their answers are read there. */
  readonly location?: TargetLocation;
}

/** What one host said of itself. */
export interface HostAnswer {
  readonly status: 'ready' | 'not ready' | 'failed' | 'no answer';
  readonly checks: HostCheck[];
  /** A rehearsal's finding: what the install would do (install, unchanged, reload). */
  readonly would?: string;
  /** The rehearsal's own sentence: which serial it would install in place of which, or why it would not. */
  readonly rehearsal?: string;
  /** The host's own ERROR line, or why there is no answer. */
  readonly error?: string;
}

export interface SendHostCheckDependencies {
  readonly ssm: SSMClient;
  readonly region: string;
  readonly documentName: string;
  readonly now?: () => Date;
}

/**
 * Sends the dry run's document to the ready hosts: names and settings only, as an install would send them.
 * A mapping that exists is rehearsed against its secret; otherwise the hosts run the preflight, asked for
 * the secret the first export will write (which they cannot read yet, but the answer names their role).
 */
export async function sendHostCheck(
  request: ExportRequest,
  host: HostInstallSettings,
  mapping: CertificateMapping | undefined,
  instanceIds: readonly string[],
  deps: SendHostCheckDependencies,
): Promise<HostCheckCommand> {
  const mode: HostCheckMode = mapping?.SecretId ? 'rehearsal' : 'preflight';
  const secretId = mapping?.SecretId ?? mappingSecretName(request);
  const chosen = instanceIds.slice(0, MOST_HOSTS_CHECKED);
  const response = await deps.ssm.send(
    new SendCommandCommand({
      DocumentName: deps.documentName,
      DocumentVersion: '$LATEST',
      InstanceIds: [...chosen],
      Parameters: {
        Action: [mode === 'rehearsal' ? 'Rehearse' : 'Preflight'],
        CertName: [request.CertName],
        SecretId: [secretId],
        Region: [deps.region],
        ...hostParameters(host),
      },
      MaxConcurrency: '100%',
      MaxErrors: '100%',
      TimeoutSeconds: 120,
      Comment: `Dry run of ${request.CertName}`.slice(0, 100),
    }),
  );
  const now = (deps.now ?? (() => new Date()))();
  return {
    mode,
    commandId: response.Command?.CommandId ?? '',
    secretId,
    tagKey: request.TargetTagKey,
    tagValue: request.TargetTagValue,
    deadline: new Date(now.getTime() + HOST_CHECK_SECONDS * 1000).toISOString(),
    pending: true,
    instanceIds: chosen,
    ...(locationOf(request) ? { location: locationOf(request) } : {}),
  };
}

/** The line a rehearsal prints before its RESULT: what the install would do, in words. */
const REHEARSAL_LINE = 'rehearsal: ';

const STILL_RUNNING = new Set(['Pending', 'InProgress', 'Delayed']);

export interface CollectDependencies {
  readonly ssm: SSMClient;
  readonly iam: IAMClient;
  readonly accountId: string;
  /** The policy the hosts' roles must have for the ABAC read (the stack's output InstanceAccessPolicyArn). */
  readonly instanceAccessPolicyArn: string;
  readonly now?: () => Date;
}

/**
 * The hosts' answers, by instance id, or undefined while any host is still running the check and the
 * deadline has not passed. A host that reached Secrets Manager but could not read the secret has its role
 * compared with what the instance access policy needs.
 */
export async function collectHostAnswers(
  command: HostCheckCommand,
  deps: CollectDependencies,
): Promise<Map<string, HostAnswer> | undefined> {
  const invocations = await listInvocations(deps.ssm, command.commandId);
  const now = (deps.now ?? (() => new Date()))();
  const running = invocations.some((invocation) => STILL_RUNNING.has(invocation.Status ?? ''));
  if (running && now < new Date(command.deadline)) return undefined;
  const roles = new Map<string, Promise<HostCheck[]>>();
  const answers = new Map<string, HostAnswer>();
  for (const invocation of invocations) {
    const answer = answerOf(invocation);
    const identity = resultLine(invocation)?.identity;
    const secret = answer.checks.find((check) => check.item === 'secret');
    if (identity && secret?.verdict !== 'ok') {
      const role = roleNameOf(identity, deps.accountId);
      if (role && !roles.has(role)) roles.set(role, roleChecks(role, command, deps));
      const found = role ? await roles.get(role)! : [];
      answers.set(invocation.InstanceId ?? 'unknown', withChecks(answer, found));
    } else {
      answers.set(invocation.InstanceId ?? 'unknown', answer);
    }
  }
  return answers;
}

function answerOf(invocation: CommandInvocation): HostAnswer {
  const checks = hostCheckLines(pluginOutput(invocation));
  const result = resultLine(invocation);
  const rehearsal = lastLineStartingWith(invocation, REHEARSAL_LINE);
  if (STILL_RUNNING.has(invocation.Status ?? '')) {
    return { status: 'no answer', checks, error: `still ${invocation.Status} after ${HOST_CHECK_SECONDS} s` };
  }
  if (result?.status === 'ready' || result?.status === 'not-ready') {
    return {
      status: result.status === 'ready' ? 'ready' : 'not ready',
      checks,
      ...(result.would ? { would: result.would } : {}),
      ...(rehearsal ? { rehearsal: rehearsal.slice(REHEARSAL_LINE.length) } : {}),
    };
  }
  const error = errorLine(invocation) ?? `the check ended ${invocation.Status ?? 'without a status'}`;
  return { status: 'failed', checks, error };
}

function withChecks(answer: HostAnswer, more: HostCheck[]): HostAnswer {
  const checks = [...answer.checks, ...more];
  const refused = more.some((check) => check.verdict === 'problem');
  return { ...answer, checks, ...(refused && answer.status === 'ready' ? { status: 'not ready' } : {}) };
}

/** `arn:aws:sts::<account>:assumed-role/<role>/<session>` of this account: the role's name. */
export function roleNameOf(identity: string, accountId: string): string | undefined {
  const match = /^arn:aws[a-z-]*:sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/[\w+=,.@-]+$/.exec(identity);
  return match && match[1] === accountId ? match[2] : undefined;
}

/** Whether a host's role can read the mapping's secret: it must carry the target tag and the policy. */
async function roleChecks(
  roleName: string,
  { tagKey, tagValue }: Pick<HostCheckCommand, 'tagKey' | 'tagValue'>,
  deps: CollectDependencies,
): Promise<HostCheck[]> {
  const wanted = `${tagKey}=${tagValue}`;
  try {
    const { Tags = [] } = await deps.iam.send(new ListRoleTagsCommand({ RoleName: roleName, MaxItems: 50 }));
    const attached: string[] = [];
    for await (const page of paginateListAttachedRolePolicies({ client: deps.iam }, { RoleName: roleName })) {
      attached.push(...(page.AttachedPolicies ?? []).map((policy) => policy.PolicyArn ?? ''));
    }
    const value = Tags.find((tag) => tag.Key === tagKey)?.Value;
    const tag: HostCheck =
      value === tagValue
        ? { item: 'role-tag', verdict: 'ok', words: `role ${roleName} carries ${wanted}, as the secret will` }
        : {
            item: 'role-tag',
            verdict: 'problem',
            words: `role ${roleName} ${value === undefined ? `has no tag ${tagKey}` : `carries ${tagKey}=${value}`}; tag it ${wanted} so it may read the secret`,
          };
    const policy: HostCheck = attached.includes(deps.instanceAccessPolicyArn)
      ? { item: 'role-policy', verdict: 'ok', words: `role ${roleName} has the instance access policy` }
      : {
          item: 'role-policy',
          verdict: 'problem',
          words: `role ${roleName} does not have the instance access policy ${deps.instanceAccessPolicyArn} attached; attach it`,
        };
    return [tag, policy];
  } catch (error) {
    return [
      {
        item: 'role',
        verdict: 'note',
        words: `role ${roleName} could not be read (${(error as Error).name}); check its tag ${wanted} and the instance access policy by hand`,
      },
    ];
  }
}
