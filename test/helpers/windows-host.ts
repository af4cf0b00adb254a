import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { commandDocumentContent, embeddedPowerShell } from '../../lib/command-document.js';
import { ssmPowerShellFile } from '../../lib/paths.js';
import { formatCertificateBundle } from '../../lambda/shared/certificate-secret.js';
import { pfxOf, windowsKeystore } from '../../lambda/shared/pkcs12.js';
import { type TestCertificate, encryptAsAcmDoes } from './certificates.js';
import type { AgentHost } from './install-script.js';
import { PWSH, PWSH_ENVIRONMENT, pwsh } from './powershell.js';

/** The Windows step's script as the install document carries it. */
export const WINDOWS_SCRIPT_SOURCE = ssmPowerShellFile('install-acm-certificate');
const FAKES = path.join(import.meta.dirname, 'windows-fakes.ps1');

const deployed = path.join(
  mkdtempSync(path.join(tmpdir(), 'windows-script-')),
  'install-acm-certificate.ps1',
);
writeFileSync(deployed, embeddedPowerShell(readFileSync(WINDOWS_SCRIPT_SOURCE, 'utf8')));

/** The Windows step's script as a member account's document carries it (secrets read by ARN). */
function memberScript(secretsArn: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'windows-member-script-')), 'install.ps1');
  const step = commandDocumentContent('install-acm-certificate-windows', 'install-acm-certificate', {
    secretsArn,
  }).mainSteps[0]!;
  writeFileSync(file, step.inputs.runCommand![0]!);
  return file;
}

/** The file the tests run: the script as the Windows document carries it. */
export function deployedScript(): string {
  return deployed;
}

export interface WindowsRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The RESULT line's fields. */
  readonly result?: Record<string, string>;
  readonly error?: string;
}

const PASSPHRASE = 'an ACM passphrase';

/** The secret's text for `certificate`: what the export writes (with its Windows keystore). */
export function windowsBundle(
  certificate: TestCertificate,
  options: { keyOf?: TestCertificate; password?: string; keystore?: boolean } = {},
): string {
  const keystore =
    options.keyOf === undefined
      ? windowsKeystore({
          certificate: certificate.certificatePem,
          certificateChain: certificate.chainPem,
          encryptedPrivateKey: encryptAsAcmDoes(certificate.privateKeyPem, PASSPHRASE),
          passphrase: PASSPHRASE,
        })
      : {
          pfx: pfxOf(
            certificate.certificatePem,
            certificate.chainPem,
            createPrivateKey(options.keyOf.privateKeyPem),
            'wrong-key',
          ),
          password: 'wrong-key',
        };
  return formatCertificateBundle({
    passphrase: PASSPHRASE,
    encryptedPrivateKey: encryptAsAcmDoes(certificate.privateKeyPem, PASSPHRASE),
    certificate: certificate.certificatePem,
    certificateChain: certificate.chainPem,
    ...(options.keystore === false
      ? {}
      : { windowsKeystore: { pfx: keystore.pfx, password: options.password ?? keystore.password } }),
  });
}

/** The thumbprint Windows shows: SHA-1 of the DER, upper-case hex. */
export function thumbprintOf(certificate: TestCertificate): string {
  return new X509Certificate(certificate.certificatePem).fingerprint.replace(/:/g, '');
}

/**
 * A Windows host on Linux: the real script under pwsh with its Windows-only operations replaced
 * (windows-fakes.ps1), a CurrentUser\My store of its own (its own HOME), and files the tests read.
 */
export class FakeWindowsHost implements AgentHost {
  readonly platformType = 'Windows' as const;
  readonly root = mkdtempSync(path.join(tmpdir(), 'windows-host-'));
  readonly home = path.join(this.root, 'home');
  private readonly script: string;
  private readonly secretsArn: string;

  /** `secretsArn`: the host is in a member account, whose documents read the central secrets by ARN. */
  constructor(options: { readonly secretsArn?: string } = {}) {
    this.script = options.secretsArn ? memberScript(options.secretsArn) : deployed;
    this.secretsArn = options.secretsArn ?? '';
    for (const directory of [this.home, path.join(this.root, 'secrets'), path.join(this.root, 'faults')]) {
      mkdirSync(directory, { recursive: true });
    }
    writeFileSync(path.join(this.root, 'bindings.json'), '{}');
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  putSecret(secretId: string, text: string): void {
    writeFileSync(path.join(this.root, 'secrets', secretId.replace(/\//g, '_')), text);
  }

  serveSecretFor(secretId: string, text: string): void {
    // A member host asks for the central secret by ARN: that is the id it is served under.
    this.putSecret(secretId.startsWith('arn:') ? secretId : `${this.secretsArn}${secretId}`, text);
  }

  /** The workflow harness names every secret it serves (serveSecretFor): nothing else is read here. */
  serveSecret(): void {}

  /**
   * The install document's Windows step as SSM Agent runs it here: each parameter of the command (the
   * Linux ones too, which the script never reads) as an SSM_* variable, the step's output and status.
   */
  runAsAgent(parameters: Record<string, string[] | undefined>): {
    status: number;
    stdout: string;
    stderr: string;
  } {
    const values = Object.fromEntries(
      Object.entries(parameters).map(([name, value]) => [name, value?.[0] ?? '']),
    );
    const result = spawnSync(PWSH, this.command(), { env: this.environment(values), encoding: 'utf8' });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  }

  /** IIS (`iis:<site>:<port>:<host>`) and HTTP.sys (`httpsys:<kind>=<endpoint>`) bindings, by key. */
  setBindings(bindings: Record<string, string>): void {
    const entries = Object.fromEntries(
      Object.entries(bindings).map(([key, thumbprint]) => [
        key,
        { Thumbprint: thumbprint, AppId: '{4dc3e181-e14b-4a21-b022-59fc669b0914}' },
      ]),
    );
    writeFileSync(path.join(this.root, 'bindings.json'), JSON.stringify(entries));
  }

  bindings(): Record<string, string> {
    const entries = JSON.parse(readFileSync(path.join(this.root, 'bindings.json'), 'utf8')) as Record<
      string,
      { Thumbprint: string }
    >;
    return Object.fromEntries(Object.entries(entries).map(([key, value]) => [key, value.Thumbprint]));
  }

  /** Thumbprints a binding the profile does not name still uses. */
  usedElsewhere(...thumbprints: string[]): void {
    writeFileSync(path.join(this.root, 'in-use'), thumbprints.join('\n'));
  }

  fault(name: 'store-add' | 'binding' | 'compliance' | 'hang-after-bind', value = ''): void {
    writeFileSync(path.join(this.root, 'faults', name), value);
  }

  clearFaults(): void {
    rmSync(path.join(this.root, 'faults'), { recursive: true, force: true });
    mkdirSync(path.join(this.root, 'faults'));
  }

  calls(): string[] {
    const file = path.join(this.root, 'calls.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  }

  clearCalls(): void {
    rmSync(path.join(this.root, 'calls.log'), { force: true });
  }

  compliance(): { Type: string; Id: string; Status: string; Details: Record<string, string> }[] {
    const file = path.join(this.root, 'compliance.log');
    return existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line))
      : [];
  }

  state(certName: string): Record<string, unknown> | undefined {
    const file = path.join(this.root, `state-${certName}.json`);
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : undefined;
  }

  /** The store's certificates: thumbprint and whether the store holds its key. */
  store(): Record<string, boolean> {
    const output = pwsh(
      "$s = New-Object System.Security.Cryptography.X509Certificates.X509Store -ArgumentList 'My','CurrentUser'; $s.Open('ReadOnly'); foreach ($c in $s.Certificates) { \"$($c.Thumbprint) $($c.HasPrivateKey)\" }",
      { HOME: this.home },
    );
    return Object.fromEntries(
      output
        .split('\n')
        .filter(Boolean)
        .map((line) => [line.split(' ')[0]!, line.endsWith('True')]),
    );
  }

  private command(): string[] {
    return [
      '-NoLogo',
      '-NoProfile',
      '-NonInteractive',
      '-Command',
      `. '${this.script}' -DefineOnly; . '${FAKES}'; exit (Invoke-Main)`,
    ];
  }

  private environment(parameters: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...PWSH_ENVIRONMENT,
      PATH: process.env.PATH,
      HOME: this.home,
      FAKE_ROOT: this.root,
      DOTNET_CLI_TELEMETRY_OPTOUT: '1',
    };
    for (const [name, value] of Object.entries({ Region: 'us-east-1', ...parameters }))
      env[`SSM_${name}`] = value;
    return env;
  }

  start(parameters: Record<string, string>): ChildProcess {
    return spawn(PWSH, this.command(), {
      env: this.environment(parameters),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
  }

  run(parameters: Record<string, string>): Promise<WindowsRun> {
    return collect(this.start(parameters));
  }
}

export function collect(child: ChildProcess): Promise<WindowsRun> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      const resultLine = stdout
        .split('\n')
        .filter((line) => line.startsWith('RESULT '))
        .pop();
      const errorLine = stderr
        .split('\n')
        .filter((line) => line.startsWith('ERROR: '))
        .pop();
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout,
        stderr,
        ...(resultLine
          ? {
              result: Object.fromEntries(
                resultLine
                  .slice(7)
                  .trim()
                  .split(' ')
                  .map((field) => [field.split('=')[0]!, field.slice(field.indexOf('=') + 1)]),
              ),
            }
          : {}),
        ...(errorLine ? { error: errorLine.slice(7).trim() } : {}),
      });
    }),
  );
}
