import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ssmDocumentFile, ssmScriptFile } from './paths.js';

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
  readonly mainSteps: {
    action: string;
    name: string;
    inputs: { timeoutSeconds?: string; runCommand: string[] };
  }[];
}

/**
 * A host script as a document carries it: without its comment lines and indentation, which are for
 * readers of the file and cost SSM's 64 KB document quota (which counts every step's script and the
 * parameters a command sends). Nothing else changes, so the scripts must hold no heredoc and no quoted
 * text spanning lines (tests check both, and run this form).
 */
export function embeddedScript(text: string): string {
  const [shebang, ...lines] = text.split('\n');
  const kept = lines.map((line) => line.trimStart()).filter((line) => line !== '' && !line.startsWith('#'));
  return [shebang, ...kept, ''].join('\n');
}

/**
 * `ssm-documents/<name>.yaml` with its one shell step's script read from `<script>.sh` beside it (its
 * own `<name>.sh` unless the document runs another's script), as `embeddedScript` makes it, as one
 * element of `runCommand` (SSM Agent writes it out whole and runs it with its `#!/bin/bash`). The script
 * lives in its own file so editors and shellcheck read it; the tests run what is deployed.
 */
export function commandDocumentContent(name: string, script = name): CommandDocumentContent {
  const document = parse(readFileSync(ssmDocumentFile(name), 'utf8')) as CommandDocumentContent;
  const [step, ...others] = document.mainSteps;
  if (!step || others.length > 0 || step.action !== 'aws:runShellScript') {
    throw new Error(`${name}.yaml must have exactly one aws:runShellScript step`);
  }
  if (step.inputs.runCommand !== undefined) {
    throw new Error(`${name}.yaml must leave runCommand to ${script}.sh`);
  }
  const text = readFileSync(ssmScriptFile(script), 'utf8');
  if (!text.startsWith('#!/bin/bash\n')) throw new Error(`${script}.sh must start with #!/bin/bash`);
  const runCommand = [embeddedScript(text)];
  return { ...document, mainSteps: [{ ...step, inputs: { ...step.inputs, runCommand } }] };
}

/**
 * The dry run's document: its own Action (Preflight or Rehearse) beside every parameter of the install
 * document, as the install defines them, so that a dry run is sent exactly what an install would be.
 */
export function dryRunDocumentContent(): CommandDocumentContent {
  const own = commandDocumentContent('dry-run-acm-certificate', 'install-acm-certificate');
  const install = commandDocumentContent('install-acm-certificate');
  return { ...own, parameters: { ...own.parameters, ...install.parameters } };
}
