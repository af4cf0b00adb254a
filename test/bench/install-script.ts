/**
 * The install script on one host, with real bash and openssl: what a first install costs, what a repeat
 * of the same certificate costs (it writes nothing and does not reload), two overlapping installs of
 * one name, which the lock runs one after the other, the same with every format (the keystore is
 * compared by what it holds, which costs two PKCS#12 decryptions), the served-certificate check against
 * a real TLS server on loopback, the run after one SIGKILLed while reloading (it undoes that, reloads,
 * then installs), and the drift check. Wall times, medians of a few runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeCertificate } from '../helpers/certificates.js';
import { FakeHost, INSTALL_SCRIPT, bundleFor } from '../helpers/install-script.js';
import { startTlsServer } from '../helpers/tls-server.js';

const ALL_FORMATS = { Formats: 'pem,combined,pkcs12' };

const SAMPLES = 5;

export async function benchInstallScript(): Promise<void> {
  const certificate = makeCertificate('rsa');
  const renewed = makeCertificate('rsa');
  const first: number[] = [];
  const repeat: number[] = [];
  const overlapping: number[] = [];
  const allFirst: number[] = [];
  const allRepeat: number[] = [];
  const verified: number[] = [];
  const recovering: number[] = [];
  const checks: number[] = [];
  for (let sample = 0; sample < SAMPLES; sample++) {
    const host = new FakeHost();
    try {
      host.serveSecret(bundleFor(certificate));
      first.push(timed(() => expectSuccess(host.run())));
      repeat.push(timed(() => expectSuccess(host.run())));
      host.serveSecret(bundleFor(renewed));
      const started = performance.now();
      const runs = await Promise.all([host.runConcurrently(), host.runConcurrently()]);
      runs.forEach(expectSuccess);
      overlapping.push(performance.now() - started);
    } finally {
      rmSync(host.root, { recursive: true, force: true });
    }
    const killedHost = new FakeHost();
    try {
      killedHost.serveSecret(bundleFor(certificate));
      // The reload is slow (and says it started) only while the file slow exists: the run after the kill
      // runs the same command again, quickly.
      const started = path.join(killedHost.root, 'reload-started');
      const slow = path.join(killedHost.root, 'slow');
      const reload = killedHost.addCommand(
        'reload',
        `#!/bin/bash\nif [[ -e '${slow}' ]]; then touch '${started}'; sleep 1; fi\n`,
      );
      expectSuccess(killedHost.run());
      killedHost.serveSecret(bundleFor(renewed));
      writeFileSync(slow, '');
      const child = spawn(INSTALL_SCRIPT, [], {
        env: killedHost.environmentFor({ ReloadCommand: reload }),
        detached: true,
        stdio: 'ignore',
      });
      while (!existsSync(started)) await new Promise((resolve) => setTimeout(resolve, 5));
      process.kill(-child.pid!, 'SIGKILL');
      await new Promise((resolve) => child.once('close', resolve));
      rmSync(slow);
      recovering.push(timed(() => expectSuccess(killedHost.run({ ReloadCommand: reload }))));
      checks.push(timed(() => expectSuccess(killedHost.run({ Action: 'Check' }))));
    } finally {
      rmSync(killedHost.root, { recursive: true, force: true });
    }
    const formatsHost = new FakeHost();
    const server = await startTlsServer(formatsHost.root, renewed);
    try {
      formatsHost.serveSecret(bundleFor(certificate));
      allFirst.push(timed(() => expectSuccess(formatsHost.run(ALL_FORMATS))));
      allRepeat.push(timed(() => expectSuccess(formatsHost.run(ALL_FORMATS))));
      formatsHost.serveSecret(bundleFor(renewed));
      const endpoint = { VerifyEndpoint: `127.0.0.1:${server.port}` };
      verified.push(timed(() => expectSuccess(formatsHost.run({ ...ALL_FORMATS, ...endpoint }))));
    } finally {
      server.stop();
      rmSync(formatsHost.root, { recursive: true, force: true });
    }
  }
  console.log('\nInstall script on one host (bash, real openssl RSA 2048; median of 5)');
  console.log(`  first install                          ${ms(first)}`);
  console.log(`  same certificate again (unchanged)     ${ms(repeat)}   writes nothing, no reload`);
  console.log(`  two installs of one name at once       ${ms(overlapping)}   one after the other (lock)`);
  console.log(`  first install, pem+combined+pkcs12     ${ms(allFirst)}`);
  console.log(`  same again, every format (unchanged)   ${ms(allRepeat)}   keystore compared by contents`);
  console.log(`  renewal, every format, served check    ${ms(verified)}   one TLS handshake on loopback`);
  console.log(`  next run after a kill while reloading  ${ms(recovering)}   undo, reload, then install`);
  console.log(`  drift check (Action=Check)             ${ms(checks)}   reads only`);
}

function expectSuccess(run: { status: number; stderr: string }): void {
  if (run.status !== 0) throw new Error(`install failed: ${run.stderr}`);
}

function timed(action: () => void): number {
  const started = performance.now();
  action();
  return performance.now() - started;
}

function ms(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${sorted[Math.floor(sorted.length / 2)]!.toFixed(0).padStart(5)} ms`;
}
