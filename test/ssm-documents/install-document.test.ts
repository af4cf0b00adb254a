import { describe, expect, it } from 'vitest';
import { installParameters } from '../../lambda/record-and-install/record-and-install.js';
import { mappingSecretName } from '../../lambda/shared/certificate-secret.js';
import {
  DEFAULT_HOST_INSTALL,
  INSTALL_PARAMETER_RULES,
  type InstallParameterName,
  MAX_CERTIFICATES_PER_TARGET,
  WINDOWS_PARAMETERS,
} from '../../lambda/shared/install-parameters.js';
import { commandDocumentContent } from '../../lib/command-document.js';
import { installDocument, installScript } from '../helpers/install-script.js';
import { REGION, REQUEST, SHELL_HOSTILE } from '../helpers/fixtures.js';

const document = installDocument();
const accepts = (name: string, value: string) => {
  const parameter = document.parameters[name]!;
  return value.length <= parameter.maxChars && new RegExp(parameter.allowedPattern).test(value);
};

describe('install document', () => {
  it('is a schema 2.2 shell-script Command document', () => {
    expect(document.schemaVersion).toBe('2.2');
    expect(document.mainSteps.map((step) => [step.action, step.precondition])).toEqual([
      ['aws:runShellScript', { StringEquals: ['platformType', 'Linux'] }],
      ['aws:runDocument', { StringEquals: ['platformType', 'Windows'] }],
    ]);
  });

  it('declares exactly the parameters the rules module defines, with the same patterns and limits', () => {
    expect(Object.keys(document.parameters).sort()).toEqual(Object.keys(INSTALL_PARAMETER_RULES).sort());
    for (const [name, rule] of Object.entries(INSTALL_PARAMETER_RULES)) {
      expect(document.parameters[name]!.allowedPattern, name).toBe(rule.pattern);
      expect(document.parameters[name]!.maxChars, name).toBe(rule.maxChars);
    }
  });

  it('has the script check every parameter again with the same pattern', () => {
    const script = installScript();
    for (const [name, rule] of Object.entries(INSTALL_PARAMETER_RULES)) {
      if (WINDOWS_PARAMETERS.includes(name)) continue;
      expect(script, name).toContain(`require ${name} "$`);
      expect(script, name).toContain(`'${rule.pattern}' ${rule.maxChars}`);
    }
  });

  it('hands the Windows document every parameter it declares, by reference, under the same rules', () => {
    const windows = commandDocumentContent('install-acm-certificate-windows', 'install-acm-certificate');
    const step = document.mainSteps[1]!;
    const passed = Object.keys(windows.parameters).filter((name) => name !== 'Action');
    expect(step.inputs.documentParameters).toEqual(
      Object.fromEntries(passed.map((name) => [name, `{{${name}}}`])),
    );
    for (const name of passed) {
      const rule = INSTALL_PARAMETER_RULES[name as InstallParameterName];
      expect(windows.parameters[name]!.allowedPattern, name).toBe(rule.pattern);
      expect(windows.parameters[name]!.maxChars, name).toBe(rule.maxChars);
      expect(windows.parameters[name]!.interpolationType, name).toBe('ENV_VAR');
    }
    expect(windows.parameters.Action).toMatchObject({
      default: 'Install',
      allowedPattern: '^(Install|Remove|Check)$',
    });
  });

  it('receives every parameter as an environment variable, never pasted into the script', () => {
    for (const [name, parameter] of Object.entries(document.parameters)) {
      expect(parameter.interpolationType, name).toBe('ENV_VAR');
      expect(parameter.type, name).toBe('String');
    }
    expect(installScript()).not.toMatch(/\{\{/);
  });

  it('defaults the install settings to the same values the deployment does', () => {
    expect(document.parameters.CertDirectory!.default).toBe(DEFAULT_HOST_INSTALL.certDirectory);
    expect(document.parameters.KeyDirectory!.default).toBe(DEFAULT_HOST_INSTALL.keyDirectory);
    expect(document.parameters.FileOwner!.default).toBe(DEFAULT_HOST_INSTALL.fileOwner);
    expect(document.parameters.FileGroup!.default).toBe(DEFAULT_HOST_INSTALL.fileGroup);
    expect(document.parameters.ReloadCommand!.default).toBe(DEFAULT_HOST_INSTALL.reloadCommand);
    expect(document.parameters.Formats!.default).toBe(DEFAULT_HOST_INSTALL.formats);
    expect(document.parameters.Pkcs12Encryption!.default).toBe(DEFAULT_HOST_INSTALL.pkcs12Encryption);
    expect(document.parameters.VerifyEndpoint!.default).toBe(DEFAULT_HOST_INSTALL.verifyEndpoint);
    expect(document.parameters.VerifyServerName!.default).toBe(DEFAULT_HOST_INSTALL.verifyServerName);
    expect(document.parameters.VerifySeconds!.default).toBe(DEFAULT_HOST_INSTALL.verifySeconds);
  });

  it.each(Object.keys(INSTALL_PARAMETER_RULES) as InstallParameterName[])(
    'the %s allowedPattern refuses shell metacharacters, newlines and overlong values',
    (name) => {
      for (const value of SHELL_HOSTILE) expect(accepts(name, value), JSON.stringify(value)).toBe(false);
    },
  );

  it.each(['CertName', 'SecretId', 'Region', 'CertDirectory', 'KeyDirectory', 'FileOwner', 'FileGroup'])(
    'the %s allowedPattern refuses a path that climbs out (the reload command alone may name a program by path)',
    (name) => {
      for (const value of ['../../etc/cron.d/x', '/etc/ssl/../../root', 'a/..']) {
        expect(accepts(name, value), value).toBe(false);
      }
    },
  );

  it.each([
    [
      'Certificates',
      [mappingSecretName(REQUEST), `${mappingSecretName(REQUEST)} acm-passphrase/a.b/0123456789abcdef`],
    ],
    ['CertName', ['web-server', 'api.example.com', 'a_b-c.d9', 'x']],
    ['SecretId', [mappingSecretName(REQUEST), 'acm-passphrase/a.b/0123456789abcdef']],
    ['Region', ['eu-west-1', 'us-gov-west-1', 'ap-southeast-4']],
    ['CertDirectory', ['/etc/ssl/certs', '/etc/pki/tls/certs', '/opt/app-1/tls']],
    ['KeyDirectory', ['/etc/ssl/private', '/etc/pki/tls/private']],
    ['FileOwner', ['root', 'nginx', 'www-data', '_apt']],
    ['FileGroup', ['root', 'ssl-cert']],
    [
      'ReloadCommand',
      [
        '',
        'systemctl reload nginx',
        'apachectl graceful',
        '/usr/sbin/nginx -s reload',
        'systemctl reload-or-restart app@1.service',
      ],
    ],
    ['Formats', ['pem', 'combined', 'pkcs12', 'pem,combined,pkcs12', 'pkcs12,pem']],
    ['Pkcs12Encryption', ['aes-256', 'legacy-3des']],
    ['VerifyEndpoint', ['', '127.0.0.1:443', 'localhost:8443', 'app.internal.example.com:443', '[::1]:443']],
    ['VerifyServerName', ['', 'app.example.com', 'localhost', 'xn--bcher-kva.example']],
    ['VerifySeconds', ['0', '10', '99', '120', '300']],
  ])('the %s allowedPattern accepts legal values', (name, values) => {
    for (const value of values) expect(accepts(name, value), value).toBe(true);
  });

  it('refuses an empty value where the parameter has no default', () => {
    for (const name of ['Region', 'CertDirectory', 'FileOwner']) {
      expect(accepts(name, ''), name).toBe(false);
    }
  });

  it('takes the certificates either listed in Certificates or named by CertName and SecretId', () => {
    for (const name of ['Certificates', 'CertName', 'SecretId']) {
      expect(document.parameters[name]!.default, name).toBe('');
      expect(accepts(name, ''), name).toBe(true);
    }
    const id = (n: number) => `acm-passphrase/site-${n}.example.com/${n.toString(16).padStart(16, '0')}`;
    const most = Array.from({ length: MAX_CERTIFICATES_PER_TARGET }, (_, n) => id(n)).join(' ');
    expect(accepts('Certificates', most)).toBe(true);
    expect(accepts('Certificates', `${most} ${id(MAX_CERTIFICATES_PER_TARGET)}`)).toBe(false);
    for (const bad of [
      ` ${id(1)}`,
      `${id(1)}  ${id(2)}`,
      `${id(1)},${id(2)}`,
      `${id(1)} ../x/0000000000000000`,
    ]) {
      expect(accepts('Certificates', bad), bad).toBe(false);
    }
  });

  it("stays inside SSM's 64 KB document quota with the longest list of certificates a target may carry", () => {
    const longest = Array.from({ length: MAX_CERTIFICATES_PER_TARGET }, (_, n) =>
      `acm-passphrase/${'c'.repeat(62)}${String(n).padStart(2, '0')}/${'0'.repeat(16)}`.slice(0, 100),
    ).join(' ');
    expect(longest.length).toBeLessThanOrEqual(document.parameters.Certificates!.maxChars);
    const size = Buffer.byteLength(JSON.stringify(document)) + Buffer.byteLength(longest);
    expect(size).toBeLessThan(64 * 1024);
    // A member account's copy carries the central secrets' ARN prefix in its script, and a longer name.
    const member = commandDocumentContent('install-acm-certificate', 'install-acm-certificate', {
      secretsArn: `arn:aws-us-gov:secretsmanager:us-gov-west-1:111111111111:secret:`,
      windowsDocumentName: `${'S'.repeat(128)}-Windows-ACMCertificate`,
    });
    expect(Buffer.byteLength(JSON.stringify(member)) + Buffer.byteLength(longest)).toBeLessThan(64 * 1024);
  });

  it('gets from the workflow only parameters it declares, each of which it accepts', () => {
    const sent = installParameters(
      { ...REQUEST, export: { secretId: mappingSecretName(REQUEST) } },
      {
        documentName: 'Install-ACMCertificate',
        maxConcurrency: '1',
        maxErrors: '0',
        deliveryTimeoutSeconds: 600,
        region: REGION,
        profiles: {
          default: {
            ...DEFAULT_HOST_INSTALL,
            reloadCommand: 'systemctl reload nginx',
            verifyEndpoint: '127.0.0.1:443',
            verifyServerName: 'app.example.com',
            iisBindings: 'Default Web Site:443:app.example.com',
            httpSysBindings: 'ipport=0.0.0.0:443',
            keyReaders: 'IIS AppPool\\DefaultAppPool',
          },
        },
      },
    );
    // Certificates lists the one secret; CertName and SecretId are for runs of one named certificate.
    expect(Object.keys(sent).sort()).toEqual(
      Object.keys(document.parameters)
        .filter((name) => name !== 'CertName' && name !== 'SecretId')
        .sort(),
    );
    for (const [name, [value]] of Object.entries(sent)) expect(accepts(name, value!), name).toBe(true);
  });
});
