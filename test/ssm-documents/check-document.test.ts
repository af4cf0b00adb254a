import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultLine } from '../../lambda/shared/command-invocations.js';
import { INSTALL_PARAMETER_RULES } from '../../lambda/shared/install-parameters.js';
import { commandDocumentContent } from '../../lib/command-document.js';
import { ssmScriptFile } from '../../lib/paths.js';
import { makeCertificate } from '../helpers/certificates.js';
import { freePort, startTlsServer } from '../helpers/tls-server.js';

const document = commandDocumentContent('check-acm-certificate');
const scriptFile = ssmScriptFile('check-acm-certificate');
const script = readFileSync(scriptFile, 'utf8');

function runCheck(env: Record<string, string>) {
  return spawnSync(scriptFile, [], { env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8' });
}

describe('check document', () => {
  it('uses the install rules for the names it shares with the install document, as environment variables', () => {
    expect(document.parameters.CertName!.allowedPattern).toBe(INSTALL_PARAMETER_RULES.CertName.pattern);
    for (const name of ['CertDirectory', 'VerifyEndpoint', 'VerifyServerName'] as const) {
      expect(document.parameters[name]!.allowedPattern).toBe(INSTALL_PARAMETER_RULES[name].pattern);
      expect(script).toContain(`-gt ${INSTALL_PARAMETER_RULES[name].maxChars}`);
    }
    for (const parameter of Object.values(document.parameters))
      expect(parameter.interpolationType).toBe('ENV_VAR');
    expect(script).not.toMatch(/\{\{/);
  });

  it('reports the serial of the installed certificate in the form the workflow compares', () => {
    const certificate = makeCertificate('rsa');
    const dir = mkdtempSync(path.join(tmpdir(), 'check-'));
    mkdirSync(path.join(dir, 'certs'));
    writeFileSync(path.join(dir, 'certs', 'web-server-cert.pem'), certificate.certificatePem);
    const run = runCheck({ SSM_CertName: 'web-server', SSM_CertDirectory: path.join(dir, 'certs') });
    expect(run.status).toBe(0);
    expect(resultLine({ CommandPlugins: [{ Output: run.stdout }] })).toMatchObject({
      status: 'present',
      serial: certificate.acmSerial,
    });
  });

  it('reports missing files, and changes nothing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'check-'));
    const run = runCheck({ SSM_CertName: 'web-server', SSM_CertDirectory: dir });
    expect(run.stdout.trim()).toBe('RESULT cert_name=web-server status=missing');
  });

  it('reports a link planted at the certificate path as missing, without following it', () => {
    const certificate = makeCertificate('rsa');
    const dir = mkdtempSync(path.join(tmpdir(), 'check-'));
    const elsewhere = path.join(dir, 'elsewhere.pem');
    writeFileSync(elsewhere, certificate.certificatePem);
    symlinkSync(elsewhere, path.join(dir, 'web-server-cert.pem'));
    const run = runCheck({ SSM_CertName: 'web-server', SSM_CertDirectory: dir });
    expect(run.stdout.trim()).toBe('RESULT cert_name=web-server status=missing');
  });

  it('reports the serial the service serves at the endpoint beside the file serial, or none', async () => {
    const installed = makeCertificate('ec');
    const served = makeCertificate('ec');
    const dir = mkdtempSync(path.join(tmpdir(), 'check-'));
    writeFileSync(path.join(dir, 'web-server-cert.pem'), installed.certificatePem);
    const server = await startTlsServer(dir, served);
    try {
      const run = runCheck({
        SSM_CertName: 'web-server',
        SSM_CertDirectory: dir,
        SSM_VerifyEndpoint: `127.0.0.1:${server.port}`,
      });
      expect(resultLine({ CommandPlugins: [{ Output: run.stdout }] })).toMatchObject({
        status: 'present',
        serial: installed.acmSerial,
        served: served.acmSerial,
      });
    } finally {
      server.stop();
    }
    const silent = runCheck({
      SSM_CertName: 'web-server',
      SSM_CertDirectory: dir,
      SSM_VerifyEndpoint: `127.0.0.1:${await freePort()}`,
    });
    expect(resultLine({ CommandPlugins: [{ Output: silent.stdout }] })).toMatchObject({ served: 'none' });
  });

  it('refuses a hostile endpoint', () => {
    const run = runCheck({
      SSM_CertName: 'web',
      SSM_CertDirectory: '/tmp',
      SSM_VerifyEndpoint: '-proxy x:1',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('parameter VerifyEndpoint is not valid');
  });

  it('refuses a hostile name', () => {
    const run = runCheck({ SSM_CertName: '../../etc/passwd', SSM_CertDirectory: '/tmp' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('parameter CertName is not valid');
  });

  it('is clean under shellcheck (when installed; CI installs it)', (context) => {
    if (spawnSync('shellcheck', ['--version']).error) context.skip('shellcheck is not installed');
    const result = spawnSync('shellcheck', [scriptFile], { encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});
