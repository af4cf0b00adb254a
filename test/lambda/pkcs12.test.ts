import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { windowsKeystore } from '../../lambda/shared/pkcs12.js';
import { encryptAsAcmDoes, makeCertificate } from '../helpers/certificates.js';
import { pwsh } from '../helpers/powershell.js';

const directory = mkdtempSync(path.join(tmpdir(), 'pkcs12-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const passphrase = 'an ACM passphrase, 4 to 128 characters';
function keystoreOf(keyType: 'rsa' | 'ec') {
  const certificate = makeCertificate(keyType);
  const keystore = windowsKeystore({
    certificate: certificate.certificatePem,
    certificateChain: certificate.chainPem,
    encryptedPrivateKey: encryptAsAcmDoes(certificate.privateKeyPem, passphrase),
    passphrase,
  });
  const file = path.join(directory, `${keyType}.pfx`);
  writeFileSync(file, keystore.pfx);
  return { certificate, keystore, file };
}

describe('the Windows keystore made at export', () => {
  it.each(['rsa', 'ec'] as const)(
    'opens in openssl with its password: the %s key, the leaf and its chain',
    (keyType) => {
      const { certificate, keystore, file } = keystoreOf(keyType);
      const pem = execFileSync('openssl', ['pkcs12', '-in', file, '-nodes', '-passin', 'env:PFX_PASSWORD'], {
        env: { ...process.env, PFX_PASSWORD: keystore.password },
        stdio: ['ignore', 'pipe', 'pipe'],
      }).toString();
      const certificates = [
        ...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g),
      ].map((match) => new X509Certificate(match[0]).fingerprint256);
      expect(certificates).toEqual([
        new X509Certificate(certificate.certificatePem).fingerprint256,
        new X509Certificate(certificate.chainPem).fingerprint256,
      ]);
      const key = pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----/)![0];
      expect(createPrivateKey(key).export({ type: 'pkcs8', format: 'pem' })).toBe(
        createPrivateKey(certificate.privateKeyPem).export({ type: 'pkcs8', format: 'pem' }),
      );
      // What Windows Server 2019 and later import: an HMAC-SHA256 MAC and a PBES2 AES-256 key.
      const info = spawnSync(
        'openssl',
        ['pkcs12', '-in', file, '-info', '-noout', '-passin', 'env:PFX_PASSWORD'],
        {
          env: { ...process.env, PFX_PASSWORD: keystore.password },
          encoding: 'utf8',
        },
      );
      expect(info.stderr).toMatch(/MAC: sha256, Iteration 2048/);
      expect(info.stderr).toMatch(
        /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/,
      );
    },
  );

  it('is refused with any other password', () => {
    const { file } = keystoreOf('rsa');
    expect(() =>
      execFileSync('openssl', ['pkcs12', '-in', file, '-nodes', '-passin', 'pass:not-the-password'], {
        stdio: 'pipe',
      }),
    ).toThrow(/mac verify failure|invalid password/i);
  });

  it('imports in .NET, which Windows uses, with its key and its certificate paired', () => {
    const { certificate, keystore, file } = keystoreOf('rsa');
    const output = pwsh(
      [
        '$c = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($env:PFX_FILE, $env:PFX_PASSWORD)',
        '"$($c.Thumbprint) $($c.HasPrivateKey)"',
      ].join('; '),
      { PFX_FILE: file, PFX_PASSWORD: keystore.password },
    );
    const thumbprint = new X509Certificate(certificate.certificatePem).fingerprint.replace(/:/g, '');
    expect(output.trim()).toBe(`${thumbprint} True`);
  });

  it("refuses a key that is not the certificate's", () => {
    const certificate = makeCertificate('rsa');
    const other = makeCertificate('rsa');
    expect(() =>
      windowsKeystore({
        certificate: certificate.certificatePem,
        certificateChain: certificate.chainPem,
        encryptedPrivateKey: encryptAsAcmDoes(other.privateKeyPem, passphrase),
        passphrase,
      }),
    ).toThrow('the private key does not belong to the certificate');
  });
});
