import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type ExecutionStatus,
  GetExecutionHistoryCommand,
  paginateListExecutions,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  type ExportRequest,
  exportRequestProblems,
  locationOf,
  requestFieldsOf,
  unmapRequestProblems,
} from '../../lambda/shared/export-request.js';
import { describeTarget } from '../../lambda/shared/target-association.js';
import { type HostState, hostStatePartition, hostStates } from '../../lambda/shared/host-state.js';
import {
  type CertificateMapping,
  getMapping,
  mappingsForCertificate,
} from '../../lambda/shared/mapping-store.js';
import type { InstanceInstallResult } from '../../lambda/shared/workflow-state.js';
import { PROJECT_ROOT } from '../paths.js';
import { type CommandName, EXIT, UsageError, commandUsage, parseCommandLine } from './arguments.js';
import { dryRunLines, isDryRunReport } from './dry-run-report.js';
import { type AskedFor, ExplainedError, explain } from './explain.js';
import { type SignedResponse, regionOfApiUrl, signedRequest } from './signed-request.js';

export { EXIT } from './arguments.js';
/** sysexits' EX_TEMPFAIL: the API throttled the request; the same command may succeed shortly. */
export const EXIT_TRY_AGAIN = EXIT.tryAgain;

export const VERSION = (
  JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly sleep: (ms: number) => Promise<void>;
  /** Milliseconds since the epoch; for --timeout and how long an execution has run. */
  readonly now?: () => number;
}

type Flags = Extract<ReturnType<typeof parseCommandLine>, { kind: 'run' }>['flags'];

/** What one run of a command knows: its flags, where it is looking, and how it reports. */
class Run {
  readonly json: boolean;
  readonly stack: string;
  region: string | undefined;
  private outputs?: Record<string, string>;

  constructor(
    readonly command: CommandName,
    readonly flags: Flags,
    readonly args: readonly string[],
    readonly io: CliIo,
    env: NodeJS.ProcessEnv,
  ) {
    this.json = flags.output === 'json';
    this.stack = flags.stack ?? 'CertLifecycle';
    this.region = flags.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  }

  /** A text line (standard output), or nothing when the one JSON document is the output. */
  line(text: string): void {
    if (!this.json) this.io.out(text);
  }

  /** Progress: on standard output as text, on standard error beside a JSON document. */
  progress(text: string): void {
    if (this.json) this.io.err(text);
    else this.io.out(text);
  }

  document(value: unknown): void {
    if (this.json) this.io.out(JSON.stringify(value, null, 2));
  }

  now(): number {
    return this.io.now?.() ?? Date.now();
  }

  /** An AWS call, whose failure becomes a sentence naming what was asked, where. */
  async aws<T>(doing: string, call: () => Promise<T>, table?: string): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const asked: AskedFor = { doing, region: this.region, stack: this.stack, table };
      throw explain(error, asked);
    }
  }

  async output(name: string): Promise<string> {
    this.outputs ??= await this.aws(`reading the outputs of stack ${this.stack}`, async () => {
      const { Stacks } = await new CloudFormationClient({ region: this.region }).send(
        new DescribeStacksCommand({ StackName: this.stack }),
      );
      return Object.fromEntries(
        (Stacks?.[0]?.Outputs ?? []).map((output) => [output.OutputKey ?? '', output.OutputValue ?? '']),
      );
    });
    const value = this.outputs[name];
    if (!value)
      throw new ExplainedError(
        `stack ${this.stack} in ${this.region ?? 'your configured Region'} has no output ${name}: is it this app's stack?`,
      );
    return value;
  }
}

/** Runs one CLI command; returns the process exit code. */
export async function runCli(
  argv: string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv, VERSION);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`Usage error: ${error.message}.\n\n${error.usage}`);
    return EXIT.usage;
  }
  if (parsed.kind === 'version') {
    io.out(VERSION);
    return EXIT.done;
  }
  if (parsed.kind === 'help') {
    io.out(parsed.text);
    return EXIT.done;
  }
  const run = new Run(parsed.command, parsed.flags, parsed.args, io, env);
  try {
    return await COMMANDS[parsed.command](run);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`Usage error: ${error.message}.\n\n${error.usage}`);
      return EXIT.usage;
    }
    const explained = explain(error, {
      doing: `running ${parsed.command}`,
      region: run.region,
      stack: run.stack,
    });
    io.err(`Error: ${explained.message}`);
    return EXIT.failed;
  }
}

const COMMANDS: Record<CommandName, (run: Run) => Promise<number>> = {
  export: (run) => sendRequest(run, 'export'),
  unmap: (run) => sendRequest(run, 'unmap'),
  status,
  executions,
  mappings,
  uninstall,
};

/** export (POST) and unmap (DELETE): the request checked by the API's own rules, signed, sent. */
async function sendRequest(run: Run, command: 'export' | 'unmap'): Promise<number> {
  const { flags } = run;
  const [key, ...valueParts] = (flags.tag ?? '').split('=');
  const request = {
    CertificateArn: flags['cert-arn'],
    CertName: flags.name,
    TargetTagKey: key || undefined,
    TargetTagValue: valueParts.join('=') || undefined,
    ...(flags['target-account'] !== undefined ? { TargetAccount: flags['target-account'] } : {}),
    ...(flags['target-region'] !== undefined ? { TargetRegion: flags['target-region'] } : {}),
    ...(flags.profile !== undefined ? { Profile: flags.profile } : {}),
    ...(flags['dry-run'] ? { DryRun: true } : {}),
    ...(flags['remove-files'] ? { RemoveFiles: true } : {}),
  };
  const problems = command === 'export' ? exportRequestProblems(request) : unmapRequestProblems(request);
  if (problems.length > 0) throw new UsageError(`not sent: ${problems.join('; ')}`, commandUsage(command));
  const apiUrl = flags['api-url'] ?? (await run.output('ExportCertUrl'));
  if (!URL.canParse(apiUrl))
    throw new UsageError(
      `--api-url "${apiUrl}" is not a URL (https://<id>.execute-api.<region>.amazonaws.com/v1/export-cert)`,
      commandUsage(command),
    );
  run.region = flags.region ?? regionOfApiUrl(apiUrl) ?? run.region;
  const region = run.region;
  if (!region)
    throw new UsageError('cannot tell the Region of that URL: pass --region', commandUsage(command));
  const response = await run.aws(`sending the ${command} request to ${apiUrl}`, () =>
    signedRequest(command === 'export' ? 'POST' : 'DELETE', apiUrl, request, {
      region,
      credentials: fromNodeProviderChain(),
    }),
  );
  const refused = refusal(response, command === 'export' ? 202 : 200, run);
  if (refused !== undefined) return refused;
  if (command === 'unmap') {
    run.line((response.body as { message: string }).message);
    run.document(response.body);
    return EXIT.done;
  }
  const { executionArn } = response.body as { executionArn: string };
  if (!flags.follow) {
    run.line(executionArn);
    run.document(response.body);
    return EXIT.done;
  }
  run.progress(executionArn);
  return follow(new SFNClient({ region }), executionArn, run.io, {
    run,
    timeoutSeconds: Number(flags.timeout ?? 0),
  });
}

/** The exit code for an answer other than `expected` (throttled: try again; anything else: failed). */
function refusal(response: SignedResponse, expected: number, run: Run): number | undefined {
  if (response.status === expected) return undefined;
  run.document({ status: response.status, body: response.body });
  if (response.status === 429) {
    const { message } = (response.body ?? {}) as { message?: string };
    run.io.err(
      `Throttled (429): ${message ?? 'the API refused the request as too many'}; nothing started, try again`,
    );
    return EXIT.tryAgain;
  }
  const hint =
    response.status === 403
      ? ' (your identity may not call this API: the operator policy in the README lists execute-api:Invoke)'
      : '';
  run.io.err(`The API answered ${response.status}${hint}: ${JSON.stringify(response.body)}`);
  return EXIT.failed;
}

/** The Region of an ARN (arn:aws:states:eu-west-1:…), if it is one. */
const regionOfArn = (arn: string) => /^arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(-[a-z]+)+-\d+):/.exec(arn)?.[1];

/**
 * Prints each state as the execution enters it, then its outcome; with a timeout (seconds, 0 for
 * none) it gives up, exit 3, while the execution still runs.
 */
export async function follow(
  sfn: SFNClient,
  executionArn: string,
  io: CliIo,
  options: { pollMs?: number; timeoutSeconds?: number; run?: Run } = {},
): Promise<number> {
  const { pollMs = 2000, timeoutSeconds = 0 } = options;
  const now = () => io.now?.() ?? Date.now();
  const progress = (text: string) => (options.run ? options.run.progress(text) : io.out(text));
  const started = now();
  const seen = new Set<number>();
  for (;;) {
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
      for (const event of page.events ?? []) {
        if (event.id === undefined || seen.has(event.id)) continue;
        seen.add(event.id);
        if (event.stateEnteredEventDetails?.name) progress(`… ${event.stateEnteredEventDetails.name}`);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== 'RUNNING') return report(execution, io, options.run);
    if (timeoutSeconds > 0 && now() - started >= timeoutSeconds * 1000) {
      io.err(`Still running after ${timeoutSeconds} s (it goes on): ${executionArn}`);
      options.run?.document({ executionArn, status: 'RUNNING' });
      return EXIT.stillRunning;
    }
    await io.sleep(pollMs);
  }
}

/** One host's line: its install status and what it holds and serves now. */
function instanceWords(instance: InstanceInstallResult) {
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

/**
 * An execution's outcome: its status, and per instance its result, or the error and cause (on standard
 * error). `more` joins the JSON document.
 */
function report(execution: DescribeExecutionCommandOutput, io: CliIo, run?: Run, more: object = {}): number {
  const line = (text: string) => (run ? run.line(text) : io.out(text));
  const output = JSON.parse(execution.output ?? '{}') as {
    instances?: InstanceInstallResult[];
  };
  if (execution.status === 'SUCCEEDED' && isDryRunReport(output)) {
    run?.document({
      executionArn: execution.executionArn,
      status: execution.status,
      dryRun: output,
      ...more,
    });
    for (const text of dryRunLines(output)) line(text);
    return output.ready ? EXIT.done : EXIT.failed;
  }
  line(`${execution.status}`);
  run?.document({
    executionArn: execution.executionArn,
    status: execution.status,
    ...(execution.status === 'SUCCEEDED' ? { instances: output.instances ?? [] } : {}),
    ...(execution.error ? { error: execution.error, cause: execution.cause } : {}),
    ...more,
  });
  if (execution.status === 'SUCCEEDED') {
    for (const instance of output.instances ?? [])
      line(`  ${instance.instanceId}  ${instanceWords(instance)}`);
    return EXIT.done;
  }
  io.err(`${execution.error ?? execution.status ?? 'Failed'}: ${execution.cause ?? ''}`);
  return EXIT.failed;
}

/** status: an execution's state (running: where, and for how long), results, and each host now. */
async function status(run: Run): Promise<number> {
  const executionArn = run.args[0]!;
  run.region = run.flags.region ?? regionOfArn(executionArn) ?? run.region;
  const sfn = new SFNClient({ region: run.region });
  const execution = await run.aws(`describing execution ${executionArn}`, () =>
    sfn.send(new DescribeExecutionCommand({ executionArn })),
  );
  if (execution.status === 'RUNNING') {
    if (run.flags.follow)
      return follow(sfn, executionArn, run.io, { run, timeoutSeconds: Number(run.flags.timeout ?? 0) });
    const { events } = await run.aws(`reading the history of ${executionArn}`, () =>
      sfn.send(
        new GetExecutionHistoryCommand({
          executionArn,
          reverseOrder: true,
          maxResults: 50,
          includeExecutionData: false,
        }),
      ),
    );
    const state = events?.find((event) => event.stateEnteredEventDetails?.name)?.stateEnteredEventDetails
      ?.name;
    const seconds = Math.round((run.now() - (execution.startDate?.getTime() ?? run.now())) / 1000);
    run.line(`RUNNING for ${seconds} s${state ? `, now in ${state}` : ''}`);
    run.document({ executionArn, status: 'RUNNING', runningSeconds: seconds, state });
    return EXIT.done;
  }
  const mapping = await mappingOf(run, execution.input);
  const code = report(execution, run.io, run, mapping ?? {});
  if (mapping) {
    run.line('Convergence (the mapping, then each host its association has run on):');
    for (const line of mappingLines(mapping.mapping, mapping.hosts, run.now())) run.line(`  ${line}`);
  } else {
    run.line('Convergence: this mapping is not recorded (never exported, or unmapped).');
  }
  return code;
}

/** The mapping an execution (of this input) was for, with each host as its association keeps it now. */
async function mappingOf(run: Run, input: string | undefined) {
  const request = JSON.parse(input ?? '{}') as Record<string, unknown>;
  if (exportRequestProblems(request).length > 0) return undefined;
  const { db, tableName, hostsTable } = await inventory(run);
  const mapping = await run.aws(
    `reading table ${tableName}`,
    () => getMapping(db, tableName, requestFieldsOf(request as ExportRequest)),
    tableName,
  );
  if (!mapping) return undefined;
  return { mapping, hosts: await hostsOf(run, db, hostsTable, mapping) };
}

async function inventory(run: Run) {
  const tableName = await run.output('InventoryTableName');
  const hostsTable = await run.output('HostStatesTableName');
  return {
    db: DynamoDBDocumentClient.from(new DynamoDBClient({ region: run.region })),
    tableName,
    hostsTable,
  };
}

async function hostsOf(
  run: Run,
  db: DynamoDBDocumentClient,
  hostsTable: string,
  mapping: CertificateMapping,
) {
  const partition = hostStatePartition(mapping);
  if (!partition) return [];
  return run.aws(`reading table ${hostsTable}`, () => hostStates(db, hostsTable, partition), hostsTable);
}

/** executions: the state machine's recent executions, newest first, exports and renewals alike. */
async function executions(run: Run): Promise<number> {
  const stateMachineArn = await run.output('StateMachineArn');
  const max = Number(run.flags.max ?? 20);
  const statusFilter = run.flags.status?.toUpperCase() as ExecutionStatus | undefined;
  const sfn = new SFNClient({ region: run.region });
  const found = await run.aws(`listing the executions of ${stateMachineArn}`, async () => {
    const listed = [];
    for await (const page of paginateListExecutions(
      { client: sfn, pageSize: Math.min(max, 1000) },
      { stateMachineArn, ...(statusFilter ? { statusFilter } : {}) },
    )) {
      listed.push(...(page.executions ?? []));
      if (listed.length >= max) break;
    }
    return listed.slice(0, max);
  });
  const rows = found.map((execution) => ({
    executionArn: execution.executionArn,
    kind: execution.name?.startsWith('renew-') ? 'renewal' : 'export',
    status: execution.status,
    startDate: execution.startDate?.toISOString(),
    stopDate: execution.stopDate?.toISOString(),
  }));
  for (const row of rows)
    run.line([row.status?.padEnd(9), row.startDate, row.kind.padEnd(7), row.executionArn].join('  '));
  if (rows.length === 0) run.line('No executions.');
  run.document({ executions: rows });
  return EXIT.done;
}

/** mappings: each mapping and each host its association has run on. */
async function mappings(run: Run): Promise<number> {
  const { db, tableName, hostsTable } = await inventory(run);
  const certificateArn = run.flags['cert-arn'];
  const found = await run.aws(
    `reading table ${tableName}`,
    async () =>
      certificateArn ? mappingsForCertificate(db, tableName, certificateArn) : allMappings(db, tableName),
    tableName,
  );
  const documents = [];
  for (const mapping of found) {
    const hosts = await hostsOf(run, db, hostsTable, mapping);
    for (const line of mappingLines(mapping, hosts, run.now())) run.line(line);
    documents.push({ ...mapping, hosts });
  }
  if (found.length === 0) run.line('No mappings.');
  run.document({ mappings: documents });
  return EXIT.done;
}

/**
 * uninstall: every mapping of the deployment unmapped through the API, as `unmap` does one (its
 * association deleted, its secret scheduled for deletion, with --remove-files its files removed); with
 * --dry-run, only what that would be, read from the inventory and sending nothing.
 */
async function uninstall(run: Run): Promise<number> {
  const { db, tableName } = await inventory(run);
  const found = await run.aws(`reading table ${tableName}`, () => allMappings(db, tableName), tableName);
  const planned = found.map((mapping) => ({
    CertificateArn: mapping.CertificateArn,
    CertName: mapping.CertName,
    TargetTagKey: mapping.TargetTagKey,
    TargetTagValue: mapping.TargetTagValue,
    ...locationOf(mapping),
    association: mapping.AssociationName,
    secret: mapping.SecretId,
  }));
  if (run.flags['dry-run']) {
    for (const item of planned)
      run.line(
        `would unmap ${item.CertName} (${item.CertificateArn}) on ${describeTarget(item)}: association ${item.association ?? 'none'}, secret ${item.secret ?? 'none'} scheduled for deletion${run.flags['remove-files'] ? ', files removed from the hosts' : ''}`,
      );
    run.line(`${planned.length} mappings; nothing was changed (run again with --yes to unmap them).`);
    run.document({ dryRun: true, mappings: planned });
    return EXIT.done;
  }
  const apiUrl = run.flags['api-url'] ?? (await run.output('ExportCertUrl'));
  const region = run.flags.region ?? regionOfApiUrl(apiUrl) ?? run.region;
  if (!region)
    throw new UsageError('cannot tell the Region of the API: pass --region', commandUsage('uninstall'));
  const results = [];
  let failed = 0;
  for (const item of planned) {
    const request = {
      CertificateArn: item.CertificateArn,
      CertName: item.CertName,
      TargetTagKey: item.TargetTagKey,
      TargetTagValue: item.TargetTagValue,
      ...locationOf(item),
      ...(run.flags['remove-files'] ? { RemoveFiles: true } : {}),
    };
    const response = await run.aws(`unmapping ${item.CertName} through ${apiUrl}`, () =>
      signedRequest('DELETE', apiUrl, request, { region, credentials: fromNodeProviderChain() }),
    );
    const ok = response.status === 200;
    if (!ok) failed += 1;
    const said =
      (response.body as { message?: string } | undefined)?.message ?? JSON.stringify(response.body);
    run.line(ok ? said : `not unmapped (${response.status}): ${said}`);
    results.push({ ...request, status: response.status, body: response.body });
  }
  run.line(`${planned.length - failed} of ${planned.length} mappings unmapped.`);
  run.document({ mappings: results });
  return failed === 0 ? EXIT.done : EXIT.failed;
}

async function allMappings(db: DynamoDBDocumentClient, tableName: string): Promise<CertificateMapping[]> {
  const found: CertificateMapping[] = [];
  for await (const page of paginateScan({ client: db }, { TableName: tableName })) {
    found.push(...((page.Items ?? []) as CertificateMapping[]));
  }
  return found;
}

/**
 * One mapping (its profile, the days its certificate has left, its last install and, when that failed,
 * why), then one line per host its association has run on: the serial it holds (the mapping's serial
 * when the host last succeeded), when the association last ran there and last succeeded, and what went
 * wrong the last time it failed.
 */
export function mappingLines(
  mapping: CertificateMapping,
  hosts: readonly HostState[],
  now = Date.now(),
): string[] {
  const daysLeft = mapping.CertExpiryDate
    ? Math.floor((Date.parse(mapping.CertExpiryDate) - now) / 86_400_000)
    : undefined;
  const head = [
    mapping.TagKeyValue,
    mapping.CertName,
    mapping.CertificateArn,
    `profile ${mapping.Profile ?? 'default'}`,
    `serial ${mapping.Serial ?? '?'}`,
    `expires ${mapping.CertExpiryDate ?? '?'}${daysLeft === undefined ? '' : ` (${daysLeft} days left)`}`,
    `${mapping.LastInstallStatus ?? '?'}${mapping.LastInstallDate ? ` ${mapping.LastInstallDate}` : ''}`,
    ...(mapping.LastInstallStatus && mapping.LastInstallStatus !== 'Success' && mapping.LastInstallSummary
      ? [`why: ${mapping.LastInstallSummary}`]
      : []),
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
            `error ${host.Error ?? ([host.ErrorCode, host.ExecutionSummary].filter(Boolean).join(': ') || host.DetailedStatus || '?')}`,
          ]
        : []),
    ].join('  '),
  );
  return [head, ...lines];
}
