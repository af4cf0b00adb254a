import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import * as path from 'node:path';
import { formatCertificateBundle } from '../../lambda/shared/certificate-secret.js';
import { DEFAULT_HOST_INSTALL } from '../../lambda/shared/install-parameters.js';
import { type CommandDocumentContent, commandDocumentContent } from '../../lib/command-document.js';
import { ssmScriptFile } from '../../lib/paths.js';
import { type TestCertificate, encryptAsAcmDoes } from './certificates.js';
import type { ServiceUser } from './service-user.js';

/** The install document as the stack deploys it (its script embedded). */
export function installDocument(): CommandDocumentContent {
  return commandDocumentContent('install-acm-certificate');
}

/** The install script's source file, as editors and shellcheck read it. */
export const INSTALL_SCRIPT_SOURCE = ssmScriptFile('install-acm-certificate');

export function installScript(): string {
  return readFileSync(INSTALL_SCRIPT_SOURCE, 'utf8');
}

/** The install script as the documents carry it, and as SSM Agent writes it out: the file the tests run. */
export const INSTALL_SCRIPT = path.join(
  mkdtempSync(path.join(tmpdir(), 'deployed-')),
  'install-acm-certificate.sh',
);
writeFileSync(INSTALL_SCRIPT, installDocument().mainSteps[0]!.inputs.runCommand![0]!, { mode: 0o755 });

/** The install script as a member account's documents carry it: the central secrets read by ARN. */
function memberInstallScript(secretsArn: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'deployed-member-')), 'install-acm-certificate.sh');
  const content = commandDocumentContent('install-acm-certificate', 'install-acm-certificate', {
    secretsArn,
  });
  writeFileSync(file, content.mainSteps[0]!.inputs.runCommand![0]!, { mode: 0o755 });
  return file;
}

export const isRoot = process.getuid?.() === 0;

/** Every ASCII punctuation mark ACM takes in a passphrase, so the host's handling of it is exercised. */
export const TEST_PASSPHRASE = `Aa1!"&'()*+,-./:;<=>?@[\\]^_\`{|}~${'z'.repeat(30)}`;

/** The secret string the export step stores for `certificate`; options make it wrong on purpose. */
export function bundleFor(
  certificate: TestCertificate,
  options: { passphrase?: string; chain?: string; key?: string } = {},
): string {
  return formatCertificateBundle({
    passphrase: options.passphrase ?? TEST_PASSPHRASE,
    encryptedPrivateKey: encryptAsAcmDoes(options.key ?? certificate.privateKeyPem, TEST_PASSPHRASE),
    certificate: certificate.certificatePem,
    certificateChain: options.chain ?? certificate.chainPem,
  });
}

/** The secrets a command or association names: its Certificates list, or its one SecretId. */
export function secretIdsOf(parameters: Record<string, string[] | undefined>): string[] {
  return [...(parameters.Certificates?.[0] ?? '').split(' '), parameters.SecretId?.[0] ?? ''].filter(Boolean);
}

/** One PutComplianceItems call, as the node made it with the AWS CLI. */
export interface ComplianceReport {
  readonly region?: string;
  readonly 'resource-id'?: string;
  readonly 'resource-type'?: string;
  readonly 'compliance-type'?: string;
  readonly 'execution-summary'?: string;
  readonly items: {
    Id: string;
    Title: string;
    Severity: string;
    Status: 'COMPLIANT' | 'NON_COMPLIANT';
    Details: Record<string, string>;
  }[];
}

export interface HostRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  /** What the fake `aws` command was asked. */
  readonly awsCalls: string[];
}

/**
 * A throwaway host: a temporary root for the install directories, its own lock and journal directories
 * (the host's /run/cert-lifecycle and /var/lib/cert-lifecycle), a TMPDIR (to prove the script never
 * uses it), and a fake `aws` on
 * PATH that serves one secret string. Everything lives under the test's temporary directory, which the
 * test setup removes.
 */
/** A managed node the workflow harness's SSM runs the install document on, as SSM Agent would. */
export interface AgentHost {
  /** Which of the install document's steps the node runs. */
  readonly platformType: 'Linux' | 'Windows';
  serveSecret(secretString: string): void;
  serveSecretFor(secretId: string, secretString: string): void;
  runAsAgent(parameters: Record<string, string[] | undefined>): {
    status: number;
    stdout: string;
    stderr: string;
  };
}

export class FakeHost implements AgentHost {
  readonly platformType = 'Linux' as const;
  /** The role the fake AWS side says asked, when it refuses: as Secrets Manager words a refusal. */
  static readonly ROLE_ARN = 'arn:aws:sts::111122223333:assumed-role/web-hosts/i-0123456789abcdef0';
  static readonly ACCESS_DENIED = `An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: ${FakeHost.ROLE_ARN} is not authorized to perform: secretsmanager:GetSecretValue on resource: acm-passphrase/web-server/0123456789abcdef because no identity-based policy allows the secretsmanager:GetSecretValue action`;
  readonly root = mkdtempSync(path.join(tmpdir(), 'host-'));
  readonly bin = path.join(this.root, 'bin');
  readonly tmp = path.join(this.root, 'tmp');
  readonly runDirectory = path.join(this.root, 'run', 'cert-lifecycle');
  /** The host's /var/lib/cert-lifecycle: where the journal of an install in progress is kept. */
  readonly stateDirectory = path.join(this.root, 'var', 'lib', 'cert-lifecycle');
  /** The product's default directories, under this host's root. */
  readonly certDirectory = path.join(this.root, DEFAULT_HOST_INSTALL.certDirectory);
  readonly keyDirectory = path.join(this.root, DEFAULT_HOST_INSTALL.keyDirectory);
  readonly owner = userInfo().username;
  readonly group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
  private readonly secretFile = path.join(this.root, 'secret.txt');
  private readonly awsLog = path.join(this.root, 'aws-calls.log');
  /** Secrets served by id (several certificates on one host); the one above serves any id. */
  private readonly secretsDirectory = path.join(this.root, 'secrets');
  private readonly complianceLog = path.join(this.root, 'compliance.log');
  private readonly complianceRefusal = path.join(this.root, 'compliance-refusal.txt');
  /** The script this host runs: the deployment's own, or a member account's. */
  readonly script: string;
  /** In a member account: the prefix its documents put before a secret's name. */
  private readonly secretsArn: string;

  /** `secretsArn`: the host is in a member account, whose documents read the central secrets by ARN. */
  constructor(options: { readonly secretsArn?: string } = {}) {
    this.script = options.secretsArn ? memberInstallScript(options.secretsArn) : INSTALL_SCRIPT;
    this.secretsArn = options.secretsArn ?? '';
    mkdirSync(this.bin);
    mkdirSync(this.tmp);
    mkdirSync(path.dirname(this.runDirectory));
    mkdirSync(path.dirname(this.stateDirectory), { recursive: true });
    mkdirSync(this.secretsDirectory);
    this.addCommand(
      'aws',
      [
        '#!/bin/bash',
        `printf '%s\\n' "$*" >>'${this.awsLog}'`,
        'if [[ $1 == --version ]]; then echo "aws-cli/2.22.35 Python/3.12.6 Linux/6.1.0 exe/x86_64.amzn.2023"; exit 0; fi',
        // A node reporting its compliance: kept, one JSON line per call, for the tests to read.
        'if [[ "$1 $2" == "ssm put-compliance-items" ]]; then',
        `  if [[ -f '${this.complianceRefusal}' ]]; then cat '${this.complianceRefusal}' >&2; exit 254; fi`,
        `  node -e 'const a=process.argv.slice(1);const o={};for(let i=0;i<a.length;i+=2)o[a[i].slice(2)]=a[i+1];console.log(JSON.stringify(o))' -- "\${@:3}" >>'${this.complianceLog}'`,
        '  exit 0',
        'fi',
        'if [[ "$1 $2" != "secretsmanager get-secret-value" ]]; then echo "unexpected aws call: $*" >&2; exit 2; fi',
        // The secret asked for: its own file when the test serves several, else the one served.
        'secret=""; previous=""; for word in "$@"; do if [[ $previous == --secret-id ]]; then secret=$word; fi; previous=$word; done',
        `file='${this.secretFile}'; own='${this.secretsDirectory}/'$(printf '%s' "$secret" | tr / _)`,
        'if [[ -f $own ]]; then file=$own; fi',
        `if [[ ! -f $file ]]; then echo "${FakeHost.ACCESS_DENIED}" >&2; exit 254; fi`,
        // What the real CLI prints for --query VersionId: the version, not the secret.
        `if [[ " $* " == *" --query VersionId "* ]]; then echo 7c2e9f1a-0000-4000-8000-000000000001; exit 0; fi`,
        'cat "$file"',
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

  /** Serves `secretString` for `secretId` only (the others keep what serveSecret serves). */
  serveSecretFor(secretId: string, secretString: string): void {
    // A member host asks for the central secret by ARN: that is the id it is served under.
    const asked = secretId.startsWith('arn:') ? secretId : `${this.secretsArn}${secretId}`;
    writeFileSync(path.join(this.secretsDirectory, asked.replaceAll('/', '_')), secretString);
  }

  /** Makes the node's PutComplianceItems calls fail with `message`, as the CLI prints a refusal. */
  refuseCompliance(message: string): void {
    writeFileSync(this.complianceRefusal, message);
  }

  /** Every PutComplianceItems call the node made, its flags as given (items parsed). */
  complianceReports(): ComplianceReport[] {
    return readLog(this.complianceLog).map((line) => {
      const flags = JSON.parse(line) as Record<string, string>;
      return { ...flags, items: JSON.parse(flags.items ?? '[]') as ComplianceReport['items'] };
    });
  }

  /**
   * Everything on this host (each entry's type, mode, owner and content) but the fake AWS side (the
   * secret served and the calls logged) and `ignored`: what a failed install must leave as it was.
   */
  state(...ignored: string[]): Record<string, string> {
    return treeSnapshot(
      this.root,
      (file) =>
        file === this.secretFile ||
        file === this.awsLog ||
        file.startsWith(this.secretsDirectory) ||
        file === this.complianceLog ||
        ignored.includes(file),
    );
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
    if (!isRoot) Object.assign(values, { FileOwner: this.owner, FileGroup: this.group });
    return this.run(values);
  }

  run(parameters: Record<string, string> = {}, environment: Record<string, string> = {}): HostRun {
    const before = readLog(this.awsLog).length;
    const result = spawnSync(this.script, [], {
      env: this.environmentFor(parameters, environment),
      encoding: 'utf8',
      cwd: this.root,
    });
    return {
      status: result.status ?? -1,
      stdout: result.stdout,
      stderr: result.stderr,
      awsCalls: readLog(this.awsLog).slice(before),
    };
  }

  /** The same run, without waiting: for installs that overlap. */
  runConcurrently(parameters: Record<string, string> = {}, environment: Record<string, string> = {}) {
    return new Promise<Omit<HostRun, 'awsCalls'>>((resolve, reject) => {
      const child = spawn(this.script, [], {
        env: this.environmentFor(parameters, environment),
        cwd: this.root,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
    });
  }

  /** The environment SSM Agent gives the script for these parameters, plus `extra`. */
  environmentFor(parameters: Record<string, string> = {}, extra: Record<string, string> = {}) {
    const env: Record<string, string> = {
      PATH: `${this.bin}:${process.env.PATH}`,
      TMPDIR: this.tmp,
      CERT_LIFECYCLE_RUN_DIRECTORY: this.runDirectory,
      CERT_LIFECYCLE_STATE_DIRECTORY: this.stateDirectory,
      SSM_CertName: 'web-server',
      SSM_SecretId: 'acm-passphrase/web-server/0123456789abcdef',
      SSM_Region: 'eu-west-1',
      SSM_CertDirectory: this.certDirectory,
      SSM_KeyDirectory: this.keyDirectory,
      SSM_FileOwner: this.owner,
      SSM_FileGroup: this.group,
      SSM_ReloadCommand: '',
      ...extra,
    };
    for (const [name, value] of Object.entries(parameters)) env[`SSM_${name}`] = value;
    return env;
  }
}

function readLog(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** What a file system tree holds: every entry's type, mode, owner and content (or link target). */
export function treeSnapshot(root: string, skip: (file: string) => boolean = () => false) {
  const entries: Record<string, string> = {};
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      if (skip(file)) continue;
      const stat = lstatSync(file);
      const owner = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`;
      if (stat.isSymbolicLink()) entries[file] = `link ${owner} -> ${readlinkSync(file)}`;
      else if (stat.isDirectory()) {
        entries[file] = `dir ${owner}`;
        visit(file);
      } else {
        const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
        entries[file] = `file ${owner} ${digest} links=${stat.nlink}`;
      }
    }
  };
  visit(root);
  return entries;
}

/**
 * A host where a service user owns the way to its certificates: /opt/app and /opt/app/tls are its own,
 * and it is also the owner of the installed files (the README's Tomcat and files-only recipes). Victims
 * elsewhere on the host: a sudoers drop-in, an authorized_keys file and a directory, all root's.
 * `elsewhere()` is everything on the host but the service's directory, the install's own lock, journal
 * and scratch directories, and the fake AWS side.
 */
export function hostOwnedBy(user: ServiceUser) {
  const host = new FakeHost();
  for (const dir of [process.env.TMPDIR!, host.root]) chmodSync(dir, 0o755);
  const app = path.join(host.root, 'opt/app');
  const tls = path.join(app, 'tls');
  mkdirSync(tls, { recursive: true });
  for (const dir of [app, tls]) chownSync(dir, user.uid, user.gid);
  const victims = path.join(host.root, 'victims');
  mkdirSync(path.join(victims, 'dir'), { recursive: true });
  writeFileSync(path.join(victims, 'sudoers'), 'root ALL=(ALL:ALL) ALL\n', { mode: 0o440 });
  writeFileSync(path.join(victims, 'authorized_keys'), 'ssh-ed25519 AAAAC3Nz admin\n', { mode: 0o600 });
  writeFileSync(path.join(victims, 'dir', 'existing'), 'x\n', { mode: 0o644 });
  const parameters = { CertDirectory: tls, KeyDirectory: tls, FileOwner: user.name, FileGroup: user.name };
  const elsewhere = () =>
    treeSnapshot(
      host.root,
      (file) =>
        [app, host.tmp, host.runDirectory, host.stateDirectory].some((own) => file.startsWith(own)) ||
        /(aws-calls\.log|secret\.txt|compliance\.log)$/.test(file) ||
        file.includes(`${host.root}/secrets`),
    );
  return { host, app, tls, victims, parameters, elsewhere };
}
