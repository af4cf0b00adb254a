import { ACMClient } from '@aws-sdk/client-acm';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exportCertificate } from '../../lambda/export-certificate/export-certificate.js';
import {
  certificateExportSecretName,
  exportOnce,
  exportVersionId,
  storedExport,
} from '../../lambda/shared/certificate-export.js';
import { parseCertificateBundle } from '../../lambda/shared/certificate-secret.js';
import { CLAIM_LEASE_MS, claimExport } from '../../lambda/shared/export-claim.js';
import { writeSecretVersion } from '../../lambda/shared/secret-versions.js';
import {
  type SecretsStore,
  acmService,
  certificateDetail,
  fakeAcmAndSecrets,
  secretsManagerService,
} from '../helpers/acm-fake.js';
import { type TestCertificate, makeCertificate } from '../helpers/certificates.js';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.js';
import { CERTIFICATE_ARN, EXPORT_STEP_SETTINGS, KMS_KEY_ARN, REGION, REQUEST } from '../helpers/fixtures.js';
import { jsonEndpoint } from '../helpers/json-endpoint.js';

const EXPORT_SECRET = certificateExportSecretName(CERTIFICATE_ARN);
const NOW = new Date('2026-11-24T10:00:00.000Z');

let certificate: TestCertificate;
let dynamo: LocalDynamo;
let claims: { db: LocalDynamo['db']; tableName: string };
let fakes: ReturnType<typeof fakeAcmAndSecrets> | undefined;

beforeAll(async () => {
  certificate = makeCertificate('rsa');
  dynamo = await startLocalDynamo();
});
afterAll(async () => dynamo.stop());
beforeEach(async () => {
  claims = { db: dynamo.db, tableName: await dynamo.createExportClaimsTable() };
});
afterEach(() => {
  fakes?.acm.restore();
  fakes?.secrets.restore();
  fakes = undefined;
});

const deps = (now = NOW) => ({
  acm: new ACMClient({ region: REGION }),
  secrets: new SecretsManagerClient({ region: REGION }),
  claims,
  kmsKeyId: KMS_KEY_ARN,
  now: () => now,
});

describe('exportOnce', () => {
  it('exports once for many callers at once: the claim holder exports, the others wait for its export', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const owners = Array.from({ length: 10 }, (_, index) => `execution-${index}`);
    const first = await Promise.allSettled(
      owners.map((owner) => exportOnce(deps(), CERTIFICATE_ARN, certificate.acmSerial, owner)),
    );
    expect(first.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    for (const result of first.filter((result) => result.status === 'rejected')) {
      expect(result.reason).toMatchObject({ name: 'ExportInProgressError' });
    }
    // Their retries find the stored export.
    const again = await Promise.all(
      owners.map((owner) => exportOnce(deps(), CERTIFICATE_ARN, certificate.acmSerial, owner)),
    );
    expect(fakes.exports.exports).toBe(1);
    expect(new Set(again.map((material) => material.passphrase)).size).toBe(1);
    expect(fakes.stored.get(EXPORT_SECRET)!.versionIds).toEqual([
      exportVersionId(CERTIFICATE_ARN, certificate.acmSerial),
    ]);
  });

  it('lets another caller export once the lease of a holder that died has run out', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    await claimExport(claims, {
      certificateArn: CERTIFICATE_ARN,
      serial: certificate.acmSerial,
      owner: 'died',
      now: NOW,
    });
    await expect(exportOnce(deps(), CERTIFICATE_ARN, certificate.acmSerial, 'other')).rejects.toMatchObject({
      name: 'ExportInProgressError',
    });
    const later = new Date(NOW.getTime() + CLAIM_LEASE_MS + 1000);
    await exportOnce(deps(later), CERTIFICATE_ARN, certificate.acmSerial, 'other');
    expect(fakes.exports.exports).toBe(1);
  });

  it("lets the holder's own retry take its claim again", async () => {
    fakes = fakeAcmAndSecrets(certificate);
    await claimExport(claims, {
      certificateArn: CERTIFICATE_ARN,
      serial: certificate.acmSerial,
      owner: 'execution-1',
      now: NOW,
    });
    await exportOnce(deps(), CERTIFICATE_ARN, certificate.acmSerial, 'execution-1');
    expect(fakes.exports.exports).toBe(1);
  });

  it('exports a renewed serial again, and a caller that trusts a serial gets only the latest export', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    await exportOnce(deps(), CERTIFICATE_ARN, certificate.acmSerial, 'first');
    const { stored } = fakes;
    fakes.acm.restore();
    fakes.secrets.restore();
    const renewed = makeCertificate('rsa');
    fakes = fakeAcmAndSecrets(renewed, certificateDetail(renewed), { stored });
    await exportOnce(deps(), CERTIFICATE_ARN, renewed.acmSerial, 'renewal');
    expect(fakes.exports.exports).toBe(1);
    expect(stored.get(EXPORT_SECRET)!.versions).toBe(2);

    const secrets = new SecretsManagerClient({ region: REGION });
    expect(await storedExport(secrets, CERTIFICATE_ARN, certificate.acmSerial, { latestOnly: true })).toBe(
      undefined,
    );
    const older = await storedExport(secrets, CERTIFICATE_ARN, certificate.acmSerial);
    expect(older!.certificate.trim()).toBe(certificate.certificatePem.trim());
    const latest = await storedExport(secrets, CERTIFICATE_ARN, renewed.acmSerial, { latestOnly: true });
    expect(latest!.certificate.trim()).toBe(renewed.certificatePem.trim());
  });
});

describe("each effect once through the SDK's own retries (faults at the HTTP layer)", () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
  /** ACM and Secrets Manager behind real SDK clients with their default retries, as in Lambda. */
  function endpoints(stored: SecretsStore = new Map()) {
    const acmFake = acmService(certificate, certificateDetail(certificate));
    const acm = jsonEndpoint({
      ...acmFake.operations,
      // The passphrase travels base64-encoded in this protocol.
      ExportCertificate: (input: { Passphrase: string }) =>
        acmFake.operations.ExportCertificate({ Passphrase: Buffer.from(input.Passphrase, 'base64') }),
    });
    const secrets = jsonEndpoint(secretsManagerService(stored));
    return {
      stored,
      acmEndpoint: acm,
      secretsEndpoint: secrets,
      exports: acmFake.counts,
      deps: {
        acm: new ACMClient({ region: REGION, credentials, requestHandler: acm.requestHandler }),
        secrets: new SecretsManagerClient({
          region: REGION,
          credentials,
          requestHandler: secrets.requestHandler,
        }),
        claims,
        kmsKeyId: KMS_KEY_ARN,
        now: () => NOW,
      },
    };
  }

  it('a lost answer to the first write of the export (CreateSecret) makes one version', async () => {
    const service = endpoints();
    service.secretsEndpoint.loseAnswers('CreateSecret');
    await exportOnce(service.deps, CERTIFICATE_ARN, certificate.acmSerial, 'execution-1');
    expect(service.secretsEndpoint.calls.CreateSecret).toBe(2);
    expect(service.stored.get(EXPORT_SECRET)!.versions).toBe(1);
    expect(service.exports.exports).toBe(1);
  });

  it("a lost answer to the write of a mapping's secret (PutSecretValue) makes one version", async () => {
    const service = endpoints();
    const exportStep = { ...EXPORT_STEP_SETTINGS, ...service.deps };
    const execution = (name: string) => ({
      executionArn: `arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:${name}`,
    });
    const first = await exportCertificate(REQUEST, exportStep, execution('req-1'));
    service.secretsEndpoint.loseAnswers('PutSecretValue');
    const puts = service.secretsEndpoint.calls.PutSecretValue ?? 0;
    await exportCertificate(REQUEST, exportStep, execution('req-2'));
    expect(service.secretsEndpoint.calls.PutSecretValue).toBe(puts + 2);
    expect(service.stored.get(first.secretId)!.versions).toBe(2);
    expect(service.exports.exports).toBe(1);
  });

  it('a lost answer to ExportCertificate is the one call made twice: its key material never arrived', async () => {
    const service = endpoints();
    service.acmEndpoint.loseAnswers('ExportCertificate');
    const material = await exportOnce(service.deps, CERTIFICATE_ARN, certificate.acmSerial, 'execution-1');
    expect(service.acmEndpoint.calls.ExportCertificate).toBe(2);
    // What is stored is the answer that arrived, once.
    expect(service.stored.get(EXPORT_SECRET)!.versions).toBe(1);
    expect(parseCertificateBundle(service.stored.get(EXPORT_SECRET)!.value).passphrase).toBe(
      material.passphrase,
    );
  });
});

describe('writeSecretVersion', () => {
  it('keeps a version id written once: other content under it returns what the version holds', async () => {
    fakes = fakeAcmAndSecrets(certificate);
    const secrets = new SecretsManagerClient({ region: REGION });
    const write = {
      secretId: 'acm-passphrase/web-server/0123456789abcdef',
      versionId: '00000000-0000-0000-0000-000000000001',
      create: { kmsKeyId: KMS_KEY_ARN, description: 'mapping' },
    };
    await writeSecretVersion(secrets, { ...write, secretString: 'first' });
    const again = await writeSecretVersion(secrets, { ...write, secretString: 'second' });
    expect(again).toEqual({ versionId: write.versionId, secretString: 'first' });
    expect(fakes.stored.get(write.secretId)!.versions).toBe(1);
  });
});
