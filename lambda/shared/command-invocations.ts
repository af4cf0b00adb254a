import { type CommandInvocation, type SSMClient, paginateListCommandInvocations } from '@aws-sdk/client-ssm';

/** Every invocation of a command, with the plugins' output, all pages. */
export async function listInvocations(ssm: SSMClient, commandId: string): Promise<CommandInvocation[]> {
  const invocations: CommandInvocation[] = [];
  const pages = paginateListCommandInvocations(
    { client: ssm, pageSize: 50 },
    { CommandId: commandId, Details: true },
  );
  for await (const page of pages) invocations.push(...(page.CommandInvocations ?? []));
  return invocations;
}

/** The line the install and check documents print last; its `key=value` fields describe the host. */
const RESULT_LINE_PREFIX = 'RESULT ';

/** What a run printed: every plugin's output (SSM appends the error output to it). */
export function pluginOutput(invocation: CommandInvocation): string {
  return (invocation.CommandPlugins ?? []).map((plugin) => plugin.Output ?? '').join('\n');
}

/** What SSM Agent prints for a step whose precondition (its platform) the node does not meet. */
const SKIPPED_STEP = 'Step execution skipped due to unsatisfied preconditions';

/**
 * Whether the node skipped every step: neither platform's (a macOS node). Every node skips the other
 * platform's step, so one skipped step says nothing.
 */
export function everyStepSkipped(invocation: CommandInvocation): boolean {
  const plugins = invocation.CommandPlugins ?? [];
  return plugins.length > 0 && plugins.every((plugin) => (plugin.Output ?? '').includes(SKIPPED_STEP));
}

/** The last line of a document's output (its error output included) that starts with `prefix`. */
export function lastLineStartingWith(invocation: CommandInvocation, prefix: string): string | undefined {
  return pluginOutput(invocation)
    .split('\n')
    .map((text) => text.trim())
    .filter((text) => text.startsWith(prefix))
    .pop();
}

/** Parses `RESULT key=value key=value` from the last such line the document printed, if it did. */
export function resultLine(invocation: CommandInvocation): Record<string, string> | undefined {
  const line = lastLineStartingWith(invocation, RESULT_LINE_PREFIX);
  if (!line) return undefined;
  const fields: Record<string, string> = {};
  for (const pair of line.slice(RESULT_LINE_PREFIX.length).split(/\s+/)) {
    const separator = pair.indexOf('=');
    if (separator > 0) fields[pair.slice(0, separator)] = pair.slice(separator + 1);
  }
  return fields;
}

/** The line the install document prints when it fails; its words say what went wrong on the host. */
const ERROR_LINE_PREFIX = 'ERROR: ';
const LONGEST_ERROR = 300;

/** The last `ERROR: …` line a document printed (SSM appends its error output to the plugin output). */
export function errorLine(invocation: CommandInvocation): string | undefined {
  const line = lastLineStartingWith(invocation, ERROR_LINE_PREFIX);
  return line?.slice(ERROR_LINE_PREFIX.length, ERROR_LINE_PREFIX.length + LONGEST_ERROR);
}
