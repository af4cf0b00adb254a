import { chmodSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resultLine } from '../../lambda/shared/command-invocations.js';
import { hostCheckLines } from '../../lambda/shared/host-check.js';
import { makeCertificate } from '../helpers/certificates.js';
import { FakeHost, TEST_PASSPHRASE, bundleFor } from '../helpers/install-script.js';
import { startTlsServer } from '../helpers/tls-server.js';

/*
 * The dry run's two actions, run for real: Preflight (before the first export: the tools, the users,
 * the secret as the host's role reads it, the directories by the install's own walk, the reload
 * command, the endpoint) and Rehearse (an existing mapping: all that, then the install up to its first
 * write). Neither writes in the target directories nor reloads anything.
 */

const result = (stdout: string) => resultLine({ CommandPlugins: [{ Output: stdout }] });
const checks = (stdout: string) =>
  Object.fromEntries(hostCheckLines(stdout).map((check) => [check.item, `${check.verdict} ${check.words}`]));

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

/** A reload command that leaves a mark each time it runs. */
function markingReload(host: FakeHost): { command: string; ran: () => boolean } {
  const mark = path.join(host.root, 'reloaded');
  host.addCommand('reload-service', `#!/bin/bash\necho reload >>'${mark}'\n`);
  return { command: 'reload-service', ran: () => existsSync(mark) };
}

/** Everything on the host but its /run/cert-lifecycle, where a rehearsal takes the lock and has its scratch. */
const outsideRun = (host: FakeHost) =>
  Object.fromEntries(Object.entries(host.state()).filter(([file]) => !file.startsWith(host.runDirectory)));

describe('Preflight: a host before its first export', () => {
  it('reports every check as passed on a host that has what the install needs, and writes nothing', () => {
    const host = new FakeHost();
    const before = host.state();
    const run = host.run({ Action: 'Preflight' });

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(result(run.stdout)).toEqual({
      cert_name: 'web-server',
      mode: 'preflight',
      problems: '0',
      identity: FakeHost.ROLE_ARN,
      status: 'ready',
    });
    const found = checks(run.stdout);
    expect(found.tools).toMatch(/^ok OpenSSL 3\.\S+, aws-cli\/2\.22\.35, flock$/);
    expect(found.secret).toBe(
      `note acm-passphrase/web-server/0123456789abcdef does not exist until the first export; Secrets Manager answered as ${FakeHost.ROLE_ARN}`,
    );
    expect(found.CertDirectory).toBe(
      `ok ${host.certDirectory} does not exist yet; the install makes it, below directories that pass its checks`,
    );
    expect(found.reload).toBe('ok no reload command is set');
    expect(found.endpoint).toBe('ok no endpoint to check is set');
    // Only the secret's version is asked for; nothing is made, not even the lock directory.
    expect(run.awsCalls).toEqual([
      '--version',
      'secretsmanager get-secret-value --region eu-west-1 --secret-id acm-passphrase/web-server/0123456789abcdef --query VersionId --output text',
    ]);
    expect(host.state()).toEqual(before);
  });

  it('names every missing tool at once, and does not try the secret without the AWS CLI', () => {
    const host = new FakeHost();
    // A PATH with everything the machine has but flock and the AWS CLI.
    const bin = path.join(host.root, 'bare-bin');
    mkdirSync(bin);
    for (const dir of ['/usr/local/bin', '/usr/bin', '/bin']) {
      for (const name of existsSync(dir) ? readdirSync(dir) : []) {
        if (['flock', 'aws'].includes(name) || existsSync(path.join(bin, name))) continue;
        symlinkSync(path.join(dir, name), path.join(bin, name));
      }
    }
    const run = host.run({ Action: 'Preflight' }, { PATH: bin });

    expect(run.status).toBe(0);
    const found = checks(run.stdout);
    expect(found.tools).toBe(
      'problem missing: flock aws; the README (Hosts, what a host needs) says how to install them on each distribution',
    );
    expect(found.secret).toBe('problem not tried: the AWS CLI is needed to read it');
    expect(found.CertDirectory).toMatch(/^ok /);
    expect(result(run.stdout)).toMatchObject({ status: 'not-ready', problems: '2' });
  });

  it('says that a host without credentials has none, and how to give it some', () => {
    const host = new FakeHost();
    host.addCommand(
      'aws',
      '#!/bin/bash\n[[ $1 == --version ]] && { echo aws-cli/2.22.35; exit 0; }\necho >&2\necho "Unable to locate credentials. You can configure credentials by running \\"aws configure\\"." >&2\nexit 253\n',
    );
    const run = host.run({ Action: 'Preflight' });
    expect(checks(run.stdout).secret).toBe(
      'problem this host has no AWS credentials: give the instance a profile with a role (EC2) or register it with a hybrid activation',
    );
    expect(result(run.stdout)).toMatchObject({ status: 'not-ready', problems: '1' });
    expect(result(run.stdout)?.identity).toBeUndefined();
  });

  it('refuses, as the install would, a directory others can write, one where CAs are trusted, and an unknown owner', () => {
    const host = new FakeHost();
    const shared = path.join(host.root, 'shared');
    mkdirSync(shared, { mode: 0o777 });
    chmodSync(shared, 0o777);
    const run = host.run({
      Action: 'Preflight',
      CertDirectory: path.join(shared, 'certs'),
      KeyDirectory: '/etc/ssl/certs',
    });
    const found = checks(run.stdout);
    expect(found.CertDirectory).toMatch(
      new RegExp(
        `^problem refusing to install: ${shared} is writable by users other than its owner \\(mode 777\\)`,
      ),
    );
    expect(found.KeyDirectory).toMatch(
      /^problem refusing to install: KeyDirectory \/etc\/ssl\/certs is in \/etc\/ssl\/certs/,
    );
    expect(result(run.stdout)).toMatchObject({ status: 'not-ready', problems: '2' });

    const unknown = host.run({ Action: 'Preflight', FileOwner: 'no-such-user' });
    expect(checks(unknown.stdout).owner).toBe(
      'problem user no-such-user does not exist on this host; create it or name another FileOwner',
    );
    expect(checks(unknown.stdout).directories).toBe(
      'problem not checked: the tools and users above are needed first',
    );
  });

  it('finds a reload command that is not there, and a systemd unit that is not loaded', () => {
    const host = new FakeHost();
    const missing = host.run({ Action: 'Preflight', ReloadCommand: 'no-such-reloader --now' });
    expect(checks(missing.stdout).reload).toBe(
      "problem 'no-such-reloader' is not a command on this host, so 'no-such-reloader --now' would fail and the install be rolled back",
    );

    host.addCommand(
      'systemctl',
      '#!/bin/bash\n[[ "$*" == "show --property=LoadState --value -- nginx" ]] && echo loaded || echo not-found\n',
    );
    expect(
      checks(host.run({ Action: 'Preflight', ReloadCommand: 'systemctl reload nginx' }).stdout).reload,
    ).toBe("ok 'systemctl reload nginx' can run (unit nginx is loaded)");
    expect(
      checks(host.run({ Action: 'Preflight', ReloadCommand: 'systemctl reload apache2' }).stdout).reload,
    ).toBe(
      'problem systemd has no unit apache2 loaded (LoadState not-found), so ' +
        "'systemctl reload apache2' would fail",
    );
  });

  it('asks the endpoint what it serves, and says when nothing answers', async () => {
    const host = new FakeHost();
    const served = makeCertificate('ec');
    const server = await startTlsServer(host.root, served);
    stops.push(server.stop);
    const answering = host.run({ Action: 'Preflight', VerifyEndpoint: `127.0.0.1:${server.port}` });
    expect(checks(answering.stdout).endpoint).toBe(
      `ok 127.0.0.1:${server.port} answers with serial ${served.acmSerial}`,
    );
    server.stop();
    const silent = host.run({ Action: 'Preflight', VerifyEndpoint: `127.0.0.1:${server.port}` });
    expect(checks(silent.stdout).endpoint).toBe(
      `problem no TLS answer on 127.0.0.1:${server.port}; the install's check after the reload would fail there`,
    );
  });
});

describe('Rehearse: an existing mapping, up to the first write', () => {
  const certificate = makeCertificate('rsa');
  const renewed = makeCertificate('rsa');

  it('reads the current secret, checks it as the install does and says it would install, writing nothing and reloading nothing', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    const reload = markingReload(host);
    const before = outsideRun(host);
    const run = host.run({
      Action: 'Rehearse',
      ReloadCommand: reload.command,
      Formats: 'pem,combined,pkcs12',
    });

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(result(run.stdout)).toMatchObject({
      mode: 'rehearse',
      status: 'ready',
      problems: '0',
      would: 'install',
      serial: certificate.acmSerial,
    });
    expect(checks(run.stdout).secret).toBe(
      "ok this host's role reads acm-passphrase/web-server/0123456789abcdef",
    );
    expect(run.stdout).toContain(
      `rehearsal: the install would write web-server-cert.pem web-server-chain.pem web-server-fullchain.pem web-server-privkey.pem web-server-combined.pem web-server-keystore.pass web-server-keystore.p12, making ${host.certDirectory} ${host.keyDirectory}, then run: reload-service`,
    );
    expect(reload.ran()).toBe(false);
    expect(outsideRun(host)).toEqual(before);
    // The scratch directory, where the key was decrypted, is gone; no key or passphrase was printed.
    expect(readdirSync(host.runDirectory)).toEqual(['install-web-server.lock']);
    expect(run.stdout).not.toContain('PRIVATE KEY');
    expect(run.stdout).not.toContain(TEST_PASSPHRASE.slice(0, 12));
  });

  it('says an installed, current certificate would be left alone, and a renewed one installed', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    expect(host.run().status).toBe(0);
    expect(result(host.run({ Action: 'Rehearse' }).stdout)).toMatchObject({
      would: 'unchanged',
      status: 'ready',
    });

    host.serveSecret(bundleFor(renewed));
    const before = outsideRun(host);
    const run = host.run({ Action: 'Rehearse' });
    expect(result(run.stdout)).toMatchObject({ would: 'install', serial: renewed.acmSerial });
    expect(run.stdout).toContain('rehearsal: the install would write web-server-cert.pem');
    expect(run.stdout).not.toContain('making');
    expect(outsideRun(host)).toEqual(before);
  });

  it('fails as the install would on a secret whose key is not the certificate’s, with nothing written', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate, { key: renewed.privateKeyPem }));
    const before = outsideRun(host);
    const run = host.run({ Action: 'Rehearse' });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe(
      'ERROR: the private key does not belong to the certificate in secret acm-passphrase/web-server/0123456789abcdef; export the certificate again',
    );
    expect(outsideRun(host)).toEqual(before);
  });

  it('leaves an interrupted install for the next install to recover, and says so', () => {
    const host = new FakeHost();
    host.serveSecret(bundleFor(certificate));
    mkdirSync(host.stateDirectory, { mode: 0o700 });
    const journal = path.join(host.stateDirectory, 'web-server.journal');
    writeFileSync(journal, 'phase staging\nreload \n');
    const run = host.run({ Action: 'Rehearse' });
    expect(checks(run.stdout).journal).toBe(
      'note an install of web-server here was interrupted; the next install first undoes or completes it',
    );
    expect(result(run.stdout)).toMatchObject({ status: 'ready', would: 'install' });
    expect(existsSync(journal)).toBe(true);
  });

  it('stops before the lock and the secret when a check fails', () => {
    const host = new FakeHost();
    const run = host.run({ Action: 'Rehearse' });
    expect(checks(run.stdout).secret).toMatch(
      /^problem cannot read acm-passphrase\/web-server\/0123456789abcdef: An error occurred \(AccessDeniedException\)/,
    );
    expect(result(run.stdout)).toMatchObject({
      mode: 'rehearse',
      status: 'not-ready',
      identity: FakeHost.ROLE_ARN,
    });
    expect(existsSync(host.runDirectory)).toBe(false);
  });
});
