import { afterAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../helpers/certificates.js';
import { FakeHost, bundleFor } from '../helpers/install-script.js';
import { FakeWindowsHost, thumbprintOf, windowsBundle } from '../helpers/windows-host.js';

/**
 * A host in a member account reads its secret in the central account: by ARN (a name alone is looked up
 * in the host's own account), which its account's documents build from the prefix the member stack sets.
 */
const SECRETS_ARN = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:';
const SECRET = 'acm-passphrase/web-server/0123456789abcdef';
const certificate = makeCertificate('rsa', 'www.example.com');

describe("a member account's install document", () => {
  it('on Linux reads the central secret by its ARN, in the central Region, and installs it', () => {
    const host = new FakeHost({ secretsArn: SECRETS_ARN });
    host.serveSecretFor(`${SECRETS_ARN}${SECRET}`, bundleFor(certificate));
    const run = host.run({ SecretId: SECRET });

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.awsCalls.filter((call) => call.startsWith('secretsmanager'))).toEqual([
      `secretsmanager get-secret-value --region eu-west-1 --secret-id ${SECRETS_ARN}${SECRET} --query SecretString --output text`,
    ]);
    expect(run.stdout).toContain(`serial=${certificate.acmSerial}`);
  });

  it("on Linux fails with the secret's name when the central account refuses the read", () => {
    const host = new FakeHost({ secretsArn: SECRETS_ARN });
    const run = host.run({ SecretId: SECRET });
    expect(run.status).not.toBe(0);
    expect(`${run.stdout}${run.stderr}`).toContain(`ERROR: cannot read secret ${SECRET}`);
  });

  describe('on Windows', () => {
    const host = new FakeWindowsHost({ secretsArn: SECRETS_ARN });
    afterAll(() => host.remove());

    it('reads the central secret by its ARN and imports the certificate', async () => {
      host.putSecret(`${SECRETS_ARN}${SECRET}`, windowsBundle(certificate));
      const run = await host.run({ CertName: 'web-server', SecretId: SECRET, Region: 'eu-west-1' });

      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(host.calls()).toContain(`read ${SECRETS_ARN}${SECRET} eu-west-1`);
      expect(host.store()).toEqual({ [thumbprintOf(certificate)]: true });
    });
  });
});
