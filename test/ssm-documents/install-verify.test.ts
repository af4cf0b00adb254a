import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resultLine } from '../../lambda/shared/command-invocations.js';
import { makeCertificate } from '../helpers/certificates.js';
import { FakeHost, bundleFor } from '../helpers/install-script.js';
import { freePort, startTlsServer } from '../helpers/tls-server.js';

/*
 * The served-certificate check against a real TLS service: `openssl s_server` on a loopback port,
 * serving the new certificate, the old one, or nothing; and a reload command that restarts it from the
 * installed files, as `systemctl reload` would.
 */

const result = (stdout: string) => resultLine({ CommandPlugins: [{ Output: stdout }] });
/** The wait for the service, short in tests: a failing check takes this long (10 s by default). */
const QUICK = { VerifySeconds: '1' };

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

describe('served-certificate verification', () => {
  const old = makeCertificate('ec');
  const renewed = makeCertificate('ec');

  /** A host holding `old`, installed without a check, and the secret now holding `renewed`. */
  function hostWithOldInstalled() {
    const host = new FakeHost();
    host.serveSecret(bundleFor(old));
    expect(host.run().status).toBe(0);
    host.serveSecret(bundleFor(renewed));
    return host;
  }

  async function serve(
    host: FakeHost,
    ...args: Parameters<typeof startTlsServer> extends [string, ...infer R] ? R : never
  ) {
    const server = await startTlsServer(host.root, ...args);
    stops.push(server.stop);
    return server;
  }

  /** A reload command that restarts the service from the installed files, as a real reload would. */
  function restartingReload(host: FakeHost, port: number, pid: number) {
    const pidFile = path.join(host.root, 'service.pid');
    const reloads = path.join(host.root, 'reloads');
    const script = host.addCommand(
      'reload-service',
      [
        '#!/bin/bash',
        `echo reload >>'${reloads}'`,
        `kill "$(cat '${pidFile}')" 2>/dev/null || true`,
        'sleep 0.2',
        `openssl s_server -quiet -accept 127.0.0.1:${port} -cert '${host.certDirectory}/web-server-cert.pem'` +
          ` -key '${host.keyDirectory}/web-server-privkey.pem' </dev/null >/dev/null 2>&1 &`,
        `echo $! >'${pidFile}'`,
      ].join('\n'),
    );
    writeFileSync(pidFile, String(pid));
    stops.push(() => {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        // already gone
      }
    });
    return { script, reloadCount: () => readFileSync(reloads, 'utf8').split('\n').filter(Boolean).length };
  }

  it('passes when the service serves the installed certificate, and says which serial it served', async () => {
    const host = hostWithOldInstalled();
    const server = await serve(host, renewed);
    const run = host.run({ ...QUICK, VerifyEndpoint: `127.0.0.1:${server.port}` });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(
      `127.0.0.1:${server.port} serves serial ${renewed.acmSerial}, the installed certificate`,
    );
    expect(result(run.stdout)).toMatchObject({
      status: 'installed',
      serial: renewed.acmSerial,
      served: renewed.acmSerial,
    });
  });

  it('follows a reload that restarts the service from the new files', async () => {
    const host = hostWithOldInstalled();
    const server = await serve(host, old);
    const { script, reloadCount } = restartingReload(host, server.port, server.process.pid!);
    const run = host.run({ VerifyEndpoint: `127.0.0.1:${server.port}`, ReloadCommand: script });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(result(run.stdout)).toMatchObject({ status: 'installed', served: renewed.acmSerial });
    expect(reloadCount()).toBe(1);
  });

  it('restores the previous files, reloads again and fails, when the service still serves the old certificate', async () => {
    const host = hostWithOldInstalled();
    const server = await serve(host, old);
    const reloads = path.join(host.root, 'reloads');
    const reload = host.addCommand('reload-service', `#!/bin/bash\necho reload >>'${reloads}'\n`);
    const before = host.state(reload, reloads);
    const run = host.run({ ...QUICK, VerifyEndpoint: `127.0.0.1:${server.port}`, ReloadCommand: reload });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      `ERROR: the service does not serve the new certificate (serial ${renewed.acmSerial}) after 1 s: ` +
        `127.0.0.1:${server.port} serves serial ${old.acmSerial}; the previous files are restored and the service reloaded\n`,
    );
    expect(host.state(reload, reloads)).toEqual(before);
    expect(readFileSync(reloads, 'utf8')).toBe('reload\nreload\n');
  });

  it('restores the previous files and fails when nothing answers on the endpoint', async () => {
    const host = hostWithOldInstalled();
    const port = await freePort();
    const before = host.state();
    const run = host.run({ ...QUICK, VerifyEndpoint: `127.0.0.1:${port}` });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`: no TLS answer on 127\\.0\\.0\\.1:${port}; the previous files are restored\\n$`),
    );
    expect(host.state()).toEqual(before);
  });

  it('asks for the SNI name given, and gets the certificate served for it', async () => {
    const host = hostWithOldInstalled();
    const server = await serve(host, old, { name: 'app.example.com', certificate: renewed });
    const withName = host.run({
      ...QUICK,
      VerifyEndpoint: `127.0.0.1:${server.port}`,
      VerifyServerName: 'app.example.com',
    });
    expect(withName.status).toBe(0);
    expect(result(withName.stdout)).toMatchObject({ served: renewed.acmSerial });
    // Without the name (an address sends none), the same service answers with its default: the old one.
    host.serveSecret(bundleFor(makeCertificate('ec')));
    const withoutName = host.run({ ...QUICK, VerifyEndpoint: `127.0.0.1:${server.port}` });
    expect(withoutName.stderr).toContain(`serves serial ${old.acmSerial}`);
  });

  it('reloads a service that kept the old certificate though the files are current, and says so', async () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(renewed));
    expect(host.run().status).toBe(0);
    const server = await serve(host, old);
    const { script, reloadCount } = restartingReload(host, server.port, server.process.pid!);
    const run = host.run({ VerifyEndpoint: `127.0.0.1:${server.port}`, ReloadCommand: script });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('the service was reloaded to serve it');
    expect(result(run.stdout)).toMatchObject({ status: 'reloaded', served: renewed.acmSerial });
    expect(reloadCount()).toBe(1);
  });

  it('fails without touching current files when the service serves another and no reload is set', async () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(renewed));
    expect(host.run().status).toBe(0);
    const server = await serve(host, old);
    const before = host.state();
    const run = host.run({ VerifyEndpoint: `127.0.0.1:${server.port}` });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      `but 127.0.0.1:${server.port} serves serial ${old.acmSerial}, and no reload command is set`,
    );
    expect(host.state()).toEqual(before);
  });
});
