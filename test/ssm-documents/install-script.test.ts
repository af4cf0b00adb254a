import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultLine } from '../../lambda/shared/command-invocations.js';
import { makeCertificate } from '../helpers/certificates.js';
import { embeddedScript } from '../../lib/command-document.js';
import {
  FakeHost,
  INSTALL_SCRIPT,
  INSTALL_SCRIPT_SOURCE,
  bundleFor,
  installScript,
} from '../helpers/install-script.js';

const modeOf = (file: string) => (statSync(file).mode & 0o777).toString(8);
const installed = (host: FakeHost, suffix: string) =>
  path.join(suffix === 'privkey' ? host.keyDirectory : host.certDirectory, `web-server-${suffix}.pem`);

describe.each(['rsa', 'ec'] as const)('install script with an %s key', (keyType) => {
  const certificate = makeCertificate(keyType);

  it('installs leaf, chain, full chain and the decrypted key, with the right modes, and leaves no temp file', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    const run = host.run();

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(readFileSync(installed(host, 'cert'), 'utf8').trim()).toBe(certificate.certificatePem.trim());
    expect(readFileSync(installed(host, 'chain'), 'utf8').trim()).toBe(certificate.chainPem.trim());
    expect(readFileSync(installed(host, 'fullchain'), 'utf8')).toBe(
      `${certificate.certificatePem.trim()}\n${certificate.chainPem.trim()}\n`,
    );
    const key = readFileSync(installed(host, 'privkey'), 'utf8');
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'pem' })).toBe(
      new X509Certificate(certificate.certificatePem).publicKey.export({ type: 'spki', format: 'pem' }),
    );
    expect(['cert', 'chain', 'fullchain'].map((suffix) => modeOf(installed(host, suffix)))).toEqual([
      '644',
      '644',
      '644',
    ]);
    expect(modeOf(installed(host, 'privkey'))).toBe('600');
    expect(statSync(installed(host, 'privkey')).uid).toBe(process.getuid!());
    expect(readdirSync(host.certDirectory).sort()).toEqual(
      ['web-server-cert.pem', 'web-server-chain.pem', 'web-server-fullchain.pem'].sort(),
    );
    expect(readdirSync(host.keyDirectory)).toEqual(['web-server-privkey.pem']);
    expect(readdirSync(host.tmp)).toEqual([]);
  });

  it('reads the secret with the host credentials, by name and Region, and ends with a result line the workflow reads', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    const run = host.run();
    expect(run.awsCalls).toEqual([
      'secretsmanager get-secret-value --region eu-west-1 --secret-id acm-passphrase/web-server/0123456789abcdef --query SecretString --output text',
    ]);
    const lines = run.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^RESULT /);
    const result = resultLine({ CommandPlugins: [{ Output: run.stdout }] });
    expect(result).toEqual({
      cert_name: 'web-server',
      status: 'installed',
      serial: certificate.acmSerial,
      not_after: certificate.notAfter.toISOString().replace('.000Z', 'Z'),
      sha256: new X509Certificate(certificate.certificatePem).fingerprint256,
      formats: 'pem',
      served: 'unchecked',
    });
  });

  it('keeps the files it replaces as .previous', () => {
    const host = new FakeHost();
    const renewed = makeCertificate(keyType);
    host.serveSecret(bundleFor(certificate));
    expect(host.run().status).toBe(0);
    host.serveSecret(bundleFor(renewed));
    expect(host.run().status).toBe(0);
    expect(readFileSync(installed(host, 'cert'), 'utf8').trim()).toBe(renewed.certificatePem.trim());
    expect(readFileSync(`${installed(host, 'cert')}.previous`, 'utf8').trim()).toBe(
      certificate.certificatePem.trim(),
    );
    expect(modeOf(`${installed(host, 'privkey')}.previous`)).toBe('600');
    expect(readdirSync(host.tmp)).toEqual([]);
  });
});

describe('install script run again with the same certificate', () => {
  const certificate = makeCertificate('ec');

  /** Each file's inode, modification time, mode, owner and bytes. */
  function files(host: FakeHost) {
    return Object.fromEntries(
      [host.certDirectory, host.keyDirectory].flatMap((directory) =>
        readdirSync(directory).map((name) => {
          const file = path.join(directory, name);
          const { ino, mtimeMs, mode, uid, gid } = statSync(file);
          return [file, { ino, mtimeMs, mode, uid, gid, content: readFileSync(file, 'utf8') }];
        }),
      ),
    );
  }

  function installedTwice() {
    const host = new FakeHost();
    const reloads = path.join(host.root, 'reloads');
    const reload = host.addCommand('reload-web', `#!/bin/bash\necho reloaded >>'${reloads}'\n`);
    host.serveSecret(bundleFor(certificate));
    const first = host.run({ ReloadCommand: reload });
    expect(first.status).toBe(0);
    expect(resultLine({ CommandPlugins: [{ Output: first.stdout }] })?.status).toBe('installed');
    return {
      host,
      reload,
      reloadCount: () => readFileSync(reloads, 'utf8').split('\n').filter(Boolean).length,
    };
  }

  it('touches no file and runs no reload, and says so', () => {
    const { host, reload, reloadCount } = installedTwice();
    const before = files(host);
    const second = host.run({ ReloadCommand: reload });
    expect(second.stderr).toBe('');
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('already hold this certificate; nothing was written or reloaded');
    expect(resultLine({ CommandPlugins: [{ Output: second.stdout }] })).toMatchObject({
      status: 'unchanged',
      serial: certificate.acmSerial,
    });
    expect(files(host)).toEqual(before);
    expect(reloadCount()).toBe(1);
    expect(readdirSync(host.tmp)).toEqual([]);
  });

  it.each([
    ['a key readable by others', (host: FakeHost) => chmodSync(installed(host, 'privkey'), 0o644)],
    ['a deleted full chain', (host: FakeHost) => rmSync(installed(host, 'fullchain'))],
    ['an edited chain', (host: FakeHost) => writeFileSync(installed(host, 'chain'), 'edited\n')],
  ])('installs again, and reloads, over %s', (_, drift) => {
    const { host, reload, reloadCount } = installedTwice();
    drift(host);
    const again = host.run({ ReloadCommand: reload });
    expect(again.status).toBe(0);
    expect(resultLine({ CommandPlugins: [{ Output: again.stdout }] })?.status).toBe('installed');
    expect(modeOf(installed(host, 'privkey'))).toBe('600');
    expect(readFileSync(installed(host, 'fullchain'), 'utf8')).toBe(
      `${certificate.certificatePem.trim()}\n${certificate.chainPem.trim()}\n`,
    );
    expect(readFileSync(installed(host, 'chain'), 'utf8').trim()).toBe(certificate.chainPem.trim());
    expect(reloadCount()).toBe(2);
  });
});

describe('install script failures change nothing on the host', () => {
  const certificate = makeCertificate('rsa');
  const other = makeCertificate('rsa', 'other.example.com');

  function hostWithGoodInstall() {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run().status).toBe(0);
    return { host, before: host.state() };
  }

  it.each([
    [
      'a wrong passphrase',
      () => bundleFor(other, { passphrase: 'not-the-passphrase' }),
      /cannot decrypt the private key/,
    ],
    [
      'the key of another certificate',
      () => bundleFor(other, { key: certificate.privateKeyPem }),
      /private key does not belong to the certificate/,
    ],
    ['a missing chain', () => bundleFor(other, { chain: '' }), /holds no certificate chain/],
    [
      'a chain that does not sign the certificate',
      () => bundleFor(other, { chain: certificate.chainPem }),
      /chain in the secret does not verify/,
    ],
    ['a bundle that is not one', () => 'not a bundle', /holds no passphrase/],
  ])('refuses %s', (_, secret, message) => {
    const { host, before } = hostWithGoodInstall();
    host.serveSecret(secret());
    const run = host.run();
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(message);
    expect(host.state()).toEqual(before);
    expect(readdirSync(host.tmp)).toEqual([]);
  });

  it('says so when the host may not read the secret', () => {
    const host = new FakeHost();
    const run = host.run();
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(
      /cannot read secret acm-passphrase\/web-server\/0123456789abcdef: .*AccessDeniedException/,
    );
  });

  it('puts the previous files back when the reload command fails', () => {
    const { host, before } = hostWithGoodInstall();
    const reload = host.addCommand(
      'reload-web',
      '#!/bin/bash\necho "nginx: configuration test failed" >&2\nexit 1\n',
    );
    host.serveSecret(bundleFor(other));
    const run = host.run({ ReloadCommand: `${reload} now` });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(
      /reload command '.*reload-web now' failed \(exit 1; its last line: nginx: configuration test failed\); the previous files are restored/,
    );
    expect(host.state(reload)).toEqual(before);
  });

  it('removes a first install again when its reload fails', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    const run = host.run({ ReloadCommand: 'false' });
    expect(run.status).not.toBe(0);
    expect(readdirSync(host.certDirectory)).toEqual([]);
    expect(readdirSync(host.keyDirectory)).toEqual([]);
  });

  it('runs the reload command as plain words after a good install', () => {
    const host = new FakeHost();
    const log = path.join(host.root, 'reloaded');
    const reload = host.addCommand(
      'reload-web',
      `#!/bin/bash\nprintf '%s|' "$@" >'${log}'\ntest -f '${host.certDirectory}/web-server-fullchain.pem'\n`,
    );
    host.serveSecret(bundleFor(certificate));
    const run = host.run({ ReloadCommand: `${reload} reload nginx.service` });
    expect(run.status).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe('reload|nginx.service|');
  });

  it('puts everything back when a write fails half-way through', () => {
    const { host, before } = hostWithGoodInstall();
    // The last rename (the key, after the certificate files) fails, as on a full or read-only disk.
    const mv = host.addCommand(
      'mv',
      '#!/bin/bash\nif [[ ${*: -1} == *-privkey.pem && ${*: -2:1} == */new-* ]]; then echo "mv: cannot move: No space left on device" >&2; exit 1; fi\nexec /bin/mv "$@"\n',
    );
    host.serveSecret(bundleFor(other));
    const run = host.run();
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(
      /cannot put web-server-privkey.pem in place \(mv: cannot move: No space left on device\); the previous files are restored/,
    );
    expect(run.stderr).not.toContain('could not all be put back');
    expect(host.state(mv)).toEqual(before);
    expect(readdirSync(host.tmp)).toEqual([]);
  });

  it('stops before writing when a directory cannot be used', () => {
    const { host, before } = hostWithGoodInstall();
    host.serveSecret(bundleFor(other));
    const run = host.run({ KeyDirectory: `${installed(host, 'cert')}/not-a-directory` });
    expect(run.status).not.toBe(0);
    expect(host.state()).toEqual(before);
  });
});

describe('install script parameters', () => {
  const certificate = makeCertificate('ec');

  it.each([
    ['CertName', '../../etc/cron.d/x'],
    ['CertName', 'a;reboot'],
    ['CertName', '$(id)'],
    ['CertName', '`id`'],
    ['CertName', 'web\nserver'],
    ['CertName', 'a'.repeat(300)],
    ['CertName', ''],
    ['SecretId', 'acm-passphrase/../../other/0123456789abcdef'],
    ['SecretId', 'other-prefix/web/0123456789abcdef'],
    ['Region', 'eu-west-1;id'],
    ['CertDirectory', '/etc/ssl/../cron.d'],
    ['CertDirectory', 'relative/path'],
    ['KeyDirectory', '/etc/ssl/private dir'],
    ['FileOwner', 'root;id'],
    ['FileGroup', '$(id)'],
    ['ReloadCommand', 'systemctl reload nginx; reboot'],
    ['ReloadCommand', 'systemctl reload $(id)'],
    ['ReloadCommand', 'echo `id`'],
    ['ReloadCommand', 'cat /etc/shadow > /tmp/x'],
    ['Formats', 'pem,der'],
    ['Formats', 'pem;id'],
    ['Pkcs12Encryption', 'rc2'],
    ['VerifySeconds', '301'],
    ['VerifySeconds', '-1'],
    ['VerifyEndpoint', 'localhost'],
    ['VerifyEndpoint', '127.0.0.1:99999'],
    ['VerifyEndpoint', '127.0.0.1:0'],
    ['VerifyEndpoint', '$(id):443'],
    ['VerifyEndpoint', '-proxy:443'],
    ['VerifyServerName', '-connect'],
    ['VerifyServerName', 'a b'],
  ])('the script itself refuses %s=%j and writes nothing', (name, value) => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    const run = host.run({ [name]: value });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`parameter ${name} is not valid`);
    expect(run.awsCalls).toEqual([]);
    expect(existsSync(host.certDirectory)).toBe(false);
  });

  it('is clean under shellcheck (when installed; CI installs it)', (context) => {
    if (spawnSync('shellcheck', ['--version']).error) context.skip('shellcheck is not installed');
    const result = spawnSync('shellcheck', [INSTALL_SCRIPT_SOURCE], { encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  it('is carried by the documents without comments and indentation only, which it can lose safely', () => {
    const source = installScript();
    // No heredoc, and no quoted text that runs onto a line of its own (which trimming would change).
    expect(source).not.toMatch(/<<-?\s*['"]?[A-Za-z_]+/);
    for (const line of source.split('\n')) {
      const code = line.replace(/(^|\s)#.*$/, '');
      const quotes = (
        code
          .replace(/\\./g, '')
          .replace(/'[^']*'/g, '')
          .match(/"/g) ?? []
      ).length;
      expect(quotes % 2, line).toBe(0);
    }
    const deployed = readFileSync(INSTALL_SCRIPT, 'utf8');
    expect(deployed).toBe(embeddedScript(source));
    expect(spawnSync('bash', ['-n', INSTALL_SCRIPT]).status).toBe(0);
    expect(deployed.length).toBeLessThan(source.length);
  });
});
