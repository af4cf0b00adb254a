import {
  ACMClient,
  DescribeCertificateCommand,
  ExportCertificateCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-acm';
import {
  CreateSecretCommand,
  GetRandomPasswordCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createPrivateKey } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exportCertificate, secretVersionToken } from '../../lambda/export-certificate/export-certificate.js';
import { certificateExportSecretName, exportVersionId } from '../../lambda/shared/certificate-export.js';
import { parseCertificateBundle } from '../../lambda/shared/certificate-secret.js';
import { type TestCertificate, makeCertificate } from '../helpers/certificates.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { certificateDetail, fakeAcmAndSecrets } from '../helpers/acm-fake.js';
import { ACCOUNT_ID, CERTIFICATE_ARN, KMS_KEY_ARN, PROFILES, REGION, REQUEST } from '../helpers/fixtures.js';

const NOW = new Date('2026-11-24T10:00:00.000Z');

let certificate: TestCertificate;
beforeAll(() => {
  certificate = makeCertificate('rsa');
});

let dynamo: LocalDynamo;
let claimsTable: string;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  claimsTable = await dynamo.createExportClaimsTable();
  started.length = 0;
});

/** The mappings the step made sure of before writing their secrets. */
const started: { request: unknown; secretId: string }[] = [];
let executions = 0;
/** A new execution of the workflow, as Step Functions names them. */
const nextRun = () => ({
  executionArn: `arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-${(executions += 1)}`,
});

function deps(fakes: ReturnType<typeof fakeAcmAndSecrets>) {
  return {
    acm: new ACMClient({ region: REGION }),
    secrets: new SecretsManagerClient({ region: REGION }),
    claims: { db: dynamo.db, tableName: claimsTable },
    recordStarted: async (request: unknown, { secretId }: { secretId: string }) => {
      started.push({ request, secretId });
    },
    kmsKeyId: KMS_KEY_ARN,
    region: REGION,
    accountId: ACCOUNT_ID,
    partition: 'aws',
    grantedTagKeys: ['env', 'team'],
    profiles: PROFILES,
    now: () => NOW,
    fakes,
  };
}

let fakes: ReturnType<typeof fakeAcmAndSecrets> | undefined;
afterEach(() => {
  fakes?.acm.restore();
  fakes?.secrets.restore();
  fakes = undefined;
});

describe('exportCertificate', () => {
  it('exports with a generated passphrase and stores a bundle the host can decrypt', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const result = await exportCertificate(REQUEST, deps(fakes), nextRun());

    expect(fakes.secrets).toHaveReceivedCommandWith(GetRandomPasswordCommand, {
      PasswordLength: 64,
      ExcludeCharacters: '#$%',
    });
    const exportCall = fakes.acm.commandCalls(ExportCertificateCommand)[0]!.args[0].input;
    expect(exportCall.CertificateArn).toBe(CERTIFICATE_ARN);
    expect(exportCall.Passphrase).toBeInstanceOf(Uint8Array);

    const secret = fakes.stored.get(result.secretId)!;
    const bundle = parseCertificateBundle(secret.value);
    expect(Buffer.from(exportCall.Passphrase!).toString()).toBe(bundle.passphrase);
    expect(bundle.passphrase).toHaveLength(64);
    expect(bundle.passphrase).not.toMatch(/[#$%]/);
    expect(bundle.encryptedPrivateKey).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const key = createPrivateKey({
      key: bundle.encryptedPrivateKey,
      format: 'pem',
      passphrase: bundle.passphrase,
    });
    expect(key.export({ type: 'pkcs8', format: 'pem' })).toBe(
      createPrivateKey(certificate.privateKeyPem).export({ type: 'pkcs8', format: 'pem' }),
    );
    expect(bundle.certificate.trim()).toBe(certificate.certificatePem.trim());
    expect(bundle.certificateChain.trim()).toBe(certificate.chainPem.trim());
  });

  it('creates the mapping secret under acm-passphrase/, encrypted with the app key and tagged for ABAC', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const result = await exportCertificate(REQUEST, deps(fakes), nextRun());

    expect(result.secretId).toMatch(/^acm-passphrase\/web-server\/[0-9a-f]{16}$/);
    expect(fakes.secrets).toHaveReceivedCommandWith(CreateSecretCommand, {
      Name: result.secretId,
      KmsKeyId: KMS_KEY_ARN,
      Tags: [{ Key: 'env', Value: 'dev' }],
    });
  });

  it('returns metadata only: no passphrase, no key, no certificate body', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const run = nextRun();
    const result = await exportCertificate(REQUEST, deps(fakes), run);
    expect(result).toEqual({
      certificateArn: CERTIFICATE_ARN,
      certName: 'web-server',
      serial: certificate.acmSerial,
      notAfter: certificate.notAfter.toISOString(),
      secretId: result.secretId,
      secretVersionId: secretVersionToken(run.executionArn),
      exportedAt: NOW.toISOString(),
      profile: 'default',
    });
  });

  it('adds a new version of an existing secret on the next export, without creating another', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const first = await exportCertificate(REQUEST, deps(fakes), nextRun());
    const run = nextRun();
    const second = await exportCertificate(REQUEST, deps(fakes), run);
    expect(second.secretId).toBe(first.secretId);
    expect(second.secretVersionId).toBe(secretVersionToken(run.executionArn));
    expect(fakes.stored.get(first.secretId)!.versions).toBe(2);
    const mappingCreations = fakes.secrets
      .commandCalls(CreateSecretCommand)
      .filter((call) => call.args[0].input.Name === first.secretId);
    expect(mappingCreations).toHaveLength(1);
  });

  it('keeps one secret per mapping: another target of the same certificate gets its own', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const dev = await exportCertificate(REQUEST, deps(fakes), nextRun());
    const prod = await exportCertificate({ ...REQUEST, TargetTagValue: 'prod' }, deps(fakes), nextRun());
    expect(prod.secretId).not.toBe(dev.secretId);
    expect(fakes.stored.get(prod.secretId)!.tags).toEqual([{ Key: 'env', Value: 'prod' }]);
  });

  it('exports a certificate once per serial: every mapping and every later request gets that export', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const values = ['dev', 'prod', 'test'];
    const results = [];
    for (const value of values) {
      results.push(await exportCertificate({ ...REQUEST, TargetTagValue: value }, deps(fakes), nextRun()));
    }
    results.push(await exportCertificate(REQUEST, deps(fakes), nextRun()));
    expect(fakes.exports.exports).toBe(1);
    expect(fakes.acm).toHaveReceivedCommandTimes(ExportCertificateCommand, 1);
    expect(fakes.secrets).toHaveReceivedCommandTimes(GetRandomPasswordCommand, 1);
    // Each mapping's secret holds the one export, readable with its own copy of the passphrase.
    const bundles = results.map((result) => fakes!.stored.get(result.secretId)!.value);
    expect(new Set(bundles).size).toBe(1);
    expect(new Set(results.map((result) => result.secretId)).size).toBe(3);
    // The certificate's export lives under a prefix no host is granted.
    const exportSecret = fakes.stored.get(certificateExportSecretName(CERTIFICATE_ARN))!;
    expect(exportSecret.versionIds).toEqual([exportVersionId(CERTIFICATE_ARN, certificate.acmSerial)]);
    expect(exportSecret.kmsKeyId).toBe(KMS_KEY_ARN);
    expect(certificateExportSecretName(CERTIFICATE_ARN)).toMatch(/^acm-export\//);
  });

  it('makes sure the mapping exists before its secret is first written, and not for a refused request', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const order: string[] = [];
    fakes.secrets.on(PutSecretValueCommand).callsFake(() => {
      throw Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' });
    });
    fakes.secrets.on(CreateSecretCommand).callsFake((input: { Name: string }) => {
      order.push(`secret ${input.Name}`);
      return { VersionId: 'v1' };
    });
    const dependencies = {
      ...deps(fakes),
      recordStarted: async (_: unknown, { secretId }: { secretId: string }) => {
        order.push(`mapping ${secretId}`);
      },
    };
    const result = await exportCertificate(REQUEST, dependencies, nextRun());
    expect(order.indexOf(`mapping ${result.secretId}`)).toBeLessThan(
      order.indexOf(`secret ${result.secretId}`),
    );
    await expect(
      exportCertificate({ ...REQUEST, TargetTagKey: 'owner' }, deps(fakes), nextRun()),
    ).rejects.toThrow(expect.objectContaining({ name: 'TargetTagNotGrantedError' }));
    expect(started).toEqual([]);
  });

  it('brings back a secret an unmap scheduled for deletion when the mapping is exported again', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const first = await exportCertificate(REQUEST, deps(fakes), nextRun());
    fakes.stored.get(first.secretId)!.scheduledForDeletion = true;
    const again = await exportCertificate(REQUEST, deps(fakes), nextRun());
    expect(fakes.secrets).toHaveReceivedCommandWith(RestoreSecretCommand, { SecretId: first.secretId });
    expect(fakes.stored.get(first.secretId)!.versions).toBe(2);
    expect(again.secretId).toBe(first.secretId);
  });

  it('never brings back a secret scheduled for deletion for a renewal: the mapping was unmapped since', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const first = await exportCertificate(REQUEST, deps(fakes), nextRun());
    fakes.stored.get(first.secretId)!.scheduledForDeletion = true;
    await expect(
      exportCertificate({ ...REQUEST, ExportedSerial: certificate.acmSerial }, deps(fakes), nextRun()),
    ).rejects.toThrow(
      expect.objectContaining({
        name: 'MappingRemovedError',
        message: expect.stringMatching(/was unmapped after its renewal was queued/),
      }),
    );
    expect(fakes.secrets).not.toHaveReceivedCommand(RestoreSecretCommand);
    expect(fakes.stored.get(first.secretId)!.scheduledForDeletion).toBe(true);
  });

  it("takes a renewal execution's export without asking ACM, while it is the certificate's latest", async () => {
    fakes = fakeAcmAndSecrets(certificate);
    await exportCertificate(REQUEST, deps(fakes), nextRun());
    fakes.acm.resetHistory();
    const renewal = { ...REQUEST, ExportedSerial: certificate.acmSerial };
    const result = await exportCertificate({ ...renewal, TargetTagValue: 'prod' }, deps(fakes), nextRun());
    expect(result.serial).toBe(certificate.acmSerial);
    expect(fakes.acm).not.toHaveReceivedAnyCommand();

    // A later renewal replaced that export: the step asks ACM which serial is current.
    const renewed = makeCertificate('rsa');
    const { stored } = fakes;
    fakes.acm.restore();
    fakes.secrets.restore();
    fakes = fakeAcmAndSecrets(renewed, certificateDetail(renewed), { stored });
    await exportCertificate(REQUEST, deps(fakes), nextRun());
    const stale = await exportCertificate(renewal, deps(fakes), nextRun());
    expect(stale.serial).toBe(renewed.acmSerial);
    expect(fakes.acm).toHaveReceivedCommandTimes(DescribeCertificateCommand, 2);
    expect(fakes.exports.exports).toBe(1);
  });

  it.each([['0A:1B'], ['zz'], [12]])('refuses a renewal serial %s that is not one', async (serial) => {
    fakes = fakeAcmAndSecrets(certificate);
    await expect(
      exportCertificate({ ...REQUEST, ExportedSerial: serial }, deps(fakes), nextRun()),
    ).rejects.toThrow(expect.objectContaining({ name: 'InvalidExportRequestError' }));
    expect(fakes.secrets).not.toHaveReceivedAnyCommand();
  });

  it('exports a public certificate requested with Export=ENABLED', async () => {
    fakes = fakeAcmAndSecrets(
      certificate,
      certificateDetail(certificate, { Type: 'AMAZON_ISSUED', Options: { Export: 'ENABLED' } }),
    );
    await expect(exportCertificate(REQUEST, deps(fakes), nextRun())).resolves.toMatchObject({
      serial: certificate.acmSerial,
    });
    expect(fakes.exports.exports).toBe(1);
  });

  it.each([
    [
      'a public certificate requested with Export=DISABLED',
      { Type: 'AMAZON_ISSUED' as const, Options: { Export: 'DISABLED' as const } },
      'CertificateNotExportableError',
      /certificate is not exportable: .* was requested with Export=DISABLED/,
    ],
    [
      'a public certificate from before exportable certificates existed',
      { Type: 'AMAZON_ISSUED' as const, Options: {} },
      'CertificateNotExportableError',
      /certificate is not exportable: .* was requested with Export=DISABLED/,
    ],
    [
      'an imported certificate',
      { Type: 'IMPORTED' as const },
      'CertificateNotExportableError',
      /was imported into ACM, and ACM exports only certificates it issued/,
    ],
    [
      'a certificate still pending validation',
      { Status: 'PENDING_VALIDATION' as const },
      'CertificateNotIssuedError',
      /is PENDING_VALIDATION, not ISSUED/,
    ],
    [
      'an expired certificate',
      { Status: 'EXPIRED' as const },
      'CertificateNotIssuedError',
      /is EXPIRED, not ISSUED/,
    ],
  ])('refuses %s, exporting nothing', async (_, overrides, errorName, message) => {
    fakes = fakeAcmAndSecrets(certificate, certificateDetail(certificate, overrides));
    await expect(exportCertificate(REQUEST, deps(fakes), nextRun())).rejects.toThrow(
      expect.objectContaining({ name: errorName, message: expect.stringMatching(message) }),
    );
    expect(fakes.acm).not.toHaveReceivedCommand(ExportCertificateCommand);
    expect(fakes.secrets).not.toHaveReceivedAnyCommand();
  });

  it('says a certificate does not exist when ACM cannot find it', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    fakes.acm
      .on(DescribeCertificateCommand)
      .rejects(new ResourceNotFoundException({ message: 'nope', $metadata: {} }));
    await expect(exportCertificate(REQUEST, deps(fakes), nextRun())).rejects.toThrow(
      expect.objectContaining({
        name: 'CertificateNotFoundError',
        message: expect.stringMatching(/does not exist in this account and Region/),
      }),
    );
  });

  it('refuses a certificate from another Region before calling ACM', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const request = { ...REQUEST, CertificateArn: CERTIFICATE_ARN.replace(REGION, 'us-east-1') };
    await expect(exportCertificate(request, deps(fakes), nextRun())).rejects.toThrow(
      expect.objectContaining({
        name: 'CertificateOutOfScopeError',
        message: expect.stringMatching(
          /is in us-east-1, but this deployment exports certificates in eu-west-1 only/,
        ),
      }),
    );
    expect(fakes.acm).not.toHaveReceivedAnyCommand();
  });

  it('exports once per execution: a retried step finds the version it wrote and exports nothing again', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const run = { executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1' };
    const first = await exportCertificate(REQUEST, deps(fakes), run);
    expect(first.secretVersionId).toBe(secretVersionToken(run.executionArn));
    expect(first.secretVersionId).toMatch(/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/);
    const again = await exportCertificate(REQUEST, deps(fakes), run);
    expect(again).toEqual(first);
    expect(fakes.acm).toHaveReceivedCommandTimes(ExportCertificateCommand, 1);
    expect(fakes.stored.get(first.secretId)!.versions).toBe(1);
    // Another execution of the same mapping writes a version of its own, from the same export.
    const next = await exportCertificate(REQUEST, deps(fakes), { executionArn: `${run.executionArn}-2` });
    expect(next.secretVersionId).not.toBe(first.secretVersionId);
    expect(fakes.acm).toHaveReceivedCommandTimes(ExportCertificateCommand, 1);
  });

  it('refuses a certificate of another partition before calling ACM, even with this Region and account', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const request = { ...REQUEST, CertificateArn: REQUEST.CertificateArn.replace('arn:aws:', 'arn:aws-cn:') };
    await expect(exportCertificate(request, deps(fakes), nextRun())).rejects.toThrow(
      expect.objectContaining({
        name: 'CertificateOutOfScopeError',
        message: expect.stringMatching(/is in the aws-cn partition, but this deployment runs in aws$/),
      }),
    );
    expect(fakes.acm).not.toHaveReceivedAnyCommand();
  });

  it('refuses a certificate from another account', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const request = { ...REQUEST, CertificateArn: CERTIFICATE_ARN.replace(ACCOUNT_ID, '444455556666') };
    await expect(exportCertificate(request, deps(fakes), nextRun())).rejects.toThrow(
      /belongs to account 444455556666/,
    );
  });

  it('refuses a target whose tag key the hosts cannot read secrets by, before any AWS call', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    await expect(
      exportCertificate({ ...REQUEST, TargetTagKey: 'owner' }, deps(fakes), nextRun()),
    ).rejects.toThrow(
      expect.objectContaining({
        name: 'TargetTagNotGrantedError',
        message: expect.stringMatching(
          /tag key "owner".*compares only "env", "team"; add "owner" to instanceTagKeys/,
        ),
      }),
    );
    expect(fakes.acm).not.toHaveReceivedAnyCommand();
  });

  it('refuses an install profile the deployment does not have, naming those it has, before any AWS call', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    await expect(
      exportCertificate({ ...REQUEST, Profile: 'tomcat' }, deps(fakes), nextRun()),
    ).rejects.toThrow(
      expect.objectContaining({
        name: 'UnknownProfileError',
        message:
          'install profile "tomcat" does not exist in this deployment; its profiles are: default, haproxy',
      }),
    );
    expect(fakes.acm).not.toHaveReceivedAnyCommand();
    expect(fakes.secrets).not.toHaveReceivedAnyCommand();
  });

  it('carries the profile a request names on to the install step', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    expect(await exportCertificate({ ...REQUEST, Profile: 'haproxy' }, deps(fakes), nextRun())).toMatchObject(
      {
        profile: 'haproxy',
      },
    );
  });

  it('refuses an invalid request before any AWS call', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    await expect(
      exportCertificate({ ...REQUEST, CertName: '../etc/passwd' }, deps(fakes), nextRun()),
    ).rejects.toThrow(expect.objectContaining({ name: 'InvalidExportRequestError' }));
    expect(fakes.acm).not.toHaveReceivedAnyCommand();
    expect(fakes.secrets).not.toHaveReceivedAnyCommand();
  });

  it('asks for a retry when ACM renewed the certificate between describe and export', async () => {
    const renewed = makeCertificate('rsa');
    fakes = fakeAcmAndSecrets(renewed, certificateDetail(certificate));
    await expect(exportCertificate(REQUEST, deps(fakes), nextRun())).rejects.toThrow(
      expect.objectContaining({ name: 'CertificateChangedDuringExportError' }),
    );
    expect(fakes.secrets).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(fakes.secrets).not.toHaveReceivedCommand(CreateSecretCommand);
  });

  it('passes a throttling error on unchanged, for the workflow to retry', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    fakes.acm.on(ExportCertificateCommand).rejects(throttled);
    await expect(
      exportCertificate(
        REQUEST,
        { ...deps(fakes), acm: new ACMClient({ region: REGION, maxAttempts: 1 }) },
        nextRun(),
      ),
    ).rejects.toThrow(expect.objectContaining({ name: 'ThrottlingException' }));
  });

  it('exports an EC certificate the same way', async () => {
    const ec = makeCertificate('ec');
    fakes = fakeAcmAndSecrets(ec, certificateDetail(ec, { KeyAlgorithm: 'EC_prime256v1' }));
    const result = await exportCertificate(REQUEST, deps(fakes), nextRun());
    const bundle = parseCertificateBundle(fakes.stored.get(result.secretId)!.value);
    const key = createPrivateKey({
      key: bundle.encryptedPrivateKey,
      format: 'pem',
      passphrase: bundle.passphrase,
    });
    expect(key.asymmetricKeyType).toBe('ec');
  });
});
