import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../helpers/certificates.js';
import { startTlsServer } from '../helpers/tls-server.js';
import { FakeWindowsHost, collect, thumbprintOf, windowsBundle } from '../helpers/windows-host.js';

const SECRET = 'acm-passphrase/web/0123456789abcdef';
const IIS = 'iis:Default Web Site:443:www.example.com';
const HTTP_SYS = 'httpsys:ipport=0.0.0.0:8443';
const bindingParameters = {
  IisBindings: 'Default Web Site:443:www.example.com',
  HttpSysBindings: 'ipport=0.0.0.0:8443',
};
const install = (extra: Record<string, string> = {}) => ({
  CertName: 'web',
  SecretId: SECRET,
  ...bindingParameters,
  ...extra,
});

const first = makeCertificate('rsa', 'www.example.com');
const second = makeCertificate('rsa', 'www.example.com');
const third = makeCertificate('ec', 'www.example.com');
const fourth = makeCertificate('rsa', 'www.example.com');
const OLD = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

let host: FakeWindowsHost;
function freshHost(): FakeWindowsHost {
  host = new FakeWindowsHost();
  host.setBindings({ [IIS]: OLD, [HTTP_SYS]: OLD });
  return host;
}
afterEach(() => host?.remove());

describe('the Windows step of the install document, run by PowerShell', () => {
  it('imports the certificate with its key into the store, moves every binding to it and says so', async () => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    const run = await host.run(install({ KeyReaders: 'IIS AppPool\\DefaultAppPool;NT SERVICE\\W3SVC' }));

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const thumbprint = thumbprintOf(first);
    expect(run.result).toMatchObject({
      cert_name: 'web',
      status: 'installed',
      serial: first.acmSerial,
      thumbprint,
      served: 'unchecked',
    });
    expect(run.result!.sha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(host.store()).toEqual({ [thumbprint]: true });
    expect(host.bindings()).toEqual({ [IIS]: thumbprint, [HTTP_SYS]: thumbprint });
    expect(host.calls()).toContain(`grant ${thumbprint} IIS AppPool\\DefaultAppPool;NT SERVICE\\W3SVC`);
    expect(host.calls()).toContain(`friendly-name ${thumbprint} cert-lifecycle web ${first.acmSerial}`);
    expect(host.state('web')).toEqual({ Current: thumbprint, Previous: null, Retired: [] });
    expect(host.compliance()).toEqual([
      expect.objectContaining({
        Type: 'Custom:CertLifecycle_0123456789abcdef',
        Id: 'web',
        Status: 'COMPLIANT',
      }),
    ]);
    expect(host.compliance()[0]!.Details).toMatchObject({
      status: 'installed',
      serial: first.acmSerial,
      secret_id: SECRET,
    });
  });

  it('changes nothing when the store holds the certificate and every binding points at it', async () => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    await host.run(install());
    host.clearCalls();
    const again = await host.run(install());

    expect(again.result).toMatchObject({ status: 'unchanged', serial: first.acmSerial });
    expect(host.calls().filter((call) => !call.startsWith('read '))).toEqual([]);
  });

  it('keeps the previous certificate for rollback and removes older ones of the name', async () => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    await host.run(install());
    host.putSecret(SECRET, windowsBundle(second));
    expect((await host.run(install())).result).toMatchObject({
      status: 'installed',
      serial: second.acmSerial,
    });
    expect(Object.keys(host.store()).sort()).toEqual([thumbprintOf(first), thumbprintOf(second)].sort());

    host.putSecret(SECRET, windowsBundle(third));
    expect((await host.run(install())).result).toMatchObject({
      status: 'installed',
      serial: third.acmSerial,
    });
    expect(Object.keys(host.store()).sort()).toEqual([thumbprintOf(second), thumbprintOf(third)].sort());
    expect(host.calls()).toContain(`delete-key ${thumbprintOf(first)}`);
    expect(host.state('web')).toEqual({
      Current: thumbprintOf(third),
      Previous: thumbprintOf(second),
      Retired: [],
    });
    expect(host.bindings()).toEqual({ [IIS]: thumbprintOf(third), [HTTP_SYS]: thumbprintOf(third) });
  });

  it('keeps an older certificate that a binding it was not given still uses', async () => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    await host.run(install());
    host.putSecret(SECRET, windowsBundle(second));
    await host.run(install());
    host.usedElsewhere(thumbprintOf(first));
    host.putSecret(SECRET, windowsBundle(third));
    const run = await host.run(install());

    expect(run.stdout).toContain(`older certificate ${thumbprintOf(first)} stays in the store`);
    expect(Object.keys(host.store()).sort()).toEqual(
      [thumbprintOf(first), thumbprintOf(second), thumbprintOf(third)].sort(),
    );
    expect(host.calls()).not.toContain(`delete-key ${thumbprintOf(first)}`);
    expect(host.state('web')).toMatchObject({ Retired: [thumbprintOf(first)] });

    // Once nothing uses it, the next install removes it.
    host.usedElsewhere();
    host.putSecret(SECRET, windowsBundle(fourth));
    await host.run(install());
    expect(Object.keys(host.store()).sort()).toEqual([thumbprintOf(third), thumbprintOf(fourth)].sort());
    expect(host.calls()).toContain(`delete-key ${thumbprintOf(first)}`);
    expect(host.state('web')).toMatchObject({ Retired: [] });
  });

  describe('a failure leaves the bindings on the previous certificate and the new one out of the store', () => {
    it.each([
      [
        'the keystore password is wrong',
        () => windowsBundle(second, { password: 'not-its-password' }),
        /cannot open the Windows keystore/,
      ],
      [
        "the key is not the certificate's",
        () => windowsBundle(second, { keyOf: first }),
        /(private key does not belong|holds no key for its certificate)/,
      ],
      [
        'the secret predates Windows support',
        () => windowsBundle(second, { keystore: false }),
        /holds no Windows keystore/,
      ],
    ])('when %s', async (_, bundle, error) => {
      freshHost().putSecret(SECRET, windowsBundle(first));
      await host.run(install());
      host.putSecret(SECRET, bundle());
      const run = await host.run(install());

      expect(run.code).toBe(1);
      expect(run.error).toMatch(error);
      expect(host.bindings()).toEqual({ [IIS]: thumbprintOf(first), [HTTP_SYS]: thumbprintOf(first) });
      expect(host.store()).toEqual({ [thumbprintOf(first)]: true });
      expect(host.compliance().at(-1)).toMatchObject({
        Status: 'NON_COMPLIANT',
        Details: { status: 'failed' },
      });
    });

    it('when the store refuses the import', async () => {
      freshHost().putSecret(SECRET, windowsBundle(first));
      host.fault('store-add');
      const run = await host.run(install());

      expect(run.error).toMatch(
        /^cannot add the certificate to the CurrentUser\\My store: Access is denied\..*the bindings are back on their previous certificate$/,
      );
      expect(host.bindings()).toEqual({ [IIS]: OLD, [HTTP_SYS]: OLD });
      expect(host.store()).toEqual({});
      expect(host.state('web')).toBeUndefined();
    });

    it('when a binding refuses the new certificate after another moved', async () => {
      freshHost().putSecret(SECRET, windowsBundle(first));
      await host.run(install());
      host.putSecret(SECRET, windowsBundle(second));
      host.fault('binding', thumbprintOf(second));
      const run = await host.run(install());

      expect(run.error).toMatch(
        /^cannot move binding .* to the new certificate: .*the bindings are back on their previous certificate$/,
      );
      expect(host.bindings()).toEqual({ [IIS]: thumbprintOf(first), [HTTP_SYS]: thumbprintOf(first) });
      expect(host.store()).toEqual({ [thumbprintOf(first)]: true });
      expect(host.calls()).toContain(`delete-key ${thumbprintOf(second)}`);
      expect(host.state('web')).toEqual({ Current: thumbprintOf(first), Previous: null, Retired: [] });
    });
  });

  describe('proof of service', () => {
    let old: Awaited<ReturnType<typeof startTlsServer>>;
    let current: Awaited<ReturnType<typeof startTlsServer>>;
    const directory = new FakeWindowsHost();
    beforeAll(async () => {
      old = await startTlsServer(directory.root, first);
      current = await startTlsServer(directory.root, second);
    });
    afterAll(() => {
      old.stop();
      current.stop();
      directory.remove();
    });

    it('reports the serial the endpoint serves once it serves the new certificate', async () => {
      freshHost().putSecret(SECRET, windowsBundle(second));
      const run = await host.run(
        install({ VerifyEndpoint: `127.0.0.1:${current.port}`, VerifySeconds: '0' }),
      );
      expect(run.result).toMatchObject({ status: 'installed', served: second.acmSerial });
    });

    it('rolls back when the endpoint still serves the old certificate', async () => {
      freshHost().putSecret(SECRET, windowsBundle(first));
      await host.run(install());
      host.putSecret(SECRET, windowsBundle(second));
      const run = await host.run(install({ VerifyEndpoint: `127.0.0.1:${old.port}`, VerifySeconds: '1' }));

      expect(run.error).toBe(
        `127.0.0.1:${old.port} still serves serial ${first.acmSerial}, not the installed certificate, after 1 s; the bindings are back on their previous certificate`,
      );
      expect(host.bindings()).toEqual({ [IIS]: thumbprintOf(first), [HTTP_SYS]: thumbprintOf(first) });
      expect(host.store()).toEqual({ [thumbprintOf(first)]: true });
    });
  });

  it('undoes an install killed while its bindings moved, before anything else', async () => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    await host.run(install());
    host.putSecret(SECRET, windowsBundle(second));
    host.fault('hang-after-bind');
    const child = host.start(install());
    const killed = collect(child);
    for (
      let waited = 0;
      !host.calls().some((call) => call.startsWith(`bind ${IIS} ${thumbprintOf(second)}`));
      waited += 100
    ) {
      if (waited > 60_000) throw new Error('the install never moved a binding');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    process.kill(-child.pid!, 'SIGKILL');
    await killed;
    expect(host.bindings()[IIS]).toBe(thumbprintOf(second));

    host.clearFaults();
    host.putSecret(SECRET, windowsBundle(first));
    const next = await host.run(install());
    expect(next.stdout).toContain('an interrupted install of web was undone');
    expect(next.result).toMatchObject({ status: 'unchanged', serial: first.acmSerial });
    expect(host.bindings()).toEqual({ [IIS]: thumbprintOf(first), [HTTP_SYS]: thumbprintOf(first) });
    expect(host.store()).toEqual({ [thumbprintOf(first)]: true });
  }, 120_000);

  it('runs two installs of one name one after the other (the named mutex)', async () => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    const runs = await Promise.all([collect(host.start(install())), collect(host.start(install()))]);

    expect(runs.map((run) => run.code)).toEqual([0, 0]);
    expect(runs.map((run) => run.result!.status).sort()).toEqual(['installed', 'unchanged']);
    expect(host.calls().filter((call) => call.startsWith('store-add'))).toHaveLength(1);
    expect(host.store()).toEqual({ [thumbprintOf(first)]: true });
  });

  it('installs each certificate of a target on its own, one failing stopping none of the others', async () => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    const broken = 'acm-passphrase/api/fedcba9876543210';
    host.putSecret(broken, windowsBundle(second, { password: 'wrong' }));
    const run = await host.run({ Certificates: `${broken} ${SECRET}`, ...bindingParameters });

    expect(run.code).toBe(1);
    expect(run.stdout).toContain('RESULTS certificates=2 failed=1');
    expect(run.stderr).toMatch(/^ERROR: cannot open the Windows keystore in secret acm-passphrase\/api/m);
    expect(host.compliance().map((item) => [item.Id, item.Status])).toEqual([
      ['api', 'NON_COMPLIANT'],
      ['web', 'COMPLIANT'],
    ]);
  });

  it('removes the certificate from the bindings it owns and from the store, then finds nothing', async () => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    await host.run(install());
    host.putSecret(SECRET, windowsBundle(second));
    await host.run(install());
    const removed = await host.run({ Action: 'Remove', CertName: 'web', ...bindingParameters });

    expect(removed.result).toEqual({ cert_name: 'web', status: 'removed', files: '2' });
    expect(host.bindings()).toEqual({ [IIS]: '', [HTTP_SYS]: '' });
    expect(host.store()).toEqual({});
    expect(
      (await host.run({ Action: 'Remove', CertName: 'web', ...bindingParameters })).result,
    ).toMatchObject({ status: 'absent' });
  });

  it("reports the store's certificate, the bindings' and the served one, changing nothing", async () => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    expect((await host.run({ Action: 'Check', CertName: 'web', ...bindingParameters })).result).toEqual({
      cert_name: 'web',
      status: 'missing',
    });
    await host.run(install());
    host.clearCalls();
    const check = await host.run({
      Action: 'Check',
      CertName: 'web',
      ...bindingParameters,
      VerifyEndpoint: '127.0.0.1:9',
    });

    expect(check.result).toMatchObject({
      status: 'present',
      serial: first.acmSerial,
      bindings: `${thumbprintOf(first)},${thumbprintOf(first)}`,
      served: 'none',
    });
    expect(host.calls()).toEqual([]);
  });

  it.each([
    // Each parameter's own check, value by value, is the syntax test's (one PowerShell for all of them).
    ['CertName', '..\\windows'],
    ['IisBindings', 'Default Web Site:443:$(calc)'],
    ['HttpSysBindings', 'ipport=0.0.0.0:70000'],
    ['KeyReaders', 'Everyone'],
  ])('refuses %s %j before touching anything', async (name, value) => {
    freshHost().putSecret(SECRET, windowsBundle(first));
    const run = await host.run(install({ [name]: value }));

    expect(run.code).toBe(1);
    expect(run.error).toMatch(/^(parameter \w+ is not valid|a binding's port \d+ is not a TCP port)$/);
    expect(host.calls()).toEqual([]);
    expect(host.bindings()).toEqual({ [IIS]: OLD, [HTTP_SYS]: OLD });
  });

  it('says which secret it could not read, and why', async () => {
    freshHost();
    const run = await host.run(install());
    expect(run.error).toBe(
      `cannot read secret ${SECRET}: AccessDeniedException: not authorized to perform secretsmanager:GetSecretValue on ${SECRET}; check the host's network, its role's tags and the instance access policy`,
    );
  });
});
