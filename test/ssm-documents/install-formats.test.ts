import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultLine } from '../../lambda/shared/command-invocations.js';
import { makeCertificate } from '../helpers/certificates.js';
import { FakeHost, bundleFor } from '../helpers/install-script.js';

/*
 * The formats a profile may ask for, made by the real install script from a real bundle, and opened by
 * the tools the services use: openssl for every file, and Java's keytool for the keystore. keytool
 * comes with the JDK of the CI image; where it is missing the keytool test is skipped outside CI and
 * fails in CI.
 */

const modeOf = (file: string) => (statSync(file).mode & 0o777).toString(8);
const hasKeytool = spawnSync('keytool', ['-help'], { stdio: 'ignore' }).status === 0;
const result = (stdout: string) => resultLine({ CommandPlugins: [{ Output: stdout }] });
const spkiOf = (pem: string) =>
  createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'pem' }).toString();
const certificateSpki = (pem: string) =>
  new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'pem' }).toString();

function openssl(args: string[]) {
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** What a keystore holds, as `openssl pkcs12` prints it with the password from the file beside it. */
function keystore(host: FakeHost, options: string[] = []) {
  const [p12, pass] = ['web-server-keystore.p12', 'web-server-keystore.pass'].map((name) =>
    path.join(host.keyDirectory, name),
  );
  return openssl(['pkcs12', '-in', p12!, '-passin', `file:${pass}`, '-nodes', ...options]);
}

const pemBlocks = (text: string, label: string) =>
  text.match(new RegExp(`-----BEGIN ${label}-----[^-]+-----END ${label}-----`, 'g')) ?? [];

describe('install formats', () => {
  const certificate = makeCertificate('rsa');
  const renewed = makeCertificate('rsa');

  it('writes only the certificate and the formats asked for: here one combined PEM and a keystore', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    const run = host.run({ Formats: 'combined,pkcs12' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(readdirSync(host.certDirectory)).toEqual(['web-server-cert.pem']);
    expect(readdirSync(host.keyDirectory).sort()).toEqual([
      'web-server-combined.pem',
      'web-server-keystore.p12',
      'web-server-keystore.pass',
    ]);
    for (const name of readdirSync(host.keyDirectory))
      expect(modeOf(path.join(host.keyDirectory, name))).toBe('600');
    expect(result(run.stdout)).toMatchObject({ status: 'installed', formats: 'combined,pkcs12' });
  });

  it('combined: the private key, then the certificate, then the chain, in one 0600 file', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run({ Formats: 'combined' }).status).toBe(0);
    const combined = readFileSync(path.join(host.keyDirectory, 'web-server-combined.pem'), 'utf8');
    const blocks = combined.match(/-----BEGIN ([A-Z ]+)-----/g);
    expect(blocks).toEqual([
      '-----BEGIN PRIVATE KEY-----',
      '-----BEGIN CERTIFICATE-----',
      '-----BEGIN CERTIFICATE-----',
    ]);
    const [key] = pemBlocks(combined, 'PRIVATE KEY');
    const [leaf, chain] = pemBlocks(combined, 'CERTIFICATE');
    expect(spkiOf(key!)).toBe(certificateSpki(certificate.certificatePem));
    expect(leaf!.trim()).toBe(certificate.certificatePem.trim());
    expect(chain!.trim()).toBe(certificate.chainPem.trim());
    // openssl reads it as HAProxy does: the key and the leaf from one file.
    const file = path.join(host.keyDirectory, 'web-server-combined.pem');
    expect(openssl(['x509', '-in', file, '-noout', '-subject']).stdout).toContain('app.example.com');
    expect(openssl(['pkey', '-in', file, '-noout']).status).toBe(0);
  });

  it('pkcs12: key, certificate and chain under the password kept beside it, with modern algorithms', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    const run = host.run({ Formats: 'pkcs12' });
    expect(run.status).toBe(0);
    const password = readFileSync(path.join(host.keyDirectory, 'web-server-keystore.pass'), 'utf8');
    expect(password).toMatch(/^[0-9a-f]{32}\n$/);
    expect(run.stdout + run.stderr).not.toContain(password.trim());

    const opened = keystore(host);
    expect(opened.status).toBe(0);
    const certificates = pemBlocks(opened.stdout, 'CERTIFICATE');
    expect(certificates.map((pem) => pem.trim())).toEqual([
      certificate.certificatePem.trim(),
      certificate.chainPem.trim(),
    ]);
    expect(spkiOf(pemBlocks(opened.stdout, 'PRIVATE KEY')[0]!)).toBe(
      certificateSpki(certificate.certificatePem),
    );
    expect(opened.stdout).toContain('friendlyName: web-server');
    const info = keystore(host, ['-info', '-noout']).stderr;
    expect(info).toContain('MAC: sha256');
    expect(info).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
  });

  it.runIf(hasKeytool || process.env.CI)(
    'pkcs12: Java keytool opens it with the password file: one key entry, chain of two',
    () => {
      const host = new FakeHost();
      host.serveSecret(bundleFor(certificate));
      expect(host.run({ Formats: 'pkcs12' }).status).toBe(0);
      const listed = spawnSync(
        'keytool',
        [
          '-list',
          '-v',
          '-storetype',
          'PKCS12',
          '-keystore',
          path.join(host.keyDirectory, 'web-server-keystore.p12'),
          '-storepass:file',
          path.join(host.keyDirectory, 'web-server-keystore.pass'),
        ],
        { encoding: 'utf8' },
      );
      expect(listed.stderr).toBe('');
      expect(listed.status).toBe(0);
      expect(listed.stdout).toContain('Your keystore contains 1 entry');
      expect(listed.stdout).toMatch(/Alias name: web-server\s+[\s\S]*Entry type: PrivateKeyEntry/);
      expect(listed.stdout).toContain('Certificate chain length: 2');
      expect(listed.stdout).toContain(
        `SHA256: ${new X509Certificate(certificate.certificatePem).fingerprint256}`,
      );
    },
  );

  it('pkcs12 legacy-3des: 3DES and a SHA-1 MAC, for JVMs that cannot read AES keystores', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run({ Formats: 'pkcs12', Pkcs12Encryption: 'legacy-3des' }).status).toBe(0);
    const info = keystore(host, ['-info', '-noout']).stderr;
    expect(info).toContain('MAC: sha1');
    expect(info).toContain('Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC');
  });

  it('run again with the same certificate, changes nothing though a keystore is never the same bytes twice', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run({ Formats: 'pem,combined,pkcs12' }).status).toBe(0);
    const before = host.state();
    const again = host.run({ Formats: 'pem,combined,pkcs12' });
    expect(again.status).toBe(0);
    expect(result(again.stdout)).toMatchObject({ status: 'unchanged' });
    expect(host.state()).toEqual(before);
    // Asking for other algorithms is a change, though the certificate is the same.
    const legacy = host.run({ Formats: 'pem,combined,pkcs12', Pkcs12Encryption: 'legacy-3des' });
    expect(result(legacy.stdout)).toMatchObject({ status: 'installed' });
  });

  it('keeps the password on renewal, so the service opens the new keystore with what it knows', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run({ Formats: 'pkcs12' }).status).toBe(0);
    const passFile = path.join(host.keyDirectory, 'web-server-keystore.pass');
    const password = readFileSync(passFile, 'utf8');
    host.serveSecret(bundleFor(renewed));
    expect(host.run({ Formats: 'pkcs12' }).status).toBe(0);
    expect(readFileSync(passFile, 'utf8')).toBe(password);
    expect(pemBlocks(keystore(host).stdout, 'CERTIFICATE')[0]!.trim()).toBe(renewed.certificatePem.trim());
  });

  it("uses an administrator's own password put there first, and makes a new one when that file is unusable", () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run({ Formats: 'pem' }).status).toBe(0);
    const passFile = path.join(host.keyDirectory, 'web-server-keystore.pass');
    writeFileSync(passFile, 'changeit-Tomcat!42\n', { mode: 0o600 });
    const run = host.run({ Formats: 'pkcs12' });
    expect(run.status).toBe(0);
    expect(readFileSync(passFile, 'utf8')).toBe('changeit-Tomcat!42\n');
    expect(keystore(host).status).toBe(0);
    expect(run.stdout + run.stderr).not.toContain('changeit');

    writeFileSync(passFile, 'short\n');
    const unusable = host.run({ Formats: 'pkcs12' });
    expect(unusable.status).toBe(0);
    expect(unusable.stderr).toMatch(/WARNING: .*web-server-keystore.pass holds no usable password/);
    expect(readFileSync(passFile, 'utf8')).toMatch(/^[0-9a-f]{32}\n$/);
    expect(keystore(host).status).toBe(0);
  });

  it('puts every format back, byte for byte, when the reload fails', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run({ Formats: 'pem,combined,pkcs12' }).status).toBe(0);
    const reload = host.addCommand(
      'reload-haproxy',
      '#!/bin/bash\necho "[ALERT] unable to load" >&2\nexit 1\n',
    );
    const before = host.state(reload);
    host.serveSecret(bundleFor(renewed));
    const run = host.run({ Formats: 'pem,combined,pkcs12', ReloadCommand: reload });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(
      /failed \(exit 1; its last line: \[ALERT\] unable to load\); the previous files are restored/,
    );
    expect(host.state(reload)).toEqual(before);
  });

  it('the Remove action removes every format, whatever the profile asks for now', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run({ Formats: 'pem,combined,pkcs12' }).status).toBe(0);
    host.serveSecret(bundleFor(renewed));
    expect(host.run({ Formats: 'pem,combined,pkcs12' }).status).toBe(0);
    const removal = host.run({ Action: 'Remove', Formats: 'pem' });
    expect(removal.status).toBe(0);
    expect(result(removal.stdout)).toMatchObject({ status: 'removed', files: '14' });
    expect(readdirSync(host.certDirectory)).toEqual([]);
    expect(readdirSync(host.keyDirectory)).toEqual([]);
  });
});
