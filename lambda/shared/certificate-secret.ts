import { type ExportRequest, mappingId } from './export-request.js';
import type { WindowsKeystore } from './pkcs12.js';

/** Every secret this app writes lives under this prefix; the instance policy grants reads below it only. */
export const SECRET_PREFIX = 'acm-passphrase/';

/** Secrets Manager's answer for a secret that an unmap scheduled for deletion (restorable until then). */
export function isScheduledForDeletion(error: unknown): boolean {
  return (
    (error as Error).name === 'InvalidRequestException' &&
    /marked for deletion/i.test((error as Error).message)
  );
}

/** The PEM label the passphrase is stored under, base64-encoded, so the host parses one format only. */
export const PASSPHRASE_PEM_LABEL = 'ACM EXPORT PASSPHRASE';

/**
 * One secret per certificate-and-target mapping, so two targets of one certificate never share (or race
 * on) a passphrase. The name is readable (`acm-passphrase/<CertName>/…`) and stable for a mapping; the hash
 * keeps tag characters that secret names do not allow out of it.
 */
export function mappingSecretName(request: ExportRequest): string {
  return `${SECRET_PREFIX}${request.CertName}/${mappingId(request)}`;
}

export interface ExportedMaterial {
  readonly passphrase: string;
  /** The encrypted PKCS #8 key exactly as ACM returned it (`BEGIN ENCRYPTED PRIVATE KEY`). */
  readonly encryptedPrivateKey: string;
  readonly certificate: string;
  /** The issuing chain, leaf excluded, as ACM returned it. */
  readonly certificateChain: string;
  /** The PKCS #12 keystore a Windows host imports, under a password of its own (made at export). */
  readonly windowsKeystore?: WindowsKeystore;
}

/** PEM labels of the Windows keystore and its password (base64), which the Linux step passes over. */
export const PKCS12_PEM_LABEL = 'PKCS12';
export const PKCS12_PASSWORD_PEM_LABEL = 'PKCS12 PASSWORD';

function pemBlock(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`].join('\n');
}

/**
 * The secret's text: PEM blocks only, in a fixed order (passphrase, encrypted key, leaf certificate, then
 * the chain), so a host with nothing but coreutils and openssl can split it with awk; no JSON parser needed.
 */
export function formatCertificateBundle(material: ExportedMaterial): string {
  const passphraseBlock = [
    `-----BEGIN ${PASSPHRASE_PEM_LABEL}-----`,
    Buffer.from(material.passphrase, 'utf8').toString('base64'),
    `-----END ${PASSPHRASE_PEM_LABEL}-----`,
  ].join('\n');
  const keystore = material.windowsKeystore
    ? [
        pemBlock(PKCS12_PEM_LABEL, material.windowsKeystore.pfx),
        pemBlock(PKCS12_PASSWORD_PEM_LABEL, Buffer.from(material.windowsKeystore.password, 'ascii')),
      ]
    : [];
  return [
    passphraseBlock,
    material.encryptedPrivateKey,
    material.certificate,
    material.certificateChain,
    ...keystore,
  ]
    .map((block) => block.trim())
    .filter((block) => block.length > 0)
    .join('\n')
    .concat('\n');
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** The reverse of `formatCertificateBundle`: used by tests and tools that read a bundle back. */
export function parseCertificateBundle(text: string): ExportedMaterial {
  const blocks = [...text.matchAll(PEM_BLOCK)].map((match) => ({
    label: match[1],
    pem: match[0],
    body: match[2],
  }));
  const passphrase = blocks.find((block) => block.label === PASSPHRASE_PEM_LABEL);
  const key = blocks.find((block) => block.label === 'ENCRYPTED PRIVATE KEY');
  const certificates = blocks.filter((block) => block.label === 'CERTIFICATE');
  const decoded = (label: string) => {
    const block = blocks.find((candidate) => candidate.label === label);
    return block ? Buffer.from((block.body ?? '').replace(/\s+/g, ''), 'base64') : undefined;
  };
  const pfx = decoded(PKCS12_PEM_LABEL);
  const password = decoded(PKCS12_PASSWORD_PEM_LABEL);
  const [leaf, ...chain] = certificates;
  if (!passphrase || !key || !leaf) {
    throw new Error(
      'certificate bundle is incomplete: it needs a passphrase, an encrypted key and a certificate',
    );
  }
  return {
    passphrase: Buffer.from((passphrase.body ?? '').replace(/\s+/g, ''), 'base64').toString('utf8'),
    encryptedPrivateKey: key.pem,
    certificate: leaf.pem,
    certificateChain: chain.map((block) => block.pem).join('\n'),
    ...(pfx && password ? { windowsKeystore: { pfx, password: password.toString('ascii') } } : {}),
  };
}
