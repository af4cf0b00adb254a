import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ssmDocumentFile, ssmPowerShellFile, ssmScriptFile } from './paths.js';

/** A schema 2.2 Command document's content, as SSM receives it. */
export interface CommandDocumentContent {
  readonly schemaVersion: string;
  readonly description?: string;
  readonly parameters: Record<
    string,
    {
      type: string;
      description?: string;
      allowedPattern: string;
      maxChars: number;
      default?: string;
      interpolationType?: string;
    }
  >;
  readonly mainSteps: CommandStep[];
}

/** A step: a script (Linux shell or Windows PowerShell), or another document run on the same host. */
export interface CommandStep {
  readonly action: string;
  readonly name: string;
  readonly precondition?: { StringEquals: [string, string] };
  readonly inputs: {
    timeoutSeconds?: string;
    runCommand?: string[];
    documentType?: string;
    documentPath?: string;
    documentParameters?: Record<string, string>;
  };
}

/** The document a Windows step runs (its deployed name), where the document has such a step. */
export interface CommandDocumentOptions {
  readonly windowsDocumentName?: string;
  /**
   * In a member account: the ARN prefix of the central account's secrets
   * (`arn:<partition>:secretsmanager:<region>:<account>:secret:`), which the host puts before each secret
   * name (a secret in another account is read by its ARN).
   */
  readonly secretsArn?: string;
}

/** The line of each script that a member account's documents set to the central secrets' ARN prefix. */
const SECRETS_ARN_LINE = { sh: /^secrets_arn=''(?= |$)/m, ps1: /^\$SecretsArn = ''$/m } as const;

function withSecretsArn(text: string, kind: keyof typeof SECRETS_ARN_LINE, arn: string | undefined): string {
  if (arn === undefined) return text;
  if (!/^[^'\s]+:secret:$/.test(arn)) throw new Error(`not a secret ARN prefix: ${arn}`);
  if (!SECRETS_ARN_LINE[kind].test(text)) throw new Error(`the .${kind} script has no secrets ARN line`);
  return text.replace(
    SECRETS_ARN_LINE[kind],
    kind === 'sh' ? `secrets_arn='${arn}'` : `$SecretsArn = '${arn}'`,
  );
}

/**
 * A host script as a document carries it: without its comments and indentation, which are for
 * readers of the file and cost SSM's 64 KB document quota (which counts every step's script and the
 * parameters a command sends). Nothing else changes, so the scripts must hold no heredoc and no quoted
 * text spanning lines (tests check both, and run this form).
 */
export function embeddedScript(text: string): string {
  const [shebang, ...lines] = text.split('\n');
  const kept = lines
    .map((line) => withoutTrailingComment(line.trimStart()))
    .filter((line) => line !== '' && !line.startsWith('#'));
  return [shebang, ...kept, ''].join('\n');
}

/**
 * A line without the comment that ends it: a ` # ` after code whose quotes are all closed, with no quote
 * in the comment itself (anything less plain is kept as it is).
 */
function withoutTrailingComment(line: string): string {
  const match = /^(.*?\S)\s+# [^'"`]*$/.exec(line);
  if (!match) return line;
  const code = match[1]!;
  const closed = (quote: string) => code.split(quote).length % 2 === 1;
  return closed("'") && closed('"') && !code.includes('\\') && !code.includes('<<') ? code : line;
}

/**
 * A PowerShell script as a document carries it: without comment lines, blank lines and indentation (the
 * script holds no block comment, here-string or quoted text spanning lines; tests check this, and run
 * this form). SSM Agent writes the lines to a `.ps1` file and runs it with `powershell.exe -f`.
 */
export function embeddedPowerShell(text: string): string {
  const kept = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return [...kept, ''].join('\n');
}

/**
 * `ssm-documents/<name>.yaml` with each script step's script read from beside it (`<script>.sh` for the
 * Linux `aws:runShellScript` step, `<script>.ps1` for a Windows `aws:runPowerShellScript` step), as
 * `embeddedScript` and `embeddedPowerShell` make them, each one element of `runCommand` (SSM Agent writes
 * it out whole and runs it). An `aws:runDocument` step runs the Windows document under its deployed
 * name. The scripts live in their own files so editors and linters read them; the tests run what is
 * deployed.
 */
export function commandDocumentContent(
  name: string,
  script = name,
  options: CommandDocumentOptions = {},
): CommandDocumentContent {
  const document = parse(readFileSync(ssmDocumentFile(name), 'utf8')) as CommandDocumentContent;
  const scripts = document.mainSteps.filter((step) => step.action !== 'aws:runDocument');
  if (
    scripts.length !== 1 ||
    !['aws:runShellScript', 'aws:runPowerShellScript'].includes(scripts[0]!.action)
  ) {
    throw new Error(
      `${name}.yaml must have exactly one script step (aws:runShellScript or aws:runPowerShellScript)`,
    );
  }
  const mainSteps = document.mainSteps.map((step): CommandStep => {
    if (step.action === 'aws:runDocument') {
      if (step.inputs.documentType !== 'SSMDocument' || !step.inputs.documentPath) {
        throw new Error(`${name}.yaml: step ${step.name} must run an SSM document by name`);
      }
      return options.windowsDocumentName
        ? { ...step, inputs: { ...step.inputs, documentPath: options.windowsDocumentName } }
        : step;
    }
    if (step.inputs.runCommand !== undefined) {
      throw new Error(`${name}.yaml must leave runCommand to the script beside it`);
    }
    if (step.action === 'aws:runPowerShellScript') {
      return {
        ...step,
        inputs: {
          ...step.inputs,
          runCommand: [
            embeddedPowerShell(
              withSecretsArn(readFileSync(ssmPowerShellFile(script), 'utf8'), 'ps1', options.secretsArn),
            ),
          ],
        },
      };
    }
    const text = withSecretsArn(readFileSync(ssmScriptFile(script), 'utf8'), 'sh', options.secretsArn);
    if (!text.startsWith('#!/bin/bash\n')) throw new Error(`${script}.sh must start with #!/bin/bash`);
    return { ...step, inputs: { ...step.inputs, runCommand: [embeddedScript(text)] } };
  });
  return { ...document, mainSteps };
}

/**
 * The dry run's document: its own Action (Preflight or Rehearse) beside every parameter of the install
 * document, as the install defines them, so that a dry run is sent exactly what an install would be.
 */
export function dryRunDocumentContent(options: CommandDocumentOptions = {}): CommandDocumentContent {
  const own = commandDocumentContent('dry-run-acm-certificate', 'install-acm-certificate', options);
  const install = commandDocumentContent('install-acm-certificate');
  return { ...own, parameters: { ...own.parameters, ...install.parameters } };
}
