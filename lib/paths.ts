import * as path from 'node:path';

/** The repository root, from which handlers, documents and state machines are read. */
export const PROJECT_ROOT = path.resolve(import.meta.dirname, '..');

export const handlerEntry = (handlerName: string): string =>
  path.join(PROJECT_ROOT, 'lambda', handlerName, 'handler.ts');

export const stateMachineFile = (name: string): string =>
  path.join(PROJECT_ROOT, 'state-machines', `${name}.asl.json`);

export const ssmDocumentFile = (name: string): string =>
  path.join(PROJECT_ROOT, 'ssm-documents', `${name}.yaml`);

/** The shell script of a document's one `aws:runShellScript` step, kept beside the document. */
export const ssmScriptFile = (name: string): string => path.join(PROJECT_ROOT, 'ssm-documents', `${name}.sh`);

/** The PowerShell script of a document's `aws:runPowerShellScript` step (Windows), kept beside the document. */
export const ssmPowerShellFile = (name: string): string =>
  path.join(PROJECT_ROOT, 'ssm-documents', `${name}.ps1`);

export const ssmDocumentsDirectory = (): string => path.join(PROJECT_ROOT, 'ssm-documents');
