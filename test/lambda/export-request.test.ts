import { describe, expect, it } from 'vitest';
import {
  EXPORT_REQUEST_FIELDS,
  exportRequestJsonSchema,
  exportRequestProblems,
  isDryRun,
  PROFILE_RULE,
  profileOf,
  tagKeyValue,
  validatedRequest,
} from '../../lambda/shared/export-request.js';
import { REQUEST } from '../helpers/fixtures.js';

describe('export request rules', () => {
  it('accepts a well-formed request', () => {
    expect(exportRequestProblems(REQUEST)).toEqual([]);
    expect(validatedRequest(REQUEST)).toEqual(REQUEST);
  });

  it.each([
    ['a slash', 'web/server'],
    ['a parent-directory step', '..'],
    ['two dots in a row', 'web..server'],
    ['a space', 'web server'],
    ['a quote', "web'server"],
    ['a dollar sign', 'web$HOME'],
    ['a backtick', 'web`id`'],
    ['a semicolon', 'web;reboot'],
    ['a newline', 'web\nserver'],
    ['a leading dot', '.hidden'],
    ['a leading dash', '-rf'],
    ['an empty name', ''],
  ])('rejects a CertName with %s', (_, certName) => {
    const problems = exportRequestProblems({ ...REQUEST, CertName: certName });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CertName /);
  });

  it('rejects a CertName longer than 64 characters', () => {
    expect(exportRequestProblems({ ...REQUEST, CertName: 'a'.repeat(65) })).toEqual([
      'CertName must be at most 64 characters',
    ]);
  });

  it.each([
    ['an ACM ARN from another service', 'arn:aws:iam::111122223333:role/x'],
    ['a truncated certificate id', 'arn:aws:acm:eu-west-1:111122223333:certificate/1234'],
    [
      'an upper-case id',
      'arn:aws:acm:eu-west-1:111122223333:certificate/12345678-90AB-CDEF-1234-567890ABCDEF',
    ],
  ])('rejects a CertificateArn that is %s', (_, arn) => {
    expect(exportRequestProblems({ ...REQUEST, CertificateArn: arn })[0]).toMatch(
      /^CertificateArn is not valid/,
    );
  });

  it('accepts a certificate ARN from another partition', () => {
    const arn =
      'arn:aws-us-gov:acm:us-gov-west-1:111122223333:certificate/12345678-90ab-cdef-1234-567890abcdef';
    expect(exportRequestProblems({ ...REQUEST, CertificateArn: arn })).toEqual([]);
  });

  it('rejects a tag key reserved by AWS', () => {
    expect(exportRequestProblems({ ...REQUEST, TargetTagKey: 'aws:cloudformation:stack-name' })).toEqual([
      'TargetTagKey is not valid: tag keys starting with "aws:" are reserved by AWS',
    ]);
  });

  it('rejects a tag key with "=" so the mapping key stays unambiguous', () => {
    expect(exportRequestProblems({ ...REQUEST, TargetTagKey: 'a=b' })[0]).toMatch(
      /^TargetTagKey is not valid/,
    );
  });

  it('accepts a tag value with inner spaces but not with outer ones', () => {
    expect(exportRequestProblems({ ...REQUEST, TargetTagValue: 'Web Server' })).toEqual([]);
    expect(exportRequestProblems({ ...REQUEST, TargetTagValue: ' Web' })[0]).toMatch(/^TargetTagValue/);
    expect(exportRequestProblems({ ...REQUEST, TargetTagValue: 'Web ' })[0]).toMatch(/^TargetTagValue/);
  });

  it('lists every problem at once, unknown fields included', () => {
    expect(exportRequestProblems({ CertName: 7, Extra: 'x' })).toEqual([
      'Extra is not a known field',
      'CertificateArn is required',
      'CertName must be a string',
      'TargetTagKey is required',
      'TargetTagValue is required',
    ]);
  });

  it('rejects something that is not an object', () => {
    expect(exportRequestProblems(['a'])).toEqual(['the request must be a JSON object']);
    expect(() => validatedRequest(null)).toThrow(/invalid export request: the request must be a JSON object/);
  });

  it('throws a named error the workflow can catch', () => {
    expect(() => validatedRequest({ ...REQUEST, CertName: 'a/b' })).toThrow(
      expect.objectContaining({ name: 'InvalidExportRequestError' }),
    );
  });

  it('takes an optional DryRun flag, and returns only the four fields', () => {
    expect(exportRequestProblems({ ...REQUEST, DryRun: true })).toEqual([]);
    expect(exportRequestProblems({ ...REQUEST, DryRun: 'yes' })).toEqual(['DryRun must be true or false']);
    expect(validatedRequest({ ...REQUEST, DryRun: false })).toEqual(REQUEST);
    expect(isDryRun({ ...REQUEST, DryRun: true })).toBe(true);
    expect(isDryRun(REQUEST)).toBe(false);
  });

  it('takes an optional install profile name, by its own rule', () => {
    expect(exportRequestProblems({ ...REQUEST, Profile: 'haproxy' })).toEqual([]);
    expect(profileOf({ ...REQUEST, Profile: 'haproxy' })).toBe('haproxy');
    expect(profileOf(REQUEST)).toBe('default');
    expect(exportRequestProblems({ ...REQUEST, Profile: '/usr/bin' })).toEqual([
      expect.stringMatching(/^Profile is not valid: Install profile/),
    ]);
    expect(exportRequestProblems({ ...REQUEST, Profile: 7 })).toEqual(['Profile must be a string']);
    expect(validatedRequest({ ...REQUEST, Profile: 'haproxy' })).toEqual(REQUEST);
  });

  it('joins the target tag as key=value', () => {
    expect(tagKeyValue(REQUEST)).toBe('env=dev');
  });
});

describe('the API model', () => {
  const schema = exportRequestJsonSchema() as {
    $schema: string;
    required: string[];
    additionalProperties: boolean;
    properties: Record<string, { pattern: string; maxLength: number; not?: { pattern: string } }>;
  };

  it('is a draft-04 schema that requires every field and nothing else', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-04/schema#');
    expect(schema.required).toEqual(Object.keys(EXPORT_REQUEST_FIELDS));
    expect(schema.additionalProperties).toBe(false);
  });

  it('carries the same patterns, lengths and exclusions the handler applies', () => {
    for (const [name, rule] of Object.entries(EXPORT_REQUEST_FIELDS)) {
      const property = schema.properties[name]!;
      expect(property.pattern).toBe(rule.pattern);
      expect(property.maxLength).toBe(rule.maxLength);
      expect(property.not?.pattern).toBe(
        'forbiddenPattern' in rule ? rule.forbiddenPattern.pattern : undefined,
      );
    }
  });

  it('offers the optional Profile with the same rule, not required', () => {
    expect(schema.properties.Profile).toMatchObject({ pattern: PROFILE_RULE.pattern, maxLength: 32 });
    expect(schema.required).not.toContain('Profile');
  });

  it('uses no regular-expression syntax beyond what draft-04 validators share (no lookaround)', () => {
    for (const property of Object.values(schema.properties)) {
      if (property.pattern) expect(property.pattern).not.toMatch(/\(\?[=!<]/);
    }
  });
});
