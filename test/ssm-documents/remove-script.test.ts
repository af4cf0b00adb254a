import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandDocumentContent } from '../../lib/command-document.js';
import { makeCertificate } from '../helpers/certificates.js';
import { FakeHost, bundleFor } from '../helpers/install-script.js';

/**
 * The Remove document runs the install script with Action=Remove (what an unmap with RemoveFiles sends).
 * Run here with real files in a temporary root, after a real install.
 */
const REMOVE = { Action: 'Remove', SecretId: '', Region: '' };
const FILES = ['cert', 'chain', 'fullchain'];

function installedHost(): FakeHost {
  const host = new FakeHost();
  const certificate = makeCertificate('rsa');
  host.serveSecret(bundleFor(certificate));
  expect(host.run().status).toBe(0);
  host.serveSecret(bundleFor(makeCertificate('rsa')));
  expect(host.run().status).toBe(0); // a second install leaves .previous copies too
  return host;
}

describe('the Remove document', () => {
  it('runs the install script itself, with Action fixed to Remove and no secret parameter', () => {
    const remove = commandDocumentContent('remove-acm-certificate', 'install-acm-certificate');
    const install = commandDocumentContent('install-acm-certificate');
    expect(remove.mainSteps[0]!.inputs.runCommand).toEqual(install.mainSteps[0]!.inputs.runCommand);
    expect(remove.parameters.Action).toMatchObject({ default: 'Remove', allowedPattern: '^Remove$' });
    expect(Object.keys(remove.parameters)).not.toContain('SecretId');
  });
});

describe('the install script with Action=Remove', () => {
  it('removes the four files and their .previous copies, reads no secret, and says so', () => {
    const host = installedHost();
    const neighbour = path.join(host.certDirectory, 'other-cert.pem');
    writeFileSync(neighbour, 'someone else');
    const run = host.run(REMOVE);
    expect(run.status).toBe(0);
    expect(run.awsCalls).toEqual([]);
    for (const suffix of FILES) {
      expect(existsSync(path.join(host.certDirectory, `web-server-${suffix}.pem`))).toBe(false);
      expect(existsSync(path.join(host.certDirectory, `web-server-${suffix}.pem.previous`))).toBe(false);
    }
    expect(existsSync(path.join(host.keyDirectory, 'web-server-privkey.pem'))).toBe(false);
    expect(readFileSync(neighbour, 'utf8')).toBe('someone else');
    expect(run.stdout).toMatch(/RESULT cert_name=web-server status=removed files=8\n$/);
  });

  it('says there was nothing to remove the second time', () => {
    const host = installedHost();
    host.run(REMOVE);
    const again = host.run(REMOVE);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/RESULT cert_name=web-server status=absent files=0\n$/);
  });

  it('removes a link planted at a target path, never what it points to', () => {
    const host = new FakeHost();
    mkdirSync(host.certDirectory, { recursive: true, mode: 0o755 });
    const precious = path.join(host.root, 'precious.txt');
    writeFileSync(precious, 'keep me');
    symlinkSync(precious, path.join(host.certDirectory, 'web-server-cert.pem'));
    const run = host.run(REMOVE);
    expect(run.status).toBe(0);
    expect(readFileSync(precious, 'utf8')).toBe('keep me');
    expect(existsSync(path.join(host.certDirectory, 'web-server-cert.pem'))).toBe(false);
  });

  it('creates no directory that is not there', () => {
    const host = new FakeHost();
    const run = host.run(REMOVE);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/status=absent/);
    expect(existsSync(host.keyDirectory)).toBe(false);
  });

  it('refuses a directory others may write, as the install does, and removes nothing', () => {
    const host = installedHost();
    chmodSync(host.certDirectory, 0o777);
    const run = host.run(REMOVE);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/refusing to install: .* is writable by users other than its owner/);
    expect(existsSync(path.join(host.certDirectory, 'web-server-cert.pem'))).toBe(true);
    expect(run.stdout).not.toMatch(/RESULT/);
  });
});
