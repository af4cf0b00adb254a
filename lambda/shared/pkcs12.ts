import {
  type KeyObject,
  X509Certificate,
  createHash,
  createHmac,
  createPrivateKey,
  randomBytes,
} from 'node:crypto';

/**
 * A PKCS #12 (PFX) keystore as Windows imports it, built here because a Windows host cannot read what ACM
 * exports: Windows PowerShell 5.1 runs on .NET Framework, which has no reader for an encrypted PKCS #8
 * key (that came with .NET Core 3), and an AWS Windows AMI ships no openssl. The key is protected with
 * PBES2 (PBKDF2 with HMAC-SHA256, AES-256-CBC) and the whole with an HMAC-SHA256 MAC: what Windows Server
 * 2019 and later import (RFC 7292, RFC 8018). The certificates are public and travel unencrypted.
 */
export interface WindowsKeystore {
  /** The PFX, DER. */
  readonly pfx: Buffer;
  /** Its password: random, URL-safe base64 (ASCII, so every reader derives the same key from it). */
  readonly password: string;
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  certBag: '1.2.840.113549.1.12.10.1.3',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  localKeyId: '1.2.840.113549.1.9.21',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

/** PBKDF2 and MAC iterations: OpenSSL's default for both; the password is 256 random bits. */
export const PKCS12_MAC_ITERATIONS = 2048;

/**
 * The keystore of `certificate` (leaf PEM), its `chain` (PEM, leaf excluded) and the ACM-encrypted
 * `encryptedPrivateKey` opened with `passphrase`; under a new random password unless one is given.
 */
export function windowsKeystore(material: {
  certificate: string;
  certificateChain: string;
  encryptedPrivateKey: string;
  passphrase: string;
  password?: string;
}): WindowsKeystore {
  const password = material.password ?? randomBytes(32).toString('base64url');
  const key = createPrivateKey({
    key: material.encryptedPrivateKey,
    format: 'pem',
    passphrase: material.passphrase,
  });
  if (!new X509Certificate(material.certificate).checkPrivateKey(key)) {
    throw new Error('the private key does not belong to the certificate');
  }
  return { pfx: pfxOf(material.certificate, material.certificateChain, key, password), password };
}

/** The PFX of a leaf (PEM), its chain (PEM, leaf excluded) and a key, under `password`; checks nothing. */
export function pfxOf(
  certificate: string,
  certificateChain: string,
  key: KeyObject,
  password: string,
): Buffer {
  const leaf = new X509Certificate(certificate);
  // Key and leaf are paired by localKeyId, as every PKCS #12 reader expects.
  const pairing = seq(oid(OID.localKeyId), set(octets(createHash('sha1').update(leaf.raw).digest())));
  const certificateBags = [leaf.raw, ...pemCertificates(certificateChain)].map((der, index) =>
    safeBag(
      OID.certBag,
      seq(oid(OID.x509Certificate), explicit(0, octets(der))),
      index === 0 ? [pairing] : [],
    ),
  );
  const shroudedKey = key.export({
    type: 'pkcs8',
    format: 'der',
    cipher: 'aes-256-cbc',
    passphrase: password,
  });
  const keyBag = safeBag(OID.shroudedKeyBag, shroudedKey, [pairing]);
  const authenticatedSafe = seq(dataContent(seq(...certificateBags)), dataContent(seq(keyBag)));

  const salt = randomBytes(16);
  const macKey = pkcs12Kdf(bmpPassword(password), salt, 3, PKCS12_MAC_ITERATIONS, 32);
  const mac = createHmac('sha256', macKey).update(authenticatedSafe).digest();
  const macData = seq(
    seq(seq(oid(OID.sha256), NULL), octets(mac)),
    octets(salt),
    integer(PKCS12_MAC_ITERATIONS),
  );
  return seq(integer(3), dataContent(authenticatedSafe), macData);
}

function pemCertificates(text: string): Buffer[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((match) =>
    Buffer.from((match[1] ?? '').replace(/\s+/g, ''), 'base64'),
  );
}

function safeBag(bagId: string, value: Buffer, attributes: Buffer[]): Buffer {
  return seq(oid(bagId), explicit(0, value), ...(attributes.length > 0 ? [set(...attributes)] : []));
}

function dataContent(content: Buffer): Buffer {
  return seq(oid(OID.data), explicit(0, octets(content)));
}

/** The password as PKCS #12 hashes it: big-endian UTF-16 with a two-byte terminator (RFC 7292, B.1). */
function bmpPassword(password: string): Buffer {
  const bytes = Buffer.alloc(password.length * 2 + 2);
  for (let index = 0; index < password.length; index++)
    bytes.writeUInt16BE(password.charCodeAt(index), index * 2);
  return bytes;
}

/** RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64): the MAC key is id 3. */
function pkcs12Kdf(password: Buffer, salt: Buffer, id: number, iterations: number, length: number): Buffer {
  const u = 32;
  const v = 64;
  const fill = (source: Buffer): Buffer => {
    if (source.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(source.length / v));
    for (let index = 0; index < out.length; index++) out[index] = source[index % source.length]!;
    return out;
  };
  const diversifier = Buffer.alloc(v, id);
  const input = Buffer.concat([fill(salt), fill(password)]);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let digest = createHash('sha256').update(diversifier).update(input).digest();
    for (let round = 1; round < iterations; round++) digest = createHash('sha256').update(digest).digest();
    blocks.push(digest);
    const addend = fill(digest);
    for (let offset = 0; offset < input.length; offset += v) {
      let carry = 1;
      for (let index = v - 1; index >= 0; index--) {
        const sum = input[offset + index]! + addend[index]! + carry;
        input[offset + index] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}

// --- DER, as little of it as a PFX needs ----------------------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const length = content.length;
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | bytes.length, ...bytes]), content]);
}

const NULL = Buffer.from([0x05, 0x00]);
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
/** DER orders a SET OF by its members' encodings. */
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));
const octets = (content: Buffer): Buffer => tlv(0x04, content);
const explicit = (tag: number, content: Buffer): Buffer => tlv(0xa0 | tag, content);

function integer(value: number): Buffer {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  if (bytes.length === 0 || (bytes[0]! & 0x80) !== 0) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const base128: number[] = [arc & 0x7f];
    for (let high = Math.floor(arc / 128); high > 0; high = Math.floor(high / 128))
      base128.unshift((high & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}
