import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ssmDocumentFile } from '../../lib/paths.js';

/** The install document as deployed, parsed. */
export interface InstallDocument {
  readonly schemaVersion: string;
  readonly parameters: Record<
    string,
    { type: string; allowedPattern: string; maxChars: number; default?: string; interpolationType?: string }
  >;
  readonly mainSteps: { action: string; inputs: { runCommand: string[] } }[];
}

export function installDocument(): InstallDocument {
  return parse(readFileSync(ssmDocumentFile('install-acm-certificate'), 'utf8')) as InstallDocument;
}

/** The script exactly as the document holds it (what SSM Agent writes out and runs). */
export function installScript(): string {
  return installDocument()
    .mainSteps.flatMap((step) => step.inputs.runCommand)
    .join('\n');
}

export interface HostRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  /** What the fake `aws` command was asked. */
  readonly awsCalls: string[];
}

/**
 * A throwaway host: a temporary root for the install directories, a private TMPDIR (to prove the script
 * leaves nothing behind), and a fake `aws` on PATH that serves one secret string.
 */
export class FakeHost {
  readonly root = mkdtempSync(path.join(tmpdir(), 'host-'));
  readonly bin = path.join(this.root, 'bin');
  readonly tmp = path.join(this.root, 'tmp');
  readonly certDirectory = path.join(this.root, 'etc/ssl/certs');
  readonly keyDirectory = path.join(this.root, 'etc/ssl/private');
  readonly owner = userInfo().username;
  readonly group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
  private readonly secretFile = path.join(this.root, 'secret.txt');
  private readonly awsLog = path.join(this.root, 'aws-calls.log');
  private readonly scriptFile = path.join(this.root, '_script.sh');

  constructor() {
    mkdirSync(this.bin);
    mkdirSync(this.tmp);
    writeFileSync(this.scriptFile, installScript(), { mode: 0o700 });
    this.addCommand(
      'aws',
      [
        '#!/bin/bash',
        `printf '%s\\n' "$*" >>'${this.awsLog}'`,
        'if [[ "$1 $2" != "secretsmanager get-secret-value" ]]; then echo "unexpected aws call: $*" >&2; exit 2; fi',
        `if [[ ! -f '${this.secretFile}' ]]; then echo "An error occurred (AccessDeniedException) when calling the GetSecretValue operation: not authorized" >&2; exit 254; fi`,
        `cat '${this.secretFile}'`,
      ].join('\n'),
    );
  }

  /** Puts an executable on the host's PATH, ahead of the real ones. */
  addCommand(name: string, script: string): string {
    const file = path.join(this.bin, name);
    writeFileSync(file, script);
    chmodSync(file, 0o755);
    return file;
  }

  serveSecret(secretString: string): void {
    writeFileSync(this.secretFile, secretString);
  }

  /**
   * What SSM Agent does with a SendCommand for this host: the document's parameters become SSM_*
   * variables; the install directories are rerooted under this host's temporary root, and the files are
   * owned by the test's own user when the tests do not run as root.
   */
  runAsAgent(parameters: Record<string, string[] | undefined>): HostRun {
    const values: Record<string, string> = {};
    for (const [name, value] of Object.entries(parameters)) values[name] = value?.[0] ?? '';
    for (const name of ['CertDirectory', 'KeyDirectory']) {
      if (values[name]) values[name] = path.join(this.root, values[name]);
    }
    if (process.getuid?.() !== 0) Object.assign(values, { FileOwner: this.owner, FileGroup: this.group });
    return this.run(values);
  }

  run(parameters: Record<string, string> = {}): HostRun {
    const env: Record<string, string> = {
      PATH: `${this.bin}:${process.env.PATH}`,
      TMPDIR: this.tmp,
      SSM_CertName: 'web-server',
      SSM_SecretId: 'acm-passphrase/web-server/0123456789abcdef',
      SSM_Region: 'eu-west-1',
      SSM_CertDirectory: this.certDirectory,
      SSM_KeyDirectory: this.keyDirectory,
      SSM_FileOwner: this.owner,
      SSM_FileGroup: this.group,
      SSM_ReloadCommand: '',
    };
    for (const [name, value] of Object.entries(parameters)) env[`SSM_${name}`] = value;
    const before = readLog(this.awsLog).length;
    const result = spawnSync('bash', [this.scriptFile], { env, encoding: 'utf8', cwd: this.root });
    return {
      status: result.status ?? -1,
      stdout: result.stdout,
      stderr: result.stderr,
      awsCalls: readLog(this.awsLog).slice(before),
    };
  }
}

function readLog(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
