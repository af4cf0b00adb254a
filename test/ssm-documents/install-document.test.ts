import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { mappingSecretName } from '../../lambda/shared/certificate-secret.js';
import { EXPORT_REQUEST_FIELDS } from '../../lambda/shared/export-request.js';
import { installParameters } from '../../lambda/record-and-install/record-and-install.js';
import { ssmDocumentFile } from '../../lib/paths.js';
import { REGION, REQUEST } from '../helpers/fixtures.js';

interface Parameter {
  type: string;
  allowedPattern: string;
  maxChars?: number;
  interpolationType?: string;
}
const document = parse(readFileSync(ssmDocumentFile('install-acm-certificate'), 'utf8')) as {
  schemaVersion: string;
  parameters: Record<string, Parameter>;
  mainSteps: { action: string; inputs: { runCommand: string[] } }[];
};

describe('install document', () => {
  it('is a schema 2.2 shell-script Command document', () => {
    expect(document.schemaVersion).toBe('2.2');
    expect(document.mainSteps.map((step) => step.action)).toEqual(['aws:runShellScript']);
  });

  it('checks CertName with the same rule as the API and the handlers', () => {
    expect(document.parameters.CertName!.allowedPattern).toBe(EXPORT_REQUEST_FIELDS.CertName.pattern);
    expect(document.parameters.CertName!.maxChars).toBe(EXPORT_REQUEST_FIELDS.CertName.maxLength);
  });

  it('accepts every secret id the export step can produce', () => {
    const pattern = new RegExp(document.parameters.SecretId!.allowedPattern);
    expect(mappingSecretName(REQUEST)).toMatch(pattern);
    expect(mappingSecretName({ ...REQUEST, CertName: 'a.b_c-d9', TargetTagValue: 'Web Server' })).toMatch(
      pattern,
    );
    expect('acm-passphrase/../x/0123456789abcdef').not.toMatch(pattern);
  });

  it('receives every parameter as an environment variable, each with an allowedPattern', () => {
    for (const [name, parameter] of Object.entries(document.parameters)) {
      expect(parameter.interpolationType, name).toBe('ENV_VAR');
      expect(parameter.allowedPattern, name).toMatch(/^\^.*\$$/);
    }
    const script = document.mainSteps.flatMap((step) => step.inputs.runCommand).join('\n');
    expect(script).not.toMatch(/\{\{/);
  });

  it('gets exactly the parameters the workflow sends, each of which it accepts', () => {
    const sent = installParameters(
      { ...REQUEST, export: { secretId: mappingSecretName(REQUEST) } as never, executionArn: 'arn' },
      {
        documentName: 'Install-ACMCertificate',
        maxConcurrency: '1',
        maxErrors: '0',
        deliveryTimeoutSeconds: 600,
        region: REGION,
      },
    );
    expect(Object.keys(sent).sort()).toEqual(Object.keys(document.parameters).sort());
    for (const [name, [value]] of Object.entries(sent)) {
      expect(value, name).toMatch(new RegExp(document.parameters[name]!.allowedPattern));
    }
  });
});
