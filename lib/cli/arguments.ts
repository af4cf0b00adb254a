import { parseArgs } from 'node:util';

/**
 * The CLI's commands and the flags each takes. A flag a command does not take, a missing value, or a
 * positional argument it does not expect is a usage error that names it: never ignored.
 */

/** The exit codes, one table for the help text, the README and the code. */
export const EXIT = {
  /** Done (an export started, or followed to success; an unmap done or nothing to unmap). */
  done: 0,
  /** Failed: the export or install failed, a dry run found it not ready, the API refused, or an AWS call failed. */
  failed: 1,
  /** Bad usage: nothing was sent. */
  usage: 2,
  /** --follow gave up at --timeout while the execution still runs (it goes on). */
  stillRunning: 3,
  /** sysexits' EX_TEMPFAIL: the API throttled the request; nothing started; try again shortly. */
  tryAgain: 75,
} as const;

const FLAGS = {
  'cert-arn': { type: 'string', value: 'ARN', help: 'The ACM certificate' },
  name: { type: 'string', value: 'NAME', help: 'CertName: the file name stem on the hosts' },
  tag: { type: 'string', value: 'KEY=VALUE', help: 'The target tag of the instances' },
  profile: { type: 'string', value: 'NAME', help: 'The install profile those hosts use (default "default")' },
  'target-account': {
    type: 'string',
    value: 'ID',
    help: "The account of the instances, when not the deployment's (a member account; with --target-region)",
  },
  'target-region': {
    type: 'string',
    value: 'REGION',
    help: "The Region of the instances, when not the deployment's (with --target-account)",
  },
  'dry-run': {
    type: 'boolean',
    help: 'Export nothing: check the certificate, the tag and the profile, and ask each ready host (up to 50) whether it could install; with --follow, exit 1 when it could not',
  },
  'remove-files': { type: 'boolean', help: 'Also remove the installed files from the instances' },
  follow: { type: 'boolean', help: 'Print each step until the execution ends' },
  timeout: {
    type: 'string',
    value: 'SECONDS',
    help: `With --follow: give up after this long (exit ${EXIT.stillRunning})`,
  },
  status: {
    type: 'string',
    value: 'STATUS',
    help: 'Only executions in this state (RUNNING, SUCCEEDED, FAILED, …)',
  },
  max: { type: 'string', value: 'N', help: 'At most this many (default 20)' },
  yes: { type: 'boolean', help: 'Really do it (uninstall does nothing without it but with --dry-run)' },
  output: { type: 'string', value: 'text|json', help: 'json: one JSON document on standard output' },
  stack: {
    type: 'string',
    value: 'NAME',
    help: 'The deployed stack, whose outputs name the API and tables (default CertLifecycle)',
  },
  'api-url': {
    type: 'string',
    value: 'URL',
    help: 'The export-cert URL, instead of reading it from the stack',
  },
  region: {
    type: 'string',
    value: 'REGION',
    help: "The Region (default: an ARN's or URL's, else your AWS configuration's)",
  },
  help: { type: 'boolean', help: "This command's help" },
} as const satisfies Record<string, { type: 'string' | 'boolean'; value?: string; help: string }>;

export type FlagName = keyof typeof FLAGS;
type FlagValues = { [K in FlagName]?: (typeof FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

const COMMON: readonly FlagName[] = ['output', 'stack', 'region', 'help'];

interface CommandSpec {
  readonly summary: string;
  /** The positional arguments after the command, by name. */
  readonly positionals: readonly string[];
  readonly flags: readonly FlagName[];
  readonly required?: readonly FlagName[];
  /** What to say of a flag the command does not take, where there is more to say than that. */
  readonly refusals?: Partial<Record<string, string>>;
}

/** The flags that name a mapping: the certificate, its name, the hosts' tag, and where they are. */
const MAPPING = ['cert-arn', 'name', 'tag', 'target-account', 'target-region'] as const;

export const COMMANDS = {
  export: {
    summary: 'Export a certificate and install it on the instances with the tag',
    positionals: [],
    flags: [...MAPPING, 'profile', 'dry-run', 'follow', 'timeout', 'api-url', ...COMMON],
    required: ['cert-arn', 'name', 'tag'],
    refusals: { 'remove-files': 'files are removed by unmap --remove-files' },
  },
  unmap: {
    summary:
      'Stop distributing a certificate to the instances with the tag (its secret is scheduled for deletion)',
    positionals: [],
    flags: [...MAPPING, 'remove-files', 'api-url', ...COMMON],
    required: ['cert-arn', 'name', 'tag'],
    refusals: {
      'dry-run':
        'unmap has no dry run, and does what it says at once; to see what it would remove, run: mappings --cert-arn ARN',
      profile: 'an unmap uses the profile its mapping recorded',
    },
  },
  status: {
    summary: "Show an execution: its state (and how long it has run), each instance's result, each host now",
    positionals: ['EXECUTION_ARN'],
    flags: ['follow', 'timeout', ...COMMON],
  },
  executions: {
    summary: 'List the recent export and renewal executions, newest first',
    positionals: [],
    flags: ['status', 'max', ...COMMON],
  },
  mappings: {
    summary: 'What is installed where: each mapping (profile, days left, last failure), then each host',
    positionals: [],
    flags: ['cert-arn', ...COMMON],
  },
  uninstall: {
    summary:
      'Unmap every mapping of the deployment (before cdk destroy): associations deleted, secrets scheduled for deletion',
    positionals: [],
    flags: ['dry-run', 'yes', 'remove-files', 'api-url', ...COMMON],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export type Parsed =
  | {
      readonly kind: 'run';
      readonly command: CommandName;
      readonly flags: FlagValues;
      readonly args: string[];
    }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version' };

export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

const PROGRAM = 'npx cert-lifecycle';

function flagLine(name: FlagName): string {
  const flag: { value?: string; help: string } = FLAGS[name];
  const left = `  --${name}${flag.value ? ` ${flag.value}` : ''}`;
  return `${left.padEnd(26)}${flag.help}`;
}

const EXIT_CODES = `Exit codes: ${EXIT.done} done, ${EXIT.failed} failed (or a dry run found it not ready), ${EXIT.usage} bad usage (nothing sent), ${EXIT.stillRunning} still running at --timeout, ${EXIT.tryAgain} throttled by the API (nothing started; try again).`;

export function commandUsage(command: CommandName): string {
  const spec: CommandSpec = COMMANDS[command];
  const required = new Set(spec.required ?? []);
  const synopsis = [
    `${PROGRAM} ${command}`,
    ...spec.positionals,
    ...spec.flags
      .filter((flag) => flag !== 'help')
      .map((flag) => {
        const value: string | undefined = (FLAGS[flag] as { value?: string }).value;
        const text = `--${flag}${value ? ` ${value}` : ''}`;
        return required.has(flag) ? text : `[${text}]`;
      }),
  ].join(' ');
  return [
    `Usage: ${synopsis}`,
    '',
    spec.summary + '.',
    '',
    'Options:',
    ...spec.flags.map(flagLine),
    '',
    EXIT_CODES,
  ].join('\n');
}

export function globalUsage(version: string): string {
  return [
    `Usage: ${PROGRAM} <command> [options]   (or: npm run --silent cli -- <command> [options])`,
    '',
    'Commands:',
    ...(Object.keys(COMMANDS) as CommandName[]).map(
      (name) => `  ${name.padEnd(12)}${COMMANDS[name].summary}`,
    ),
    `  ${'help'.padEnd(12)}help COMMAND: that command's options`,
    '',
    'Options for every command: --output text|json, --stack NAME, --region REGION, --help',
    `  ${'--version'.padEnd(12)}The version (${version})`,
    '',
    'Credentials come from the standard AWS chain (environment, profile, SSO, instance role).',
    EXIT_CODES,
  ].join('\n');
}

/** What the command line asks for, or a UsageError that says what is wrong with it. */
export function parseCommandLine(argv: readonly string[], version: string): Parsed {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given', globalUsage(version));
  if (first === '--version' || first === '-v') return { kind: 'version' };
  if (first === '--help' || first === '-h') return { kind: 'help', text: globalUsage(version) };
  if (first === 'help') {
    const [topic, ...extra] = rest;
    if (topic === undefined) return { kind: 'help', text: globalUsage(version) };
    if (!isCommand(topic)) throw new UsageError(`there is no command "${topic}"`, globalUsage(version));
    if (extra.length > 0)
      throw new UsageError(`help takes one command, not "${extra.join(' ')}"`, commandUsage(topic));
    return { kind: 'help', text: commandUsage(topic) };
  }
  if (!isCommand(first)) {
    throw new UsageError(
      first.startsWith('-') ? `the command comes first, before ${first}` : `there is no command "${first}"`,
      globalUsage(version),
    );
  }
  const spec: CommandSpec = COMMANDS[first];
  const usage = commandUsage(first);
  const options = Object.fromEntries(
    spec.flags.map((flag) => [flag, { type: FLAGS[flag].type, ...(flag === 'help' ? { short: 'h' } : {}) }]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...rest], options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(parseProblem(first, spec, error as Error & { code?: string }), usage);
  }
  const flags = parsed.values as FlagValues;
  if (flags.help) return { kind: 'help', text: usage };
  const args = parsed.positionals;
  if (args.length > spec.positionals.length) {
    const extra = args
      .slice(spec.positionals.length)
      .map((arg) => `"${arg}"`)
      .join(' ');
    throw new UsageError(
      `${first} takes ${spec.positionals.length === 0 ? 'no arguments' : spec.positionals.join(' ')}, not ${extra}`,
      usage,
    );
  }
  if (args.length < spec.positionals.length)
    throw new UsageError(`${first} needs ${spec.positionals.join(' ')}`, usage);
  const missing = (spec.required ?? []).filter((flag) => flags[flag] === undefined);
  if (missing.length > 0)
    throw new UsageError(`${first} needs ${missing.map((flag) => `--${flag}`).join(', ')}`, usage);
  if (flags.output !== undefined && flags.output !== 'text' && flags.output !== 'json')
    throw new UsageError(`--output is text or json, not "${flags.output}"`, usage);
  if (flags.timeout !== undefined) {
    if (!flags.follow) throw new UsageError('--timeout goes with --follow', usage);
    if (!/^[1-9][0-9]{0,5}$/.test(flags.timeout))
      throw new UsageError(`--timeout is a number of seconds, not "${flags.timeout}"`, usage);
  }
  if (first === 'uninstall' && !flags.yes && !flags['dry-run'])
    throw new UsageError(
      'uninstall unmaps every mapping: add --yes to do it, or --dry-run to see what it would do',
      usage,
    );
  if (flags.yes && flags['dry-run']) throw new UsageError('--yes and --dry-run contradict each other', usage);
  if (flags.max !== undefined && !/^[1-9][0-9]{0,3}$/.test(flags.max))
    throw new UsageError(`--max is a number from 1 to 9999, not "${flags.max}"`, usage);
  return { kind: 'run', command: first, flags, args };
}

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** A sentence for what node's parser refused: the flag, and what to do instead where that helps. */
function parseProblem(command: CommandName, spec: CommandSpec, error: Error & { code?: string }): string {
  const flag = /'(-{1,2}[^' ]+)/.exec(error.message)?.[1] ?? '';
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const name = flag.replace(/^-+/, '');
    const known = Object.hasOwn(FLAGS, name);
    const why = spec.refusals?.[name];
    return known
      ? `${command} does not take ${flag}${why ? `: ${why}` : ''}`
      : `there is no option ${flag} (${command} takes ${spec.flags.map((f) => `--${f}`).join(', ')})`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return /argument missing/.test(error.message) ? `${flag} needs a value` : `${flag} takes no value`;
  }
  return error.message;
}
