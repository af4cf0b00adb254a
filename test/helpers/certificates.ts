import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** A real CA, a leaf it signed and the leaf's key, made by openssl: what ACM's export returns, unencrypted. */
export interface TestCertificate {
  readonly certificatePem: string;
  readonly chainPem: string;
  readonly privateKeyPem: string;
  /** ACM's serial format: colon-separated lower-case hex. */
  readonly acmSerial: string;
  readonly notAfter: Date;
}

export function makeCertificate(
  keyType: 'rsa' | 'ec' = 'rsa',
  commonName = 'app.example.com',
  validDays = 395,
): TestCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'cert-'));
  const file = (name: string) => path.join(dir, name);
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const newKey =
    keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  try {
    run(
      'req',
      '-x509',
      ...newKey,
      '-nodes',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
      '-days',
      '3650',
      '-subj',
      '/CN=Test Private CA',
    );
    run(
      'req',
      '-new',
      ...newKey,
      '-nodes',
      '-keyout',
      file('leaf.key'),
      '-out',
      file('leaf.csr'),
      '-subj',
      `/CN=${commonName}`,
    );
    run(
      'x509',
      '-req',
      '-in',
      file('leaf.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file('leaf.pem'),
      '-days',
      String(validDays),
    );
    const certificatePem = readFileSync(file('leaf.pem'), 'utf8');
    const x509 = new X509Certificate(certificatePem);
    return {
      certificatePem,
      chainPem: readFileSync(file('ca.pem'), 'utf8'),
      privateKeyPem: readFileSync(file('leaf.key'), 'utf8'),
      acmSerial: x509.serialNumber.toLowerCase().match(/../g)!.join(':'),
      notAfter: new Date(x509.validTo),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The key as ACM's ExportCertificate returns it: PKCS #8, PBES2 with AES-256-CBC, under the passphrase. */
export function encryptAsAcmDoes(privateKeyPem: string, passphrase: Uint8Array | string): string {
  return createPrivateKey(privateKeyPem)
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: Buffer.from(passphrase) })
    .toString();
}
