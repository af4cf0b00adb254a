import { createHash } from 'node:crypto';
import { InvalidExportRequestError } from './errors.js';

/**
 * The one definition of what an export request may contain. The API model, the ExportCertificate step
 * and (through the install document's `allowedPattern`s) the host all follow these rules, so a value
 * that passes here is safe to use as a file name, a tag and an SSM target.
 */

export interface FieldRule {
  readonly description: string;
  readonly pattern: string;
  readonly minLength: number;
  readonly maxLength: number;
  /** A pattern the value must NOT match (JSON Schema `not`), for rules a plain pattern cannot say. */
  readonly forbiddenPattern?: { readonly pattern: string; readonly reason: string };
}

export const EXPORT_REQUEST_FIELDS = {
  CertificateArn: {
    description: 'ARN of an ACM certificate in this account and Region',
    pattern:
      '^arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:certificate/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
    minLength: 20,
    maxLength: 2048,
  },
  CertName: {
    description:
      'File name stem for the installed files: letters and digits, single dots, dashes or underscores between them',
    pattern: '^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$',
    minLength: 1,
    maxLength: 64,
  },
  TargetTagKey: {
    description: 'Tag key that selects the managed instances (no spaces, no "=", not starting with "aws:")',
    pattern: '^[A-Za-z0-9_.:/+@-]+$',
    minLength: 1,
    maxLength: 128,
    forbiddenPattern: { pattern: '^aws:', reason: 'tag keys starting with "aws:" are reserved by AWS' },
  },
  TargetTagValue: {
    description: 'Tag value that selects the managed instances (spaces allowed inside, not at either end)',
    pattern: '^[A-Za-z0-9_.:/=+@-]([A-Za-z0-9_.:/=+@ -]*[A-Za-z0-9_.:/=+@-])?$',
    minLength: 1,
    maxLength: 256,
  },
} as const satisfies Record<string, FieldRule>;

export type ExportRequestField = keyof typeof EXPORT_REQUEST_FIELDS;

/** Optional on an export: the install profile the hosts of this mapping use (`default` when absent). */
export const PROFILE_FIELD = 'Profile';
export const DEFAULT_PROFILE = 'default';
export const PROFILE_RULE: FieldRule = {
  description:
    'Install profile of the hosts (how they take the files), as the deployment defines them: lower-case letters, digits and inner dashes',
  pattern: '^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$',
  minLength: 1,
  maxLength: 32,
};
/**
 * Optional on every request, together: the account and Region of the hosts, when they are not this
 * deployment's own. The central deployment reaches them through the member stack's role there.
 */
export const TARGET_LOCATION_FIELDS = {
  TargetAccount: {
    description: "Account of the instances, when not this deployment's (12 digits; with TargetRegion)",
    pattern: '^[0-9]{12}$',
    minLength: 12,
    maxLength: 12,
  },
  TargetRegion: {
    description: "Region of the instances, when not this deployment's (with TargetAccount)",
    pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]+$',
    minLength: 9,
    maxLength: 32,
  },
} as const satisfies Record<string, FieldRule>;
export type TargetLocationField = keyof typeof TARGET_LOCATION_FIELDS;
const LOCATION_NAMES = Object.keys(TARGET_LOCATION_FIELDS) as TargetLocationField[];

/** Where a mapping's hosts are, when not in the deployment's own account and Region. */
export type TargetLocation = Record<TargetLocationField, string>;

export type ExportRequest = Record<ExportRequestField, string> & Partial<TargetLocation>;

const FIELD_NAMES = Object.keys(EXPORT_REQUEST_FIELDS) as ExportRequestField[];

/** Optional: check what an export would do (certificate, matching instances) without doing it. */
export const DRY_RUN_FIELD = 'DryRun';
const DRY_RUN_DESCRIPTION =
  'true to check the certificate and list the instances the tag selects, without exporting anything';

export function isDryRun(input: unknown): boolean {
  return (
    typeof input === 'object' && input !== null && (input as Record<string, unknown>)[DRY_RUN_FIELD] === true
  );
}

/**
 * In a renewal execution's input only (the API's model refuses it): the serial start-renewal exported
 * the certificate at, so the export step takes that stored export without asking ACM again.
 */
export const EXPORTED_SERIAL_FIELD = 'ExportedSerial';

/** Optional on an unmap: also remove the installed files from the hosts. */
export const REMOVE_FILES_FIELD = 'RemoveFiles';
const REMOVE_FILES_DESCRIPTION =
  'true to also remove the installed files (and their .previous copies) from the hosts the tag selects';

/** The optional true/false fields each request accepts besides the four mapping fields. */
const FLAGS = {
  export: { [DRY_RUN_FIELD]: DRY_RUN_DESCRIPTION },
  unmap: { [REMOVE_FILES_FIELD]: REMOVE_FILES_DESCRIPTION },
} as const;
export type RequestKind = keyof typeof FLAGS;

/** Returns every problem with `input` as a sentence; an empty list means it is a valid export request. */
export function exportRequestProblems(input: unknown): string[] {
  return requestProblems(input, 'export');
}

/** The same for an unmap request: the four mapping fields, and RemoveFiles if wanted. */
export function unmapRequestProblems(input: unknown): string[] {
  return requestProblems(input, 'unmap');
}

function requestProblems(input: unknown, kind: RequestKind): string[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return ['the request must be a JSON object'];
  }
  const record = input as Record<string, unknown>;
  const flags: Record<string, string> = FLAGS[kind];
  const problems: string[] = [];
  for (const name of Object.keys(record)) {
    if (name in flags) {
      if (typeof record[name] !== 'boolean') problems.push(`${name} must be true or false`);
    } else if (kind === 'export' && name === PROFILE_FIELD) {
      const problem = ruleProblem(PROFILE_RULE, record[name]);
      if (problem) problems.push(`${name} ${problem}`);
    } else if (!([...FIELD_NAMES, ...LOCATION_NAMES] as string[]).includes(name)) {
      problems.push(`${name} is not a known field`);
    }
  }
  for (const name of FIELD_NAMES) {
    const problem = fieldProblem(name, record[name]);
    if (problem) problems.push(`${name} ${problem}`);
  }
  const given = LOCATION_NAMES.filter((name) => record[name] !== undefined);
  for (const name of given) {
    const problem = ruleProblem(TARGET_LOCATION_FIELDS[name], record[name]);
    if (problem) problems.push(`${name} ${problem}`);
  }
  if (given.length === 1) {
    problems.push('TargetAccount and TargetRegion go together: give both, or neither for this deployment');
  }
  return problems;
}

/** What is wrong with one field's value (e.g. "is required"), or undefined when it is valid. */
export function fieldProblem(name: ExportRequestField, value: unknown): string | undefined {
  return ruleProblem(EXPORT_REQUEST_FIELDS[name], value);
}

function ruleProblem(rule: FieldRule, value: unknown): string | undefined {
  if (value === undefined) return 'is required';
  if (typeof value !== 'string') return 'must be a string';
  if (value.length < rule.minLength) return `must be at least ${rule.minLength} characters`;
  if (value.length > rule.maxLength) return `must be at most ${rule.maxLength} characters`;
  if (!new RegExp(rule.pattern).test(value)) return `is not valid: ${rule.description}`;
  if (rule.forbiddenPattern && new RegExp(rule.forbiddenPattern.pattern).test(value)) {
    return `is not valid: ${rule.forbiddenPattern.reason}`;
  }
  return undefined;
}

/** The request, typed, or an InvalidExportRequestError that lists every problem. */
export function validatedRequest(input: unknown): ExportRequest {
  const problems = exportRequestProblems(input);
  if (problems.length > 0)
    throw new InvalidExportRequestError(`invalid export request: ${problems.join('; ')}`);
  return requestFieldsOf(input as ExportRequest);
}

/** The install profile a request names, or `default`. */
export function profileOf(input: unknown): string {
  const profile = (input as Record<string, unknown> | null)?.[PROFILE_FIELD];
  return typeof profile === 'string' ? profile : DEFAULT_PROFILE;
}

/** The mapping's fields of a larger object (a workflow step's input, a mapping), nothing else. */
export function requestFieldsOf(input: ExportRequest): ExportRequest {
  const { CertificateArn, CertName, TargetTagKey, TargetTagValue } = input;
  const location = locationOf(input);
  return { CertificateArn, CertName, TargetTagKey, TargetTagValue, ...location };
}

/** The request's target location, or undefined for this deployment's own account and Region. */
export function locationOf(input: Partial<TargetLocation>): TargetLocation | undefined {
  const { TargetAccount, TargetRegion } = input;
  return TargetAccount && TargetRegion ? { TargetAccount, TargetRegion } : undefined;
}

/** The same rules as a JSON Schema draft-04 document, for the API Gateway request model. */
export function exportRequestJsonSchema(kind: RequestKind = 'export'): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const rules: [string, FieldRule][] = [
    ...FIELD_NAMES.map((name): [string, FieldRule] => [name, EXPORT_REQUEST_FIELDS[name]]),
    ...LOCATION_NAMES.map((name): [string, FieldRule] => [name, TARGET_LOCATION_FIELDS[name]]),
  ];
  for (const [name, rule] of rules) {
    properties[name] = {
      type: 'string',
      description: rule.description,
      pattern: rule.pattern,
      minLength: rule.minLength,
      maxLength: rule.maxLength,
      ...(rule.forbiddenPattern ? { not: { pattern: rule.forbiddenPattern.pattern } } : {}),
    };
  }
  const flags = Object.fromEntries(
    Object.entries(FLAGS[kind]).map(([name, description]) => [name, { type: 'boolean', description }]),
  );
  const profile =
    kind === 'export'
      ? {
          [PROFILE_FIELD]: {
            type: 'string',
            description: PROFILE_RULE.description,
            pattern: PROFILE_RULE.pattern,
            minLength: PROFILE_RULE.minLength,
            maxLength: PROFILE_RULE.maxLength,
          },
        }
      : {};
  return {
    $schema: 'http://json-schema.org/draft-04/schema#',
    title: kind === 'export' ? 'ExportCertificateRequest' : 'UnmapCertificateRequest',
    type: 'object',
    required: FIELD_NAMES,
    additionalProperties: false,
    properties: { ...properties, ...profile, ...flags },
    // Draft 4: each of the pair requires the other.
    dependencies: { TargetAccount: ['TargetRegion'], TargetRegion: ['TargetAccount'] },
  };
}

/** How a mapping's target tag is written as one value: the key holds no "=", so this is unambiguous. */
export function tagKeyValue(request: Pick<ExportRequest, 'TargetTagKey' | 'TargetTagValue'>): string {
  return `${request.TargetTagKey}=${request.TargetTagValue}`;
}

/**
 * The mapping table's partition for a target: its tag as `key=value`, preceded by `account/region/` for
 * hosts in another account or Region (an account id is digits and a Region holds no "/", so the three
 * parts read back unambiguously). The same tag in two accounts is two targets.
 */
export function targetPartition(
  request: Pick<ExportRequest, 'TargetTagKey' | 'TargetTagValue'> & Partial<TargetLocation>,
): string {
  const location = locationOf(request);
  const tag = tagKeyValue(request);
  return location ? `${location.TargetAccount}/${location.TargetRegion}/${tag}` : tag;
}

/**
 * A short, stable id for a mapping's target (certificate, tag key and value, and its account and Region
 * when not this deployment's): 16 hex digits, so names built from it (the mapping's secret, its
 * association) hold no tag characters those names do not allow.
 */
export function mappingId(
  request: Pick<ExportRequest, 'CertificateArn' | 'TargetTagKey' | 'TargetTagValue'> &
    Partial<TargetLocation>,
): string {
  const location = locationOf(request);
  const parts = [request.CertificateArn, request.TargetTagKey, request.TargetTagValue];
  if (location) parts.push(location.TargetAccount, location.TargetRegion);
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}
