import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultLine } from '../../lambda/shared/command-invocations.js';
import { INSTALL_PARAMETER_RULES } from '../../lambda/shared/install-parameters.js';
import { commandDocumentContent } from '../../lib/command-document.js';
import { makeCertificate } from '../helpers/certificates.js';
import { INSTALL_SCRIPT, installScript } from '../helpers/install-script.js';
import { freePort, startTlsServer } from '../helpers/tls-server.js';

const document = commandDocumentContent('check-acm-certificate', 'install-acm-certificate');

/** What SSM Agent runs for the check document: the install script, with Action=Check. */
function runCheck(env: Record<string, string>) {
  return spawnSync(INSTALL_SCRIPT, [], {
    env: { PATH: process.env.PATH!, SSM_Action: 'Check', SSM_FileOwner: owner(), ...env },
    encoding: 'utf8',
  });
}
const owner = () => spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim();
const result = (stdout: string) => resultLine({ CommandPlugins: [{ Output: stdout }] });

describe('check document', () => {
  it('runs the install script with Action fixed to Check, by the install rules, as environment variables', () => {
    const install = commandDocumentContent('install-acm-certificate');
    expect(document.mainSteps[0]!.inputs.runCommand).toEqual(install.mainSteps[0]!.inputs.runCommand);
    expect(document.parameters.Action).toMatchObject({ default: 'Check', allowedPattern: '^Check$' });
    for (const name of [
      'CertName',
      'CertDirectory',
      'FileOwner',
      'VerifyEndpoint',
      'VerifyServerName',
    ] as const) {
      expect(document.parameters[name]!.allowedPattern, name).toBe(INSTALL_PARAMETER_RULES[name].pattern);
      expect(document.parameters[name]!.maxChars, name).toBe(INSTALL_PARAMETER_RULES[name].maxChars);
    }
    expect(installScript()).toContain(
      `require CertificateArn "$certificate_arn" '^(${document.parameters.CertificateArn!.allowedPattern.slice(1, -1)})?$'`,
    );
    for (const parameter of Object.values(document.parameters))
      expect(parameter.interpolationType).toBe('ENV_VAR');
  });

  it('reports the serial of the installed certificate in the form the workflow compares', () => {
    const certificate = makeCertificate('rsa');
    const dir = mkdtempSync(path.join(tmpdir(), 'check-'));
    mkdirSync(path.join(dir, 'certs'));
    writeFileSync(path.join(dir, 'certs', 'web-server-cert.pem'), certificate.certificatePem);
    const run = runCheck({ SSM_CertName: 'web-server', SSM_CertDirectory: path.join(dir, 'certs') });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(result(run.stdout)).toMatchObject({ status: 'present', serial: certificate.acmSerial });
  });

  it('reports missing files, and changes nothing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'check-'));
    const run = runCheck({ SSM_CertName: 'web-server', SSM_CertDirectory: path.join(dir, 'absent') });
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
      expect(result(run.stdout)).toMatchObject({
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
    expect(result(silent.stdout)).toMatchObject({ served: 'none' });
  });

  it('refuses a hostile endpoint', () => {
    const run = runCheck({
      SSM_CertName: 'web',
      SSM_CertDirectory: '/tmp',
      SSM_VerifyEndpoint: '-proxy x:1',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('ERROR: parameter VerifyEndpoint is not valid\n');
  });

  it('refuses a hostile name', () => {
    const run = runCheck({ SSM_CertName: '../../etc/passwd', SSM_CertDirectory: '/tmp' });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('ERROR: parameter CertName is not valid\n');
  });
});
