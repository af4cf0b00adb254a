import { describe, expect, it } from 'vitest';
import {
  formatCertificateBundle,
  mappingSecretName,
  parseCertificateBundle,
} from '../../lambda/shared/certificate-secret.js';
import { encryptAsAcmDoes, makeCertificate } from '../helpers/certificates.js';
import { REQUEST } from '../helpers/fixtures.js';

describe('certificate bundle', () => {
  it('round-trips passphrase, encrypted key, leaf and chain through plain PEM text', () => {
    const certificate = makeCertificate('ec');
    const passphrase = `p'"\\ !&*()-_=+[]{};:,.<>/?\`~^|${'x'.repeat(30)}`;
    const material = {
      passphrase,
      encryptedPrivateKey: encryptAsAcmDoes(certificate.privateKeyPem, passphrase),
      certificate: certificate.certificatePem,
      certificateChain: certificate.chainPem,
    };
    const text = formatCertificateBundle(material);
    expect(text).not.toContain(passphrase);
    expect(text.match(/-----BEGIN [A-Z ]+-----/g)).toEqual([
      '-----BEGIN ACM EXPORT PASSPHRASE-----',
      '-----BEGIN ENCRYPTED PRIVATE KEY-----',
      '-----BEGIN CERTIFICATE-----',
      '-----BEGIN CERTIFICATE-----',
    ]);
    const parsed = parseCertificateBundle(text);
    expect(parsed.passphrase).toBe(passphrase);
    expect(parsed.encryptedPrivateKey.trim()).toBe(material.encryptedPrivateKey.trim());
    expect(parsed.certificate.trim()).toBe(certificate.certificatePem.trim());
    expect(parsed.certificateChain.trim()).toBe(certificate.chainPem.trim());
  });

  it('refuses an incomplete bundle', () => {
    expect(() =>
      parseCertificateBundle('-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n'),
    ).toThrow(/incomplete/);
  });
});

describe('mapping secret name', () => {
  it('is stable per mapping and differs between mappings', () => {
    expect(mappingSecretName(REQUEST)).toBe(mappingSecretName({ ...REQUEST }));
    expect(mappingSecretName(REQUEST)).not.toBe(mappingSecretName({ ...REQUEST, TargetTagValue: 'prod' }));
    expect(mappingSecretName(REQUEST)).not.toBe(mappingSecretName({ ...REQUEST, TargetTagKey: 'role' }));
  });

  it('uses only characters Secrets Manager allows, whatever the tag holds', () => {
    expect(mappingSecretName({ ...REQUEST, TargetTagValue: 'Web Server:1' })).toMatch(
      /^[A-Za-z0-9/_+=.@-]{1,512}$/,
    );
  });
});
