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
 * `ssm-documents/<name>.yaml` with its one shell step's script read from `<script>.sh` beside it (its
 * own `<name>.sh` unless the document runs another's script), byte for byte, as one element of
 * `runCommand` (SSM Agent writes it out whole and runs it with its `#!/bin/bash`). The script lives in
 * its own file so editors, shellcheck and the tests use exactly what is deployed.
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
  return { ...document, mainSteps: [{ ...step, inputs: { ...step.inputs, runCommand: [text] } }] };
}
