import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { parseArgs } from 'node:util';
import {
  type ExportRequest,
  exportRequestProblems,
  requestFieldsOf,
  unmapRequestProblems,
} from '../../lambda/shared/export-request.js';
import { type HostState, hostStates } from '../../lambda/shared/host-state.js';
import type { InstanceInstallResult } from '../../lambda/shared/workflow-state.js';
import {
  type CertificateMapping,
  getMapping,
  mappingsForCertificate,
} from '../../lambda/shared/mapping-store.js';
import { type SignedResponse, regionOfApiUrl, signedRequest } from './signed-request.js';

export const USAGE = `Usage: npm run cli -- <command> [options]

Commands:
  export --cert-arn ARN --name NAME --tag KEY=VALUE [--profile NAME] [--dry-run] [--follow]
                          Export a certificate and install it on the instances with the tag.
                          --profile names the deployment's install profile those hosts use
                          (default: "default").
                          --dry-run only checks the certificate and lists the instances.
                          --follow prints each step until the end; exits 1 if it failed.
  unmap --cert-arn ARN --name NAME --tag KEY=VALUE [--remove-files]
                          Stop distributing a certificate to the instances with the tag: the
                          mapping and its association go, its secret is scheduled for deletion.
                          --remove-files also removes the installed files from those instances.
                          Unmapping what is not mapped says so and exits 0.
  status EXECUTION_ARN    Show how an export went (state, per-instance result or error), then each
                          host of its mapping as the association keeps it now.
  mappings [--cert-arn ARN]
                          What is installed where: each mapping, then each host with the serial
                          it holds, when the association last ran and succeeded there, the last error.

Options:
  --stack NAME            The deployed stack, whose outputs give the API URL and table (default CertLifecycle)
  --api-url URL           The export-cert URL, instead of reading it from the stack
  --region REGION         The Region (default: the URL's, or your AWS configuration's)
  --help                  This text

Credentials come from the standard AWS chain (environment, profile, SSO, instance role).
Exit codes: 0 done, 1 failed, 2 bad usage, 75 throttled by the API (nothing started; try again).`;

/** sysexits' EX_TEMPFAIL: the API throttled the request; the same command may succeed shortly. */
export const EXIT_TRY_AGAIN = 75;

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly sleep: (ms: number) => Promise<void>;
}

/** Runs one CLI command; returns the process exit code. */
export async function runCli(
  argv: string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'cert-arn': { type: 'string' },
      name: { type: 'string' },
      tag: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'remove-files': { type: 'boolean' },
      profile: { type: 'string' },
      follow: { type: 'boolean' },
      stack: { type: 'string' },
      'api-url': { type: 'string' },
      region: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    io.out(USAGE);
    return values.help ? 0 : 2;
  }
  const region =
    values.region ??
    (values['api-url'] ? regionOfApiUrl(values['api-url']) : undefined) ??
    env.AWS_REGION ??
    env.AWS_DEFAULT_REGION;
  const stack = values.stack ?? 'CertLifecycle';
  const outputs = lazyOutputs(stack, region);

  switch (command) {
    case 'export':
    case 'unmap': {
      const [key, ...valueParts] = (values.tag ?? '').split('=');
      const request = {
        CertificateArn: values['cert-arn'],
        CertName: values.name,
        TargetTagKey: key || undefined,
        TargetTagValue: valueParts.join('=') || undefined,
        ...(command === 'export' && values.profile !== undefined ? { Profile: values.profile } : {}),
        ...(command === 'export' && values['dry-run'] ? { DryRun: true } : {}),
        ...(command === 'unmap' && values['remove-files'] ? { RemoveFiles: true } : {}),
      };
      const problems = command === 'export' ? exportRequestProblems(request) : unmapRequestProblems(request);
      if (problems.length > 0) {
        io.err(`Not sent: ${problems.join('; ')}`);
        return 2;
      }
      const apiUrl = values['api-url'] ?? (await outputs())['ExportCertUrl'];
      if (!apiUrl) throw new Error(`stack ${stack} has no ExportCertUrl output; pass --api-url`);
      const apiRegion = region ?? regionOfApiUrl(apiUrl);
      if (!apiRegion) throw new Error('cannot tell the Region: pass --region');
      const response = await signedRequest(command === 'export' ? 'POST' : 'DELETE', apiUrl, request, {
        region: apiRegion,
        credentials: fromNodeProviderChain(),
      });
      const refused = refusal(response, command === 'export' ? 202 : 200, io);
      if (refused !== undefined) return refused;
      if (command === 'unmap') {
        io.out((response.body as { message: string }).message);
        return 0;
      }
      const { executionArn } = response.body as { executionArn: string };
      io.out(executionArn);
      if (!values.follow) return 0;
      return follow(new SFNClient({ region: apiRegion }), executionArn, io);
    }
    case 'status': {
      const executionArn = rest[0];
      if (!executionArn) {
        io.err('status needs an execution ARN');
        return 2;
      }
      const sfn = new SFNClient({ region });
      const code = await report(sfn, executionArn, io);
      await convergenceOf(sfn, executionArn, region, outputs, io);
      return code;
    }
    case 'mappings': {
      const { InventoryTableName: tableName, HostStatesTableName: hostsTable } = await outputs();
      if (!tableName) throw new Error(`stack ${stack} has no InventoryTableName output`);
      const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region }));
      const mappings = values['cert-arn']
        ? await mappingsForCertificate(db, tableName, values['cert-arn'])
        : await allMappings(db, tableName);
      for (const mapping of mappings) {
        const hosts =
          hostsTable && mapping.AssociationId ? await hostStates(db, hostsTable, mapping.AssociationId) : [];
        for (const line of mappingLines(mapping, hosts)) io.out(line);
      }
      if (mappings.length === 0) io.out('No mappings.');
      return 0;
    }
    default:
      io.err(`Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

/** The exit code for an answer other than `expected` (throttled: try again; anything else: failed). */
function refusal(response: SignedResponse, expected: number, io: CliIo): number | undefined {
  if (response.status === 429) {
    const { message } = (response.body ?? {}) as { message?: string };
    io.err(`Throttled (429): ${message ?? 'the API refused the request as too many'}`);
    return EXIT_TRY_AGAIN;
  }
  if (response.status !== expected) {
    io.err(`The API answered ${response.status}: ${JSON.stringify(response.body)}`);
    return 1;
  }
  return undefined;
}

/** Prints each state as the execution enters it, then the outcome. */
export async function follow(
  sfn: SFNClient,
  executionArn: string,
  io: CliIo,
  pollMs = 2000,
): Promise<number> {
  const seen = new Set<number>();
  for (;;) {
    const events: { id?: number; type?: string; stateEnteredEventDetails?: { name?: string } }[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(
        new GetExecutionHistoryCommand({
          executionArn,
          includeExecutionData: false,
          maxResults: 1000,
          nextToken,
        }),
      );
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    for (const event of events) {
      if (event.id === undefined || seen.has(event.id)) continue;
      seen.add(event.id);
      if (event.stateEnteredEventDetails?.name) io.out(`… ${event.stateEnteredEventDetails.name}`);
    }
    const { status } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (status !== 'RUNNING') return report(sfn, executionArn, io);
    await io.sleep(pollMs);
  }
}

/** One host's line: its install status and what it holds and serves now, or whether a dry run found it ready. */
function instanceWords(
  instance: Partial<InstanceInstallResult> & { ready?: boolean; notReadyBecause?: string },
) {
  if (instance.status === undefined)
    return instance.ready ? 'ready' : `not ready: ${instance.notReadyBecause}`;
  const result = instance.result;
  const detail = result
    ? [
        result.status,
        result.serial && `serial ${result.serial}`,
        result.served && result.served !== 'unchecked' && `served ${result.served}`,
      ]
    : [instance.error];
  return [instance.status, ...detail].filter(Boolean).join('  ');
}

async function report(sfn: SFNClient, executionArn: string, io: CliIo): Promise<number> {
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  io.out(`${execution.status}`);
  if (execution.status === 'SUCCEEDED') {
    const output = JSON.parse(execution.output ?? '{}') as {
      instances?: (InstanceInstallResult & { ready?: boolean; notReadyBecause?: string })[];
    };
    for (const instance of output.instances ?? [])
      io.out(`  ${instance.instanceId}  ${instanceWords(instance)}`);
    io.out(JSON.stringify(output, null, 2));
    return 0;
  }
  if (execution.status === 'RUNNING') return 0;
  io.err(`${execution.error ?? 'Failed'}: ${execution.cause ?? ''}`);
  return 1;
}

/** The mapping an execution was for, host by host, as its association keeps it now. */
async function convergenceOf(
  sfn: SFNClient,
  executionArn: string,
  region: string | undefined,
  outputs: () => Promise<Record<string, string>>,
  io: CliIo,
): Promise<void> {
  const { input } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  const request = JSON.parse(input ?? '{}') as Record<string, unknown>;
  if (exportRequestProblems(request).length > 0) return;
  const { InventoryTableName: tableName, HostStatesTableName: hostsTable } = await outputs();
  if (!tableName) return;
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region }));
  const mapping = await getMapping(db, tableName, requestFieldsOf(request as ExportRequest));
  if (!mapping) {
    io.out('Convergence: this mapping is not recorded (never exported, or unmapped).');
    return;
  }
  const hosts =
    hostsTable && mapping.AssociationId ? await hostStates(db, hostsTable, mapping.AssociationId) : [];
  io.out('Convergence (the mapping, then each host its association has run on):');
  for (const line of mappingLines(mapping, hosts)) io.out(`  ${line}`);
}

async function allMappings(db: DynamoDBDocumentClient, tableName: string): Promise<CertificateMapping[]> {
  const mappings: CertificateMapping[] = [];
  for await (const page of paginateScan({ client: db }, { TableName: tableName })) {
    mappings.push(...((page.Items ?? []) as CertificateMapping[]));
  }
  return mappings;
}

/**
 * One mapping, then one line per host its association has run on: the serial the host holds (the
 * mapping's serial when the host last succeeded), when the association last ran there and last
 * succeeded, and what went wrong the last time it failed.
 */
export function mappingLines(mapping: CertificateMapping, hosts: readonly HostState[]): string[] {
  const head = [
    mapping.TagKeyValue,
    mapping.CertName,
    mapping.CertificateArn,
    `serial ${mapping.Serial ?? '?'}`,
    `expires ${mapping.CertExpiryDate ?? '?'}`,
    `${mapping.LastInstallStatus ?? '?'}${mapping.LastInstallDate ? ` ${mapping.LastInstallDate}` : ''}`,
    ...(mapping.AssociationName ? [`association ${mapping.AssociationName}`] : []),
  ].join('  ');
  const lines = hosts.map((host) =>
    [
      `    ${host.InstanceId}`,
      host.Status,
      `serial ${host.Serial ?? '?'}`,
      `applied ${host.LastExecutionDate ?? '?'}`,
      `last success ${host.LastSuccessfulExecutionDate ?? 'never'}`,
      ...(host.Status !== 'Success'
        ? [
            `error ${[host.ErrorCode, host.ExecutionSummary].filter(Boolean).join(': ') || host.DetailedStatus || '?'}`,
          ]
        : []),
    ].join('  '),
  );
  return [head, ...lines];
}

function lazyOutputs(stackName: string, region: string | undefined): () => Promise<Record<string, string>> {
  let cached: Record<string, string> | undefined;
  return async () => {
    if (!cached) {
      const { Stacks } = await new CloudFormationClient({ region }).send(
        new DescribeStacksCommand({ StackName: stackName }),
      );
      cached = Object.fromEntries(
        (Stacks?.[0]?.Outputs ?? []).map((output) => [output.OutputKey ?? '', output.OutputValue ?? '']),
      );
    }
    return cached;
  };
}
