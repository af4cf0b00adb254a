import type { AwsSecurityFinding } from '@aws-sdk/client-securityhub';

const TYPE_NAMESPACES = [
  'Software and Configuration Checks',
  'TTPs',
  'Effects',
  'Unusual Behaviors',
  'Sensitive Data Identifications',
];
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/**
 * Every rule of BatchImportFindings' API model and the ASFF guide that a finding of this app could break:
 * required fields, lengths, enums, formats and the 240 KB ceiling. Returns the problems found.
 */
export function asffProblems(finding: AwsSecurityFinding): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
  };
  need(finding.SchemaVersion === '2018-10-08', 'SchemaVersion must be 2018-10-08');
  for (const [field, max] of [
    ['Id', 512],
    ['GeneratorId', 512],
    ['Title', 256],
    ['Description', 1024],
  ] as const) {
    const value = finding[field];
    need(
      typeof value === 'string' && value.length > 0 && value.length <= max,
      `${field} must be 1–${max} characters`,
    );
  }
  need(
    /^arn:aws[a-z-]*:securityhub:[a-z0-9-]+:\d{12}:product\/\d{12}\/default$/.test(finding.ProductArn ?? ''),
    'ProductArn must be the account default product',
  );
  need(/^\d{12}$/.test(finding.AwsAccountId ?? ''), 'AwsAccountId must be 12 digits');
  need(ISO_8601.test(finding.CreatedAt ?? ''), 'CreatedAt must be ISO 8601');
  need(ISO_8601.test(finding.UpdatedAt ?? ''), 'UpdatedAt must be ISO 8601');
  need((finding.CreatedAt ?? '') <= (finding.UpdatedAt ?? ''), 'CreatedAt must not be after UpdatedAt');
  const severity = finding.FindingProviderFields?.Severity?.Label ?? finding.Severity?.Label;
  need(
    ['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].includes(severity ?? ''),
    'a severity label is required',
  );
  const types = finding.FindingProviderFields?.Types ?? finding.Types ?? [];
  need(types.length >= 1 && types.length <= 50, 'Types needs 1–50 entries');
  for (const type of types) {
    const parts = type.split('/');
    need(
      parts.length >= 1 && parts.length <= 3 && TYPE_NAMESPACES.includes(parts[0]!),
      `type "${type}" is not namespace/category/classifier`,
    );
  }
  const resources = finding.Resources ?? [];
  need(resources.length >= 1 && resources.length <= 32, 'Resources needs 1–32 entries');
  for (const resource of resources)
    need(Boolean(resource.Type && resource.Id), 'every resource needs Type and Id');
  need(
    ['ACTIVE', 'ARCHIVED', undefined].includes(finding.RecordState),
    'RecordState must be ACTIVE or ARCHIVED',
  );
  const productFields = Object.entries(finding.ProductFields ?? {});
  need(productFields.length <= 50, 'at most 50 ProductFields');
  for (const [key, value] of productFields)
    need(key.length <= 128 && value.length <= 2048, `ProductFields ${key} too long`);
  const recommendation = finding.Remediation?.Recommendation;
  if (recommendation) {
    need((recommendation.Text ?? '').length <= 512, 'Remediation text must be at most 512 characters');
    need(!recommendation.Url || /^https:\/\//.test(recommendation.Url), 'Remediation URL must be https');
  }
  need(Buffer.byteLength(JSON.stringify(finding)) <= 240 * 1024, 'a finding must be at most 240 KB');
  return problems;
}
