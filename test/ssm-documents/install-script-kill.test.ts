import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultLine } from '../../lambda/shared/command-invocations.js';
import { dryRunDocumentContent } from '../../lib/command-document.js';
import { makeCertificate } from '../helpers/certificates.js';
import { ended } from '../helpers/service-user.js';
import {
  FakeHost,
  INSTALL_SCRIPT,
  bundleFor,
  installDocument,
  treeSnapshot,
} from '../helpers/install-script.js';

/*
 * SSM Agent ends a cancelled or timed-out command with SIGKILL to the whole process group: no trap runs.
 * These tests kill the install at instants spread over a whole run, then let the next run of the name
 * (one that cannot even read its secret) recover, and hold the host to: the previous files or the new,
 * verified ones, nothing staged left, no key anywhere but the target directories and the root-only
 * scratch directory, and a service last reloaded with what is on disk.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const result = (stdout: string) => resultLine({ CommandPlugins: [{ Output: stdout }] });

const first = makeCertificate('rsa');
const second = makeCertificate('ec');
const FORMATS = { Formats: 'pem,combined' };

/**
 * A host holding `first`, with `second` in its secret, that installs slowly enough to be killed anywhere
 * (each rename, link and copy now takes 10 ms more), and whose reload command logs the serial of the
 * certificate file on disk, then takes 200 ms.
 */
function slowHost() {
  const host = new FakeHost();
  const reloads = path.join(host.root, 'reloads.log');
  const reload = host.addCommand(
    'reload-service',
    `#!/bin/bash\nopenssl x509 -noout -serial -in '${host.certDirectory}/web-server-cert.pem' >>'${reloads}'\nsleep 0.2\n`,
  );
  const parameters = { ...FORMATS, ReloadCommand: reload };
  /** The host's files but its test tools, its own paths written as <root> so that two hosts compare. */
  const state = () =>
    Object.fromEntries(
      Object.entries(
        treeSnapshot(
          host.root,
          (file) =>
            file.startsWith(`${host.bin}/`) || /(aws-calls\.log|secret\.txt|reloads\.log)$/.test(file),
        ),
      ).map(([file, entry]) => [file.replace(host.root, '<root>'), entry]),
    );
  const lastReloadSerial = () => readFileSync(reloads, 'utf8').trim().split('\n').at(-1);
  const diskSerial = () =>
    spawnSync(
      'openssl',
      ['x509', '-noout', '-serial', '-in', path.join(host.certDirectory, 'web-server-cert.pem')],
      {
        encoding: 'utf8',
      },
    ).stdout.trim();
  host.serveSecret(bundleFor(first));
  const installed = host.run(parameters);
  expect(installed.status, installed.stderr).toBe(0);
  host.serveSecret(bundleFor(second));
  for (const tool of ['mv', 'ln', 'cat'])
    host.addCommand(tool, `#!/bin/bash\nsleep 0.01\nexec /usr/bin/${tool} "$@"\n`);
  return { host, parameters, state, lastReloadSerial, diskSerial };
}

/** Every file under the host that holds a private key, but the targets and the install's own places. */
function strayKeys(host: FakeHost): string[] {
  return Object.keys(treeSnapshot(host.root)).filter(
    (file) =>
      !/web-server-(privkey|combined)\.pem(\.previous)?$/.test(file) &&
      !/\/\.web-server~install\.[0-9a-f]{16}\/(new|old)-\d+$/.test(file) &&
      !file.startsWith(path.join(host.runDirectory, 'web-server.work')) &&
      !file.endsWith('secret.txt') &&
      lstatSync(file).isFile() &&
      readFileSync(file, 'latin1').includes('PRIVATE KEY'),
  );
}

describe('install script killed with its whole process group', () => {
  it('leaves, once the next run has recovered, the previous files or the new verified ones, and no key elsewhere', async () => {
    // The two outcomes, from one host run to the end.
    const reference = slowHost();
    const before = reference.state();
    const started = Date.now();
    expect(reference.host.run(reference.parameters).status).toBe(0);
    const runMs = Date.now() - started;
    const after = reference.state();

    const outcomes: Record<string, number> = { before: 0, after: 0, journaled: 0 };
    const trials = 16;
    for (let trial = 1; trial <= trials; trial++) {
      const { host, parameters, state, lastReloadSerial, diskSerial } = slowHost();
      const child = spawn(INSTALL_SCRIPT, [], {
        env: host.environmentFor(parameters),
        detached: true,
        stdio: 'ignore',
      });
      await sleep((trial / trials) * runMs * 1.1);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // it had ended
      }
      await ended(child);
      expect(strayKeys(host), `trial ${trial}`).toEqual([]);
      expect(readdirSync(host.tmp), `trial ${trial}`).toEqual([]);
      if (existsSync(path.join(host.stateDirectory, 'web-server.journal'))) outcomes.journaled! += 1;

      // The next run: it cannot read its secret, so all it does is recover what the killed one left.
      rmSync(path.join(host.root, 'secret.txt'));
      const next = host.run(FORMATS);
      expect(next.stderr, `trial ${trial}`).toMatch(/^ERROR: cannot read secret/m);
      const now = state();
      const outcome = JSON.stringify(now) === JSON.stringify(before) ? 'before' : 'after';
      expect(now, `trial ${trial}: the previous files or the new ones, nothing staged`).toEqual(
        outcome === 'before' ? before : after,
      );
      outcomes[outcome]! += 1;
      expect(lastReloadSerial(), `trial ${trial}: the service last reloaded with the files on disk`).toBe(
        diskSerial(),
      );
    }
    // The kills fell before, during and after the change.
    expect(outcomes.before).toBeGreaterThan(0);
    expect(outcomes.after).toBeGreaterThan(0);
    expect(outcomes.journaled).toBeGreaterThanOrEqual(5);
  }, 240_000);

  it('is finished by the next install, which then installs and verifies the new certificate', async () => {
    const { host, parameters, lastReloadSerial, diskSerial } = slowHost();
    const child = spawn(INSTALL_SCRIPT, [], {
      env: host.environmentFor(parameters),
      detached: true,
      stdio: 'ignore',
    });
    // Killed while its reload runs: the new files are in place, unverified.
    while (
      !readFileSync(path.join(host.root, 'reloads.log'), 'utf8').includes(
        second.acmSerial.replace(/:/g, '').toUpperCase(),
      )
    )
      await sleep(5);
    process.kill(-child.pid!, 'SIGKILL');
    await ended(child);
    expect(existsSync(path.join(host.stateDirectory, 'web-server.journal'))).toBe(true);
    const next = host.run(parameters);
    expect(next.stderr).toBe('');
    expect(next.stdout).toContain(
      'an install of web-server on this host was interrupted (reloading); it is undone: the previous files are back, and the service reloaded with them',
    );
    expect(result(next.stdout)).toMatchObject({ status: 'installed', serial: second.acmSerial });
    expect(lastReloadSerial()).toBe(diskSerial());
    expect(readdirSync(host.certDirectory).filter((name) => name.includes('~install'))).toEqual([]);
  }, 60_000);
});

describe('install script deadline: it stops and rolls back by itself before SSM would kill it', () => {
  it('stops a reload that hangs, puts the previous files back and says so', () => {
    const { host, state } = slowHost();
    const hang = host.addCommand('reload-hangs', '#!/bin/bash\nsleep 300\n');
    const before = state();
    const run = spawnSync(INSTALL_SCRIPT, [], {
      env: host.environmentFor({ ...FORMATS, ReloadCommand: hang }, { CERT_LIFECYCLE_RELOAD_SECONDS: '2' }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.signal).toBeNull();
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      `ERROR: reload command '${hang}' did not finish within 2 s; the previous files are restored\n`,
    );
    expect(state()).toEqual(before);
  });

  it('waits for the lock only as long as the rest of the run leaves before the command times out', async () => {
    const { host, parameters } = slowHost();
    const held = path.join(host.root, 'held');
    const holder = spawn(
      'flock',
      [path.join(host.runDirectory, 'install-web-server.lock'), 'bash', '-c', `touch '${held}'; sleep 60`],
      { stdio: 'ignore', detached: true },
    );
    while (!existsSync(held)) await sleep(20);
    try {
      // 120 s in all: 30 s of margin, then 82 s for the secret, the work and three reloads of up to 7 s.
      const run = host.run(
        { ...parameters, VerifySeconds: '1' },
        { CERT_LIFECYCLE_EXECUTION_TIMEOUT: '120', CERT_LIFECYCLE_RELOAD_SECONDS: '2' },
      );
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(
        /^ERROR: another install of web-server has run on this host for more than [78] s; nothing was changed/,
      );
    } finally {
      process.kill(-holder.pid!, 'SIGTERM');
      await ended(holder);
    }
  }, 60_000);

  it('refuses at once a profile whose served check and reloads cannot fit the command', () => {
    const { host, parameters } = slowHost();
    const run = host.run(parameters, { CERT_LIFECYCLE_EXECUTION_TIMEOUT: '100' });
    expect(run.stderr).toBe(
      "ERROR: a run with VerifySeconds 10 and reloads of up to 60 s cannot finish within the command's 100 s; nothing was changed\n",
    );
  });

  it("keeps its deadline inside the documents' own executionTimeout", () => {
    const script = readFileSync(INSTALL_SCRIPT, 'utf8');
    const timeout = Number(/^execution_timeout=(\d+) /m.exec(script)![1]);
    // The document gives a list of certificates its whole time; each one's run gets what is left of it,
    // 600 s at most (the deadline below), and none starts with less than 120 s.
    const documentTimeout = Number(installDocument().mainSteps[0]!.inputs.timeoutSeconds);
    expect(script).toContain(`run_seconds=\${CERT_LIFECYCLE_EXECUTION_TIMEOUT:-${documentTimeout}}`);
    expect(script).toMatch(/\(\(left <= 600\)\) \|\| left=600/);
    expect(timeout).toBe(600);
    // The longest run a profile can ask for (VerifySeconds 300) still leaves time to wait for the lock.
    const afterLock = 40 + 5 + 15 + 3 * (60 + 5) + 300;
    expect(timeout - 30 - afterLock).toBeGreaterThan(0);

    const dryRunTimeout = Number(/if \(\(dry_run\)\); then execution_timeout=(\d+); fi/.exec(script)![1]);
    expect(dryRunDocumentContent().mainSteps[0]!.inputs.timeoutSeconds).toBe(String(dryRunTimeout));
    // A rehearsal reads the secret and the files, and reloads nothing.
    expect(dryRunTimeout - 30 - (40 + 5 + 15 + 10)).toBeGreaterThan(0);
  });
});

describe('install script interrupted while it rolls back', () => {
  it('finishes putting every previous file back, and says so once', async () => {
    const { host, state } = slowHost();
    const restoring = path.join(host.root, 'restoring');
    // The rollback's renames (old files back from the staging directory) signal that they have begun.
    host.addCommand(
      'mv',
      `#!/bin/bash\nif [[ $3 == */old-* ]]; then touch '${restoring}'; sleep 0.5; fi\nexec /usr/bin/mv "$@"\n`,
    );
    const failing = host.addCommand('reload-fails', '#!/bin/bash\nexit 1\n');
    const before = state();
    const child = spawn(INSTALL_SCRIPT, [], {
      env: host.environmentFor({ ...FORMATS, ReloadCommand: failing }),
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    while (!existsSync(restoring)) await sleep(10);
    child.kill('SIGTERM');
    await ended(child);
    expect(child.exitCode).toBe(1);
    expect(stderr).toBe(
      `ERROR: reload command '${failing}' failed (exit 1; it printed nothing); the previous files are restored\n`,
    );
    const now = state();
    delete now[restoring.replace(host.root, '<root>')];
    expect(now).toEqual(before);
  }, 60_000);
});
