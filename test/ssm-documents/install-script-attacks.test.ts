import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resultLine } from '../../lambda/shared/command-invocations.js';
import { makeCertificate } from '../helpers/certificates.js';
import {
  FakeHost,
  INSTALL_SCRIPT,
  TEST_PASSPHRASE,
  bundleFor,
  hostOwnedBy,
  isRoot,
} from '../helpers/install-script.js';
import { type ServiceUser, ended, serviceUserForSuite } from '../helpers/service-user.js';

/*
 * What a hostile service user, root's own environment and a huge file could still do to the install
 * script: each attack as the user would make it (as root, with a throwaway user who owns the way to its
 * certificates), against the script as the documents carry it.
 */

const result = (stdout: string) => resultLine({ CommandPlugins: [{ Output: stdout }] });
/** The file in `directory` (or below) with inode `ino`. */
function findInode(directory: string, ino: number): string | undefined {
  for (const name of readdirSync(directory)) {
    const file = path.join(directory, name);
    const stat = lstatSync(file);
    if (stat.ino === ino) return file;
    if (stat.isDirectory()) {
      const found = findInode(file, ino);
      if (found) return found;
    }
  }
  return undefined;
}

describe.skipIf(!isRoot)('install script against a hostile service user, continued (needs root)', () => {
  const serviceUser = serviceUserForSuite();
  let user: ServiceUser;
  beforeAll(() => {
    user = serviceUser();
  });
  const certificate = makeCertificate('rsa');
  const renewed = makeCertificate('ec');

  it('gives a directory it makes its group through that directory: a root file renamed into its place keeps its own', async () => {
    const { host, app, tls, parameters } = hostOwnedBy(user);
    host.serveSecret(bundleFor(certificate));
    // A root-only file that sits in the service's own directory (root put it there), which the service
    // user renames into the key directory's name the moment the install has made that directory.
    const victim = path.join(app, 'root-file');
    writeFileSync(victim, 'root only\n', { mode: 0o640 });
    const { ino } = statSync(victim);
    const racer = user.spawn(`
      cd '${app}' || exit 1
      end=$((SECONDS + 120))
      while ((SECONDS < end)); do
        if [[ -d keys && ! -L keys ]] && mv -T keys "keys.$RANDOM" 2>/dev/null; then mv -T root-file keys 2>/dev/null; fi
      done`);
    const outcomes: string[] = [];
    try {
      for (let round = 0; round < 20; round++) {
        const run = await host.runConcurrently({
          ...parameters,
          CertDirectory: tls,
          KeyDirectory: `${app}/keys`,
        });
        outcomes.push(run.status === 0 ? 'installed' : run.stderr.trim());
        if (run.status !== 0)
          expect(run.stderr, `round ${round}`).toMatch(/^ERROR: .*(moved or replaced|cannot create)/);
        const at = findInode(app, ino)!;
        const stat = lstatSync(at);
        expect([stat.gid, stat.uid, (stat.mode & 0o7777).toString(8)], `round ${round}: ${at}`).toEqual([
          0,
          0,
          '640',
        ]);
        // Put everything back for the next round, as root.
        if (at !== victim) renameSync(at, victim);
        for (const name of readdirSync(app).filter((entry) => entry.startsWith('keys')))
          rmSync(path.join(app, name), { recursive: true, force: true });
      }
    } finally {
      await user.stopAll();
      await ended(racer);
    }
    expect(outcomes).toHaveLength(20);
  }, 120_000);

  it('never reads a root file the service user renamed from its own directory into the password path', () => {
    const { host, app, tls, parameters } = hostOwnedBy(user);
    writeFileSync(path.join(app, 'root-secret'), 'R00t-0nly-Passw0rd\n', { mode: 0o600 });
    user.run(`mv '${app}/root-secret' '${tls}/web-server-keystore.pass'`);
    host.serveSecret(bundleFor(certificate));
    const run = host.run({ ...parameters, Formats: 'pkcs12' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /WARNING: .*web-server-keystore\.pass is not the file owner's own file nor root's/,
    );
    expect(readFileSync(path.join(tls, 'web-server-keystore.pass'), 'utf8')).toMatch(/^[0-9a-f]{32}\n$/);
    expect(readFileSync(path.join(tls, 'web-server-keystore.pass.previous'), 'utf8')).toBe(
      'R00t-0nly-Passw0rd\n',
    );
  });

  it('never reads a hard link to a root file whose own name was since replaced by a rename', () => {
    const { host, tls, victims, parameters } = hostOwnedBy(user);
    const shadow = path.join(victims, 'shadow');
    writeFileSync(shadow, 'R00t-Link-Passw0rd\n', { mode: 0o600 });
    // The user's link, where fs.protected_hardlinks is off; then root rewrites the file as passwd does.
    linkSync(shadow, path.join(tls, 'web-server-keystore.pass'));
    writeFileSync(`${shadow}+`, 'new contents\n', { mode: 0o600 });
    renameSync(`${shadow}+`, shadow);
    expect(lstatSync(path.join(tls, 'web-server-keystore.pass')).nlink).toBe(1);
    host.serveSecret(bundleFor(certificate));
    const run = host.run({ ...parameters, Formats: 'pkcs12' });
    expect(run.status, run.stderr).toBe(0);
    expect(readFileSync(path.join(tls, 'web-server-keystore.pass'), 'utf8')).toMatch(/^[0-9a-f]{32}\n$/);
  });

  it('keeps using the password the file owner put in its own file', () => {
    const { host, tls, parameters } = hostOwnedBy(user);
    user.run(`umask 077; echo 'Owner-Chosen-Passw0rd' >'${tls}/web-server-keystore.pass'`);
    host.serveSecret(bundleFor(certificate));
    const run = host.run({ ...parameters, Formats: 'pkcs12' });
    expect(run.stderr).toBe('');
    expect(readFileSync(path.join(tls, 'web-server-keystore.pass'), 'utf8')).toBe('Owner-Chosen-Passw0rd\n');
    const opened = spawnSync('openssl', [
      'pkcs12',
      '-in',
      path.join(tls, 'web-server-keystore.p12'),
      '-passin',
      'pass:Owner-Chosen-Passw0rd',
      '-noout',
    ]);
    expect(opened.status).toBe(0);
  });

  it('removes only the staging directories it made: a root tree renamed to a staging name stays whole', () => {
    const { host, tls, parameters } = hostOwnedBy(user);
    // Root's own directory, in the service's directory; its owner may rename it there.
    const tree = path.join(tls, 'data');
    mkdirSync(path.join(tree, 'deep'), { recursive: true });
    writeFileSync(path.join(tree, 'deep', 'records'), 'root data\n');
    user.run(`mv '${tree}' '${tls}/.web-server~install.a1b2c3'`);
    host.serveSecret(bundleFor(certificate));
    expect(host.run(parameters).status).toBe(0);
    host.serveSecret(bundleFor(renewed));
    expect(host.run(parameters).status).toBe(0);
    expect(readFileSync(path.join(tls, '.web-server~install.a1b2c3', 'deep', 'records'), 'utf8')).toBe(
      'root data\n',
    );
    expect(readdirSync(tls).filter((name) => name.includes('~install'))).toEqual([
      '.web-server~install.a1b2c3',
    ]);
  });

  it('keeps a replaced key readable by no one but its owner as .previous, when it has no other name', () => {
    const { host, tls, parameters } = hostOwnedBy(user);
    host.serveSecret(bundleFor(certificate));
    expect(host.run(parameters).status).toBe(0);
    chmodSync(path.join(tls, 'web-server-privkey.pem'), 0o644);
    host.serveSecret(bundleFor(renewed));
    expect(host.run(parameters).status).toBe(0);
    const previous = lstatSync(path.join(tls, 'web-server-privkey.pem.previous'));
    expect([(previous.mode & 0o777).toString(8), previous.uid]).toEqual(['600', user.uid]);
  });

  describe('the drift check (Action=Check)', () => {
    const check = (host: FakeHost, tls: string) =>
      spawnSync(INSTALL_SCRIPT, [], {
        env: host.environmentFor({ Action: 'Check', CertDirectory: tls, FileOwner: user.name }),
        encoding: 'utf8',
        timeout: 60_000,
      });

    it('refuses a certificate directory the service user swapped for a link, reporting it as missing', () => {
      const { host, app, tls, victims } = hostOwnedBy(user);
      writeFileSync(path.join(victims, 'dir', 'web-server-cert.pem'), renewed.certificatePem, {
        mode: 0o600,
      });
      user.run(`mv '${tls}' '${app}/tls.real' && ln -s '${victims}/dir' '${tls}'`);
      const run = check(host, tls);
      expect(run.status).toBe(0);
      expect(run.stdout).toContain(`${tls} is a symbolic link that ${user.name} could have placed`);
      expect(result(run.stdout)).toMatchObject({ status: 'missing' });
    });

    it('never reads a root-only certificate the service user keeps swapping in as a link', async () => {
      const { host, tls, victims } = hostOwnedBy(user);
      const secretCertificate = path.join(victims, 'root-only-cert.pem');
      writeFileSync(secretCertificate, renewed.certificatePem, { mode: 0o600 });
      writeFileSync(path.join(tls, 'own.pem'), certificate.certificatePem);
      execFileSync('chown', [`${user.uid}:${user.gid}`, path.join(tls, 'own.pem')]);
      const swapper = user.spawn(`
        cd '${tls}' || exit 1
        end=$((SECONDS + 120))
        while ((SECONDS < end)); do
          cp own.pem web-server-cert.pem.new && mv -f web-server-cert.pem.new web-server-cert.pem
          ln -sfn '${secretCertificate}' web-server-cert.pem
        done`);
      const serials = new Set<string>();
      try {
        for (let round = 0; round < 40; round++) {
          const run = check(host, tls);
          expect(run.status).toBe(0);
          serials.add(result(run.stdout)?.serial ?? 'missing');
        }
      } finally {
        await user.stopAll();
        await ended(swapper);
      }
      expect(serials).not.toContain(renewed.acmSerial);
    }, 120_000);

    it('neither blocks on a pipe put at the certificate path nor reads a huge file there without bound', () => {
      const { host, tls } = hostOwnedBy(user);
      user.run(`mkfifo '${tls}/web-server-cert.pem'`);
      const piped = check(host, tls);
      expect(piped.signal).toBeNull();
      expect(result(piped.stdout)).toMatchObject({ status: 'missing' });
      user.run(`rm '${tls}/web-server-cert.pem' && truncate -s 4T '${tls}/web-server-cert.pem'`);
      const huge = check(host, tls);
      expect(huge.signal).toBeNull();
      expect(result(huge.stdout)).toMatchObject({ status: 'missing' });
    });
  });

  it('is not stalled by a 4 TiB sparse file the service user put at its certificate path', () => {
    const { host, tls, parameters } = hostOwnedBy(user);
    user.run(`truncate -s 4T '${tls}/web-server-cert.pem' && chmod 644 '${tls}/web-server-cert.pem'`);
    host.serveSecret(bundleFor(certificate));
    const run = spawnSync(INSTALL_SCRIPT, [], {
      env: host.environmentFor(parameters),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.signal).toBeNull();
    expect(run.stderr).toBe('');
    expect(result(run.stdout)).toMatchObject({ status: 'installed' });
    expect(new X509Certificate(readFileSync(path.join(tls, 'web-server-cert.pem'))).serialNumber).toBe(
      new X509Certificate(certificate.certificatePem).serialNumber,
    );
  });

  it("takes nothing from root's environment: no trace, no shell options, no exported function, no TMPDIR", () => {
    const { host, parameters } = hostOwnedBy(user);
    const marker = path.join(host.root, 'function-ran');
    // A TMPDIR the service user owns and may read.
    const theirs = path.join(host.root, 'their-tmp');
    mkdirSync(theirs);
    execFileSync('chown', [`${user.uid}:${user.gid}`, theirs]);
    host.serveSecret(bundleFor(certificate));
    const run = spawnSync(INSTALL_SCRIPT, [], {
      env: {
        ...host.environmentFor({ ...parameters, Formats: 'pem,combined,pkcs12' }),
        SHELLOPTS: 'xtrace:verbose:noclobber:allexport',
        BASHOPTS: 'nocasematch:nullglob:failglob',
        'BASH_FUNC_mv%%': `() { touch '${marker}'; command mv "$@"; }`,
        TMPDIR: theirs,
      },
      encoding: 'utf8',
    });
    const output = run.stdout + run.stderr;
    expect(run.status, output).toBe(0);
    expect(result(run.stdout)).toMatchObject({ status: 'installed' });
    expect(output).not.toContain(TEST_PASSPHRASE.slice(0, 12));
    expect(output).not.toContain('PRIVATE KEY');
    const password = readFileSync(
      path.join(parameters.KeyDirectory, 'web-server-keystore.pass'),
      'utf8',
    ).trim();
    expect(output).not.toContain(password);
    // Bash traces (and echoes) only the lines before the script starts its own shell again.
    expect(output).toContain('CERT_LIFECYCLE_SHELL=');
    for (const later of ['split_bundle', 'openssl pkey', 'journal_write', 'require '])
      expect(output).not.toContain(later);
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(theirs)).toEqual([]);
  });
});
