import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { parseArgs } from 'node:util';
import { exportRequestProblems, unmapRequestProblems } from '../../lambda/shared/export-request.js';
import { type CertificateMapping, mappingsForCertificate } from '../../lambda/shared/mapping-store.js';
import { type SignedResponse, regionOfApiUrl, signedRequest } from './signed-request.js';

export const USAGE = `Usage: npm run cli -- <command> [options]

Commands:
  export --cert-arn ARN --name NAME --tag KEY=VALUE [--dry-run] [--follow]
                          Export a certificate and install it on the instances with the tag.
                          --dry-run only checks the certificate and lists the instances.
                          --follow prints each step until the end; exits 1 if it failed.
  unmap --cert-arn ARN --name NAME --tag KEY=VALUE
                          Stop distributing a certificate to the instances with the tag: the
                          mapping and its association go, its secret is scheduled for deletion.
                          Unmapping what is not mapped says so and exits 0.
  status EXECUTION_ARN    Show how an export went (state, per-instance result or error).
  mappings [--cert-arn ARN]
                          What is installed where, from the inventory.

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
        ...(command === 'export' && values['dry-run'] ? { DryRun: true } : {}),
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
      return report(new SFNClient({ region }), executionArn, io);
    }
    case 'mappings': {
      const tableName = (await outputs())['InventoryTableName'];
      if (!tableName) throw new Error(`stack ${stack} has no InventoryTableName output`);
      const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region }));
      const mappings = values['cert-arn']
        ? await mappingsForCertificate(db, tableName, values['cert-arn'])
        : await allMappings(db, tableName);
      for (const mapping of mappings) io.out(mappingLine(mapping));
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

async function report(sfn: SFNClient, executionArn: string, io: CliIo): Promise<number> {
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  io.out(`${execution.status}`);
  if (execution.status === 'SUCCEEDED') {
    const output = JSON.parse(execution.output ?? '{}') as {
      instances?: { instanceId: string; status?: string; ready?: boolean; notReadyBecause?: string }[];
    };
    for (const instance of output.instances ?? []) {
      io.out(
        `  ${instance.instanceId}  ${instance.status ?? (instance.ready ? 'ready' : `not ready: ${instance.notReadyBecause}`)}`,
      );
    }
    io.out(JSON.stringify(output, null, 2));
    return 0;
  }
  if (execution.status === 'RUNNING') return 0;
  io.err(`${execution.error ?? 'Failed'}: ${execution.cause ?? ''}`);
  return 1;
}

async function allMappings(db: DynamoDBDocumentClient, tableName: string): Promise<CertificateMapping[]> {
  const mappings: CertificateMapping[] = [];
  for await (const page of paginateScan({ client: db }, { TableName: tableName })) {
    mappings.push(...((page.Items ?? []) as CertificateMapping[]));
  }
  return mappings;
}

function mappingLine(mapping: CertificateMapping): string {
  return [
    mapping.TagKeyValue,
    mapping.CertName,
    mapping.CertificateArn,
    `serial ${mapping.Serial ?? '?'}`,
    `expires ${mapping.CertExpiryDate ?? '?'}`,
    `${mapping.LastInstallStatus ?? '?'}${mapping.LastInstallDate ? ` ${mapping.LastInstallDate}` : ''}`,
  ].join('  ');
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
