import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatCertificateBundle } from '../../lambda/shared/certificate-secret.js';
import { TRUST_STORE_DIRECTORIES } from '../../lambda/shared/install-parameters.js';
import { makeCertificate } from '../helpers/certificates.js';
import { FakeHost, TEST_PASSPHRASE, bundleFor, installScript, isRoot } from '../helpers/install-script.js';

/*
 * Every failure ends with one ERROR: line that says what to do, and nothing else on standard error;
 * what a scheduled run with nothing to do leaves behind is nothing at all; and no profile can put a
 * chain where the host trusts CAs.
 */

const SECRET = 'acm-passphrase/web-server/0123456789abcdef';
const onlyError = (stderr: string) => {
  expect(stderr.split('\n').filter(Boolean)).toHaveLength(1);
  expect(stderr).toMatch(/^ERROR: /);
};

describe('install script failures: one ERROR line each, saying what to do', () => {
  const certificate = makeCertificate('rsa');

  function installedHost() {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run().status).toBe(0);
    return { host, before: host.state() };
  }

  it.each([
    [
      'a certificate that is not one',
      () =>
        formatCertificateBundle({
          passphrase: TEST_PASSPHRASE,
          encryptedPrivateKey: bundleFor(certificate).match(
            /-----BEGIN ENCRYPTED[\s\S]+?-----END ENCRYPTED PRIVATE KEY-----/,
          )![0],
          certificate: '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
          certificateChain: certificate.chainPem,
        }),
      `the certificate in secret ${SECRET} is not a readable X.509 certificate; export the certificate again`,
    ],
    [
      'an expired certificate',
      () => bundleFor(makeCertificate('rsa', 'app.example.com', -1)),
      /^the certificate in secret .* expired on .* GMT; export the renewed certificate$/,
    ],
    [
      'a chain made of the certificate itself',
      () => bundleFor(certificate, { chain: certificate.certificatePem }),
      `the chain in secret ${SECRET} holds the certificate itself, not its issuer; export the certificate again`,
    ],
    [
      'a chain that does not sign it',
      () => bundleFor(certificate, { chain: makeCertificate('rsa').chainPem }),
      /^the certificate chain in the secret does not verify the certificate \(.*\(depth 0\)\); export the certificate again$/,
    ],
  ])('refuses %s, changing nothing', (_, secret, message) => {
    const { host, before } = installedHost();
    host.serveSecret(secret());
    const run = host.run();
    expect(run.status).toBe(1);
    onlyError(run.stderr);
    expect(run.stderr.replace(/^ERROR: /, '').trim()).toMatch(
      typeof message === 'string'
        ? new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`)
        : message,
    );
    expect(host.state()).toEqual(before);
  });

  it('names what the AWS CLI said, or that it said nothing', () => {
    const host = new FakeHost();
    host.addCommand('aws', '#!/bin/bash\nexit 255\n');
    const run = host.run();
    expect(run.stderr).toBe(
      `ERROR: cannot read secret ${SECRET}: the AWS CLI exited 255 and printed nothing; check the host's network, its role's tags and the instance access policy\n`,
    );
  });

  it('says that the AWS CLI is missing and how to get it', () => {
    const host = new FakeHost();
    const run = host.run({}, { PATH: '/usr/bin:/bin' });
    expect(run.stderr).toBe(
      'ERROR: the AWS CLI (aws) is not installed on this host; install it (docs.aws.amazon.com/cli, Install the AWS CLI) and run again\n',
    );
  });
});

/** A tmpfs of `kilobytes` mounted at `directory`, full but for `free` bytes; undone after the test. */
const mounts: string[] = [];
afterEach(() => {
  for (const directory of mounts.splice(0)) spawnSync('umount', [directory]);
});
function fullDisk(directory: string, kilobytes: number, mode: string) {
  mkdirSync(directory, { recursive: true });
  const mounted = spawnSync('mount', [
    '-t',
    'tmpfs',
    '-o',
    `size=${kilobytes}k,mode=${mode}`,
    'tmpfs',
    directory,
  ]);
  if (mounted.status !== 0) return false;
  mounts.push(directory);
  spawnSync('dd', ['if=/dev/zero', `of=${path.join(directory, 'filler')}`, 'bs=1k', `count=${kilobytes}`], {
    stdio: 'ignore',
  });
  return true;
}
const canMount = isRoot && spawnSync('mount', ['--version']).status === 0;

describe.skipIf(!canMount)('install script on a full disk (needs root to mount a small tmpfs)', () => {
  const certificate = makeCertificate('rsa');
  const renewed = makeCertificate('rsa');

  it('says which file it could not write where, and changes nothing', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run().status).toBe(0);
    const keys = path.join(host.root, 'keys');
    expect(fullDisk(keys, 64, '0700')).toBe(true);
    const before = host.state();
    host.serveSecret(bundleFor(renewed));
    const run = host.run({ KeyDirectory: keys });
    expect(run.status).toBe(1);
    onlyError(run.stderr);
    expect(run.stderr).toMatch(
      /^ERROR: cannot write web-server-privkey\.pem in .*\/keys \((cat: write error: )?No space left on device\); nothing was changed/,
    );
    expect(host.state()).toEqual(before);
  });

  it('says that its scratch directory is full', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(fullDisk(host.runDirectory, 16, '0700')).toBe(true);
    const run = host.run();
    expect(run.stderr).toBe(
      'ERROR: cannot write in the scratch directory (is /run full?); nothing was changed\n',
    );
    expect(existsSync(host.certDirectory)).toBe(false);
  });
});

describe('install script run again with nothing to do', () => {
  it("changes no directory's mtime and no file's ctime, in any format", () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(makeCertificate('ec')));
    const formats = { Formats: 'pem,combined,pkcs12' };
    expect(host.run(formats).status).toBe(0);
    const times = () =>
      Object.fromEntries(
        [host.certDirectory, host.keyDirectory].flatMap((directory) =>
          [
            directory,
            path.dirname(directory),
            ...readdirSync(directory).map((name) => path.join(directory, name)),
          ].map((file) => {
            const { mtimeMs, ctimeMs, ino } = lstatSync(file);
            return [file, { mtimeMs, ctimeMs, ino }];
          }),
        ),
      );
    const before = times();
    const again = host.run(formats);
    expect(again.stdout).toContain('nothing was written or reloaded');
    expect(times()).toEqual(before);
    expect(readdirSync(host.stateDirectory)).toEqual([]);
  });
});

describe('install script and the trust store: never where the host trusts CAs', () => {
  // Were the refusal ever broken, the host's own trust store is put back as it was.
  afterEach(() => {
    for (const name of existsSync('/etc/ssl/certs') ? readdirSync('/etc/ssl/certs') : [])
      if (name.startsWith('web-server-')) rmSync(path.join('/etc/ssl/certs', name), { force: true });
    rmSync('/usr/local/share/ca-certificates/app', { recursive: true, force: true });
  });

  it('holds the same list of trust-store directories as the deployment', () => {
    const listed = /TRUST_STORE_DIRECTORIES=\(([^)]*)\)/
      .exec(installScript())![1]!
      .split(/\s+/)
      .filter(Boolean);
    expect(listed).toEqual([...TRUST_STORE_DIRECTORIES]);
  });

  const here = (directory: string) => existsSync(directory);
  it.runIf(here('/etc/ssl/certs'))(
    "refuses /etc/ssl/certs (OpenSSL's CA directory on Debian and Ubuntu), writing nothing there",
    () => {
      const host = new FakeHost();
      host.serveSecret(bundleFor(makeCertificate('rsa')));
      const run = host.run({ CertDirectory: '/etc/ssl/certs' });
      expect(run.stderr).toBe(
        "ERROR: refusing to install: CertDirectory /etc/ssl/certs is in /etc/ssl/certs, where this host's trust-store tooling looks for CA certificates: a chain installed there would become trusted by every program on the host; give the profile a directory of its own, such as /etc/cert-lifecycle/certs\n",
      );
      expect(readdirSync('/etc/ssl/certs').filter((name) => name.startsWith('web-server'))).toEqual([]);
    },
  );

  it('refuses a key directory below a trust anchor directory, creating nothing', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(makeCertificate('rsa')));
    const run = host.run({ KeyDirectory: '/usr/local/share/ca-certificates/app' });
    expect(run.stderr).toMatch(
      /^ERROR: refusing to install: KeyDirectory \/usr\/local\/share\/ca-certificates\/app is in \/usr\/local\/share\/ca-certificates,/,
    );
    expect(existsSync('/usr/local/share/ca-certificates/app')).toBe(false);
  });

  const opensslDirectory = /OPENSSLDIR: "([^"]+)"/.exec(
    spawnSync('openssl', ['version', '-d'], { encoding: 'utf8' }).stdout,
  )?.[1];
  it.runIf(opensslDirectory && here(`${opensslDirectory}/certs`))(
    "refuses OpenSSL's own CA directory, however it is reached",
    () => {
      const host = new FakeHost();
      host.serveSecret(bundleFor(makeCertificate('rsa')));
      const run = host.run({ CertDirectory: `${opensslDirectory}/certs` });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(
        /^ERROR: refusing to install: CertDirectory \S+ is in \S+, where this host's trust-store tooling/,
      );
      expect(readFileSync(`${opensslDirectory}/certs/../openssl.cnf`, 'utf8').length).toBeGreaterThan(0);
    },
  );
});
