import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeCertificate } from '../helpers/certificates.js';
import { FakeHost, bundleFor } from '../helpers/install-script.js';

/**
 * A target's association lists every certificate mapped to it (Certificates). Each is installed by its
 * own run of the script, so one that fails stops none of the others, and each outcome is recorded by the
 * node itself as a Systems Manager compliance item, which SSM keeps whole however long the output.
 */
const NODE = { AWS_SSM_INSTANCE_ID: 'i-0123456789abcdef0', AWS_SSM_REGION_NAME: 'eu-west-1' };
const secretOf = (name: string, n: number) => `acm-passphrase/${name}/${n.toString(16).padStart(16, '0')}`;
const installedPem = (host: FakeHost, name: string) =>
  readFileSync(path.join(host.certDirectory, `${name}-cert.pem`), 'utf8');
/** As ACM writes a serial, and the RESULT line repeats it: colon-separated lowercase hex. */
const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toLowerCase().match(/../g)!.join(':');

function edgeProxy(count: number) {
  const host = new FakeHost();
  const sites = Array.from({ length: count }, (_, n) => {
    const certificate = makeCertificate(n % 2 ? 'ec' : 'rsa');
    const name = `site${n}.example.com`;
    const secretId = secretOf(name, n + 1);
    host.serveSecretFor(secretId, bundleFor(certificate));
    return { name, secretId, certificate };
  });
  return { host, sites, Certificates: sites.map((site) => site.secretId).join(' ') };
}

describe('install script with a list of certificates', () => {
  it('installs each listed certificate, one failing stopping none of the others, and records each outcome', () => {
    const { host, sites, Certificates } = edgeProxy(3);
    const denied = secretOf('denied.example.com', 99);
    const run = host.run(
      { Certificates: `${sites[0]!.secretId} ${denied} ${sites[1]!.secretId} ${sites[2]!.secretId}` },
      NODE,
    );

    expect(run.status).toBe(1);
    for (const site of sites) {
      expect(installedPem(host, site.name).trim()).toBe(site.certificate.certificatePem.trim());
    }
    expect(existsSync(path.join(host.certDirectory, 'denied.example.com-cert.pem'))).toBe(false);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^ERROR: cannot read secret acm-passphrase\/denied\.example\.com\/0000000000000063: .*AccessDeniedException/,
      ),
    ]);
    expect(run.stdout).toMatch(/^RESULT cert_name=site2\.example\.com status=installed /m);
    expect(run.stdout.trim().split('\n').at(-1)).toBe('RESULTS certificates=4 failed=1');

    const reports = host.complianceReports();
    expect(reports.map((report) => [report['compliance-type'], report.items[0]!.Status])).toEqual([
      ['Custom:CertLifecycle_0000000000000001', 'COMPLIANT'],
      ['Custom:CertLifecycle_0000000000000063', 'NON_COMPLIANT'],
      ['Custom:CertLifecycle_0000000000000002', 'COMPLIANT'],
      ['Custom:CertLifecycle_0000000000000003', 'COMPLIANT'],
    ]);
    expect(reports[0]).toMatchObject({
      region: 'eu-west-1',
      'resource-id': 'i-0123456789abcdef0',
      'resource-type': 'ManagedInstance',
    });
    expect(JSON.parse(reports[0]!['execution-summary']!)).toEqual({
      ExecutionTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      ExecutionType: 'Command',
    });
    expect(reports[0]!.items[0]).toEqual({
      Id: 'site0.example.com',
      Title: 'site0.example.com',
      Severity: 'HIGH',
      Status: 'COMPLIANT',
      Details: {
        status: 'installed',
        serial: serialOf(sites[0]!.certificate.certificatePem),
        not_after: expect.stringMatching(/^\d{4}-/),
        sha256: new X509Certificate(sites[0]!.certificate.certificatePem).fingerprint256,
        served: 'unchecked',
        secret_id: sites[0]!.secretId,
      },
    });
    expect(reports[1]!.items[0]!.Details).toEqual({
      status: 'failed',
      error: expect.stringMatching(/^cannot read secret acm-passphrase\/denied/),
      secret_id: denied,
    });
    // Nothing secret in what the node reports.
    expect(JSON.stringify(reports)).not.toMatch(/PRIVATE KEY|passphrase"/);

    const again = host.run({ Certificates }, NODE);
    expect(again.status).toBe(0);
    expect(again.stdout.match(/status=unchanged/g)).toHaveLength(3);
  });

  it('gives each certificate its own run: its own result even when the output runs long', () => {
    const { host, Certificates } = edgeProxy(12);
    const run = host.run({ Certificates }, NODE);
    expect(run.status).toBe(0);
    expect(run.stdout.length).toBeGreaterThan(2_500);
    expect(run.stdout.match(/^--- site\d+\.example\.com$/gm)).toHaveLength(12);
    const reports = host.complianceReports();
    expect(reports).toHaveLength(12);
    expect(reports.every((report) => report.items[0]!.Status === 'COMPLIANT')).toBe(true);
  });

  it('refuses a list that names one file stem twice, and writes nothing', () => {
    const host = new FakeHost();
    const before = host.state();
    const run = host.run(
      { Certificates: `${secretOf('www.example.com', 1)} ${secretOf('www.example.com', 2)}` },
      NODE,
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      'ERROR: parameter Certificates names www.example.com twice: two certificates would share its files\n',
    );
    expect(host.state()).toEqual(before);
    expect(host.complianceReports()).toEqual([]);
  });

  it.each<[string, string, Record<string, string>?]>([
    ['a relative path', 'acm-passphrase/../0000000000000001'],
    ['a doubled space', `${secretOf('a', 1)}  ${secretOf('b', 2)}`],
    ['a shell word', `${secretOf('a', 1)} $(id)`],
    ['an Action other than Install', secretOf('a', 1), { Action: 'Remove' }],
  ])('refuses %s in Certificates before anything runs', (_, Certificates, extra = {}) => {
    const host = new FakeHost();
    const run = host.run({ Certificates, ...extra }, NODE);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^ERROR: parameter Certificates is (not valid|for Action=Install only)\n$/);
    expect(run.awsCalls).toEqual([]);
  });

  it('installs all the same when the node may not record compliance, and says so', () => {
    const { host, sites, Certificates } = edgeProxy(1);
    host.refuseCompliance(
      'An error occurred (AccessDeniedException) when calling the PutComplianceItems operation: not authorized',
    );
    const run = host.run({ Certificates }, NODE);
    expect(run.status).toBe(0);
    expect(installedPem(host, sites[0]!.name).trim()).toBe(sites[0]!.certificate.certificatePem.trim());
    expect(run.stdout).toContain(
      'note: site0.example.com: its outcome is not recorded in Systems Manager compliance (An error occurred (AccessDeniedException) when calling the PutComplianceItems operation: not authorized)',
    );
  });

  it('records nothing where no SSM Agent gave it a valid node id', () => {
    const { host, Certificates } = edgeProxy(1);
    const run = host.run(
      { Certificates },
      { AWS_SSM_INSTANCE_ID: 'i-1;reboot', AWS_SSM_REGION_NAME: 'eu-west-1' },
    );
    expect(run.status).toBe(0);
    expect(run.awsCalls.filter((call) => call.startsWith('ssm '))).toEqual([]);
  });
});
