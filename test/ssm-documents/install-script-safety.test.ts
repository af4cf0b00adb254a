import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../helpers/certificates.js';
import {
  FakeHost,
  INSTALL_SCRIPT,
  bundleFor,
  hostOwnedBy,
  isRoot,
  treeSnapshot,
} from '../helpers/install-script.js';
import { type ServiceUser, ended, serviceUserForSuite } from '../helpers/service-user.js';

const NEEDS_ROOT = 'needs root: it creates a throwaway service user and runs the install as root (CI does)';
const TARGETS = ['cert', 'chain', 'fullchain', 'privkey'].map((suffix) => `web-server-${suffix}.pem`);

/** The installed key, certificate, chain and full chain belong together, and are regular files. */
function expectMatchingInstall(directory: string, keyDirectory = directory) {
  const file = (name: string) => path.join(name.endsWith('privkey.pem') ? keyDirectory : directory, name);
  for (const name of TARGETS) expect(lstatSync(file(name)).isFile(), name).toBe(true);
  const [cert, chain, fullchain, key] = TARGETS.map((name) => readFileSync(file(name), 'utf8'));
  const certificate = new X509Certificate(cert!);
  expect(createPublicKey(createPrivateKey(key!)).export({ type: 'spki', format: 'pem' })).toBe(
    certificate.publicKey.export({ type: 'spki', format: 'pem' }),
  );
  expect(certificate.verify(new X509Certificate(chain!).publicKey)).toBe(true);
  expect(fullchain).toBe(`${cert!.trim()}\n${chain!.trim()}\n`);
  return certificate;
}

/** Resolves once `file` exists. */
async function appears(file: string): Promise<void> {
  while (!existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Any copy of a private key under `directory` other than the installed key and its .previous. */
function strayKeys(directory: string): string[] {
  return Object.keys(treeSnapshot(directory)).filter(
    (file) =>
      !/web-server-privkey\.pem(\.previous)?$/.test(file) &&
      lstatSync(file).isFile() &&
      readFileSync(file, 'utf8').includes('PRIVATE KEY'),
  );
}

describe('install script: one install of a CertName at a time', () => {
  const first = makeCertificate('rsa', 'one.example.com');
  const second = makeCertificate('ec', 'two.example.com');

  it('ends with a key, certificate and full chain that belong together, whatever two installs overlap', async () => {
    const host = new FakeHost();
    const secrets = [first, second].map((certificate, index) => {
      const file = path.join(host.root, `secret-${index}.txt`);
      writeFileSync(file, bundleFor(certificate));
      return file;
    });
    // Each install reads its own secret: two different certificates under one CertName, as when a
    // renewal of one mapping races an export of another to the same host.
    host.addCommand('aws', '#!/bin/bash\ncat "$SECRET_FILE"\n');
    for (let round = 0; round < 12; round++) {
      const runs = await Promise.all(
        secrets.map((secret) => host.runConcurrently({}, { SECRET_FILE: secret })),
      );
      for (const run of runs) {
        expect(run.stderr).toBe('');
        expect(run.status).toBe(0);
      }
      const installed = expectMatchingInstall(host.certDirectory, host.keyDirectory);
      expect([first.certificatePem, second.certificatePem].map((pem) => pem.trim())).toContain(
        installed.toString().trim(),
      );
      expect(readdirSync(host.certDirectory).sort()).toEqual(
        ['web-server-cert.pem', 'web-server-chain.pem', 'web-server-fullchain.pem']
          .flatMap((name) => [name, `${name}.previous`])
          .sort(),
      );
      expect(readdirSync(host.keyDirectory).sort()).toEqual([
        'web-server-privkey.pem',
        'web-server-privkey.pem.previous',
      ]);
      expect(readdirSync(host.tmp)).toEqual([]);
    }
  });

  it('waits for the install that holds the lock, and installs when it ends', async () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(first));
    const holder = await holdLock(host, 2);
    // The reload runs once the files are in place: it fails unless the other install had finished.
    const reload = host.addCommand('reload-after', `#!/bin/bash\ntest -f '${holder.released}'\n`);
    const run = await host.runConcurrently({ ReloadCommand: reload });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    await ended(holder.process);
    expect(holder.process.exitCode).toBe(0);
    expectMatchingInstall(host.certDirectory, host.keyDirectory);
  });

  it('stops after the bounded wait with a clear error, changing nothing', async () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(first));
    expect(host.run().status).toBe(0);
    const before = host.state();
    host.serveSecret(bundleFor(second));
    const holder = await holdLock(host, 30);
    const run = await host.runConcurrently({}, { CERT_LIFECYCLE_LOCK_WAIT_SECONDS: '1' });
    process.kill(-holder.process.pid!, 'SIGTERM');
    await ended(holder.process);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(
      'another install of web-server has run on this host for more than 1 s; nothing was changed',
    );
    expect(host.state(holder.held)).toEqual(before);
  });

  it('does not hand its lock to a service the reload command starts', async () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(first));
    const started = path.join(host.root, 'daemon-started');
    // A reload that leaves a process running, as `service app restart` does on a SysV host.
    const reload = host.addCommand(
      'restart-daemon',
      `#!/bin/bash\nsetsid sleep 20 </dev/null >/dev/null 2>&1 &\necho $! >'${started}'\n`,
    );
    expect(host.run({ ReloadCommand: reload }).status).toBe(0);
    const daemon = Number(readFileSync(started, 'utf8'));
    try {
      host.serveSecret(bundleFor(second));
      const next = await host.runConcurrently({}, { CERT_LIFECYCLE_LOCK_WAIT_SECONDS: '1' });
      expect(next.stderr).toBe('');
      expect(next.status).toBe(0);
    } finally {
      process.kill(daemon, 'SIGTERM');
    }
  });

  /** Another install's hold on the CertName's lock, for `seconds`, once it has it. */
  async function holdLock(host: FakeHost, seconds: number) {
    mkdirSync(host.runDirectory, { recursive: true, mode: 0o700 });
    const held = path.join(host.root, 'lock-held');
    const released = path.join(host.root, 'lock-released');
    const lock = path.join(host.runDirectory, 'install-web-server.lock');
    const child = spawn(
      'flock',
      [lock, 'bash', '-c', `touch '${held}'; sleep ${seconds}; touch '${released}'`],
      // Its own process group, so that stopping it stops the command that holds the lock too.
      { stdio: 'ignore', detached: true },
    );
    await appears(held);
    return { process: child, held, released };
  }
});

describe('install script: failures say what happened and put everything back', () => {
  const installed = makeCertificate('rsa');
  const renewed = makeCertificate('rsa');

  function hostWithInstall() {
    const host = new FakeHost();
    host.serveSecret(bundleFor(installed));
    expect(host.run().status).toBe(0);
    host.serveSecret(bundleFor(renewed));
    return { host, before: host.state() };
  }

  it('says that a failed reload command printed nothing', () => {
    const { host, before } = hostWithInstall();
    const reload = host.addCommand('reload-quiet', '#!/bin/bash\nexit 3\n');
    const run = host.run({ ReloadCommand: reload });
    expect(run.stderr).toContain(
      `reload command '${reload}' failed (exit 3; it printed nothing); the previous files are restored`,
    );
    expect(host.state(reload)).toEqual(before);
  });

  it('puts the previous files back when stopped (SIGTERM) part-way', async () => {
    const { host, before } = hostWithInstall();
    const started = path.join(host.root, 'reload-started');
    const reload = host.addCommand('reload-slow', `#!/bin/bash\ntouch '${started}'\nsleep 1\n`);
    const child = spawn(INSTALL_SCRIPT, [], { env: host.environmentFor({ ReloadCommand: reload }) });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    await appears(started);
    // The new files are in place and the reload is running: now the agent stops the script.
    expect(readFileSync(path.join(host.certDirectory, 'web-server-cert.pem'), 'utf8').trim()).toBe(
      renewed.certificatePem.trim(),
    );
    child.kill('SIGTERM');
    const status = await new Promise((resolve) => child.on('close', (code) => resolve(code)));
    expect(status).toBe(143);
    expect(host.state(reload, started)).toEqual(before);
  });

  it('refuses a directory planted at a target name, changing nothing', () => {
    const { host } = hostWithInstall();
    const target = path.join(host.certDirectory, 'web-server-fullchain.pem');
    execFileSync('rm', [target]);
    mkdirSync(target);
    const planted = host.state();
    const run = host.run();
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('cannot keep the current web-server-fullchain.pem (is it a directory?)');
    expect(host.state()).toEqual(planted);
  });

  it('completes when a directory is planted at a .previous path, keeping that one copy only', () => {
    const { host } = hostWithInstall();
    const previous = path.join(host.certDirectory, 'web-server-chain.pem.previous');
    mkdirSync(previous);
    const run = host.run();
    expect(run.status).toBe(0);
    expect(run.stderr).toContain(
      'WARNING: could not keep the replaced web-server-chain.pem as web-server-chain.pem.previous',
    );
    expect(lstatSync(previous).isDirectory()).toBe(true);
    expect(expectMatchingInstall(host.certDirectory, host.keyDirectory).toString().trim()).toBe(
      renewed.certificatePem.trim(),
    );
    expect(readdirSync(host.certDirectory).filter((name) => name.includes('~install'))).toEqual([]);
  });
});

describe('install script: directories others can write are refused, naming the path and the fix', () => {
  const certificate = makeCertificate('ec');

  it('refuses a certificate directory writable by its group', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    mkdirSync(host.certDirectory, { recursive: true });
    chmodSync(host.certDirectory, 0o775);
    const run = host.run();
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(
      `refusing to install: ${host.certDirectory} is writable by users other than its owner (mode 775)`,
    );
    expect(run.stderr).toContain(`chmod go-w '${host.certDirectory}'`);
    expect(readdirSync(host.certDirectory)).toEqual([]);
  });

  it('refuses a parent directory writable by others (unless sticky, like /tmp)', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    const parent = path.join(host.root, 'etc');
    mkdirSync(parent);
    chmodSync(parent, 0o777);
    expect(host.run().stderr).toContain(
      `refusing to install: ${parent} is writable by users other than its owner`,
    );
    chmodSync(parent, 0o1777);
    expect(host.run().status).toBe(0);
  });

  it.skipIf(!isRoot)(
    'follows a link that root made in a directory only root may change, as /etc/ssl/certs on Red Hat (needs root)',
    () => {
      const host = new FakeHost();
      host.serveSecret(bundleFor(certificate));
      const real = path.join(host.root, 'etc/pki/tls/certs');
      mkdirSync(real, { recursive: true });
      mkdirSync(path.dirname(host.certDirectory), { recursive: true });
      symlinkSync('../pki/tls/certs', host.certDirectory);
      const run = host.run();
      expect(run.status).toBe(0);
      expect(run.stdout).toContain(`installed ${host.certDirectory}/web-server-cert.pem`);
      expectMatchingInstall(real, host.keyDirectory);
    },
  );
});

describe.skipIf(!isRoot)(`install script against a hostile service user (${NEEDS_ROOT})`, () => {
  const serviceUser = serviceUserForSuite();
  let user: ServiceUser;
  beforeAll(() => {
    user = serviceUser();
  });

  const original = makeCertificate('rsa');
  const renewed = makeCertificate('ec');

  const hostOwnedByService = () => hostOwnedBy(user);

  it('replaces links planted at every predictable path instead of writing through them', () => {
    const { host, tls, victims, parameters, elsewhere } = hostOwnedByService();
    const plant = (name: string, target: string) =>
      user.run(`ln -sfn '${path.join(victims, target)}' '${path.join(tls, name)}'`);
    const before = elsewhere();
    for (const [round, certificate] of [original, renewed, original].entries()) {
      // Links at the targets (to a file and to a directory), at every .previous, and at the backup
      // paths of earlier versions of this script.
      plant('web-server-cert.pem.previous', 'sudoers');
      plant('web-server-chain.pem.previous', 'dir');
      plant('web-server-fullchain.pem.previous', 'authorized_keys');
      plant('web-server-privkey.pem.previous', 'sudoers');
      plant('web-server-cert.pem.rollback', 'authorized_keys');
      plant('web-server-privkey.pem.rollback', 'sudoers');
      if (round === 0) {
        plant('web-server-cert.pem', 'sudoers');
        plant('web-server-chain.pem', 'dir');
        plant('web-server-privkey.pem', 'authorized_keys');
      }
      host.serveSecret(bundleFor(certificate));
      const run = host.run(parameters);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(expectMatchingInstall(tls).serialNumber).toBe(
        new X509Certificate(certificate.certificatePem).serialNumber,
      );
      for (const name of TARGETS) {
        expect(lstatSync(path.join(tls, name)).uid, name).toBe(user.uid);
        // The first install keeps what it replaced (the planted links, unread) as .previous; later
        // ones keep the files installed before, whatever was planted at .previous meanwhile.
        if (round > 0) expect(lstatSync(path.join(tls, `${name}.previous`)).isFile(), name).toBe(true);
      }
      expect(elsewhere()).toEqual(before);
      expect(strayKeys(tls)).toEqual([]);
    }
  });

  it('keeps every file elsewhere intact while the service user races the install', async () => {
    const { host, app, tls, victims, parameters, elsewhere } = hostOwnedByService();
    const before = elsewhere();
    // The service user, for the whole test: steals each staging directory the install makes and
    // leaves a link to a root directory in its place, keeps every .previous a link to the sudoers file,
    // and swaps the certificate directory itself for a link to a root directory and back.
    const racer = user.spawn(`
      cd '${tls}' || exit 1
      end=$((SECONDS + 120))
      while ((SECONDS < end)); do
        sleep 0.002
        for stage in .web-server~install.*; do
          if [[ -d $stage && ! -L $stage ]] && mv -T "$stage" "stolen.$RANDOM" 2>/dev/null; then
            ln -sfn '${path.join(victims, 'dir')}' "$stage" 2>/dev/null
          fi
        done
        for name in ${TARGETS.join(' ')}; do ln -sfn '${path.join(victims, 'sudoers')}' "$name.previous" 2>/dev/null; done
      done`);
    const swapper = user.spawn(`
      cd '${app}' || exit 1
      end=$((SECONDS + 120))
      while ((SECONDS < end)); do
        sleep 0.002
        mv -T tls tls.real 2>/dev/null && ln -s '${path.join(victims, 'dir')}' tls && rm -f tls && mv -T tls.real tls
      done`);
    const outcomes: string[] = [];
    try {
      for (const [round, certificate] of Array.from(
        { length: 16 },
        (_, i) => [i, i % 2 ? renewed : original] as const,
      )) {
        host.serveSecret(bundleFor(certificate));
        const run = await host.runConcurrently(parameters);
        if (run.status === 0) outcomes.push('installed');
        else {
          // A refusal is fine, as long as it is a clear one.
          expect(run.stderr, `round ${round}`).toMatch(
            /^ERROR: (refusing to install: .*|.* was moved or replaced during the install; nothing was changed|.* was replaced during the install; nothing was changed|.* is not a directory|cannot enter .*|cannot create .*|cannot write in .*|cannot inspect .*)$/m,
          );
          outcomes.push(run.stderr.trim().split('\n')[0]!.replace(/ .*/, ''));
        }
        expect(elsewhere(), `round ${round}`).toEqual(before);
      }
    } finally {
      await user.stopAll();
      await Promise.all([racer, swapper].map(ended));
    }
    // Once the racing stops, the directory is put back and the install completes.
    // The swapper may have been stopped between its steps: the real directory aside, and in its place a
    // link, nothing, or a directory the install made meanwhile (removed; a link is not followed).
    if (existsSync(`${tls}.real`)) {
      rmSync(tls, { force: true, recursive: true });
      execFileSync('mv', ['-T', `${tls}.real`, tls]);
    }
    host.serveSecret(bundleFor(renewed));
    expect(host.run(parameters).status).toBe(0);
    expectMatchingInstall(tls);
    expect(elsewhere()).toEqual(before);
    expect(strayKeys(app)).toEqual([]);
    expect(outcomes).toHaveLength(16);
  }, 180_000);

  it('replaces links planted at the combined file, the keystore and its password file, never following them', () => {
    const { host, tls, victims, parameters, elsewhere } = hostOwnedByService();
    const plant = (name: string, target: string) =>
      user.run(`ln -sfn '${path.join(victims, target)}' '${path.join(tls, name)}'`);
    const before = elsewhere();
    const formats = { ...parameters, Formats: 'pem,combined,pkcs12' };
    for (const [round, certificate] of [original, renewed].entries()) {
      for (const name of ['combined.pem', 'keystore.p12', 'keystore.pass']) {
        plant(`web-server-${name}.previous`, 'sudoers');
        if (round === 0) plant(`web-server-${name}`, name === 'keystore.p12' ? 'dir' : 'authorized_keys');
      }
      host.serveSecret(bundleFor(certificate));
      const run = host.run(formats);
      expect(run.status, run.stderr).toBe(0);
      for (const name of ['combined.pem', 'keystore.p12', 'keystore.pass']) {
        const stat = lstatSync(path.join(tls, `web-server-${name}`));
        expect([stat.isFile(), stat.uid, (stat.mode & 0o777).toString(8)], name).toEqual([
          true,
          user.uid,
          '600',
        ]);
      }
      // The link at the password file was not read: a fresh password, not the authorized_keys line.
      expect(readFileSync(path.join(tls, 'web-server-keystore.pass'), 'utf8')).toMatch(/^[0-9a-f]{32}\n$/);
      expect(elsewhere()).toEqual(before);
    }
  });

  it('never copies a root-only file hard-linked at the password path into the password file', () => {
    const { host, tls, victims, parameters, elsewhere } = hostOwnedByService();
    // A hard link the service user could make where fs.protected_hardlinks is off: to a root-only file
    // whose first line would pass for a password.
    const shadow = path.join(victims, 'shadow');
    writeFileSync(shadow, 'root:$6$rounds=5000$abcdefgh$0123456789abcdef:19000:0:99999:7:::\n', {
      mode: 0o600,
    });
    linkSync(shadow, path.join(tls, 'web-server-keystore.pass'));
    const before = elsewhere();
    host.serveSecret(bundleFor(original));
    const run = host.run({ ...parameters, Formats: 'pkcs12' });
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(
      /WARNING: .*web-server-keystore\.pass is not the file owner's own file nor root's in a directory only root may change \(owner uid 0\), so another user could have put it there; it is not read/,
    );
    const password = readFileSync(path.join(tls, 'web-server-keystore.pass'), 'utf8');
    expect(password).toMatch(/^[0-9a-f]{32}\n$/);
    expect(readFileSync(shadow, 'utf8')).toContain('root:$6$');
    expect(elsewhere()).toEqual(before);
  });

  it('refuses a certificate directory reached through a link the service user made', () => {
    const { host, app, tls, victims, parameters, elsewhere } = hostOwnedByService();
    user.run(`mv '${tls}' '${app}/tls.real' && ln -s '${path.join(victims, 'dir')}' '${tls}'`);
    const before = elsewhere();
    host.serveSecret(bundleFor(original));
    const run = host.run(parameters);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(
      `refusing to install: ${tls} is a symbolic link that ${user.name} could have placed`,
    );
    expect(elsewhere()).toEqual(before);
  });

  it('refuses a certificate directory that belongs to another user', () => {
    const { host, tls, parameters } = hostOwnedByService();
    chownSync(tls, 65534, 65534);
    host.serveSecret(bundleFor(original));
    const run = host.run(parameters);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(new RegExp(`refusing to install: ${tls} belongs to \\S+, who could replace`));
    expect(run.stderr).toContain(`chown root '${tls}'`);
    expect(readdirSync(tls)).toEqual([]);
  });
});
