import { DescribeDocumentCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import {
  exportRequestJsonSchema,
  exportRequestProblems,
  mappingId,
  targetPartition,
  unmapRequestProblems,
  validatedRequest,
} from '../../lambda/shared/export-request.js';
import { mappingSecretName } from '../../lambda/shared/certificate-secret.js';
import {
  type TargetLocationPolicy,
  assertReachable,
  eventLocation,
  locationProblems,
  memberRoleArn,
} from '../../lambda/shared/target-location.js';
import { ACCOUNT_ID, REGION, REQUEST } from '../helpers/fixtures.js';

const MEMBER = { TargetAccount: '444455556666', TargetRegion: 'eu-central-1' };
const POLICY: TargetLocationPolicy = {
  home: { account: ACCOUNT_ID, region: REGION },
  accounts: 'organization',
  regions: ['eu-central-1'],
};

describe('a request naming where its hosts are', () => {
  it('takes TargetAccount and TargetRegion together, each held to its rule', () => {
    expect(exportRequestProblems({ ...REQUEST, ...MEMBER })).toEqual([]);
    expect(validatedRequest({ ...REQUEST, ...MEMBER })).toEqual({ ...REQUEST, ...MEMBER });
    expect(unmapRequestProblems({ ...REQUEST, ...MEMBER })).toEqual([]);
    expect(exportRequestProblems({ ...REQUEST, TargetAccount: MEMBER.TargetAccount })).toEqual([
      'TargetAccount and TargetRegion go together: give both, or neither for this deployment',
    ]);
    expect(
      exportRequestProblems({ ...REQUEST, TargetAccount: '4444', TargetRegion: 'eu-central-1' }),
    ).toEqual(['TargetAccount must be at least 12 characters']);
    expect(
      exportRequestProblems({ ...REQUEST, TargetAccount: '44445555666x', TargetRegion: 'eu-central-1' }),
    ).toEqual([expect.stringMatching(/^TargetAccount is not valid/)]);
    expect(
      exportRequestProblems({ ...REQUEST, TargetAccount: MEMBER.TargetAccount, TargetRegion: '../etc' }),
    ).toEqual(['TargetRegion must be at least 9 characters']);
    expect(
      exportRequestProblems({
        ...REQUEST,
        TargetAccount: MEMBER.TargetAccount,
        TargetRegion: 'eu central 1',
      }),
    ).toEqual([expect.stringMatching(/^TargetRegion is not valid/)]);
  });

  it('is described to the API model by the same rules, each of the pair requiring the other', () => {
    const schema = exportRequestJsonSchema() as {
      properties: Record<string, { pattern: string }>;
      dependencies: Record<string, string[]>;
      required: string[];
    };
    expect(schema.dependencies).toEqual({ TargetAccount: ['TargetRegion'], TargetRegion: ['TargetAccount'] });
    expect(schema.required).not.toContain('TargetAccount');
    expect(new RegExp(schema.properties.TargetAccount!.pattern).test(MEMBER.TargetAccount)).toBe(true);
    expect(new RegExp(schema.properties.TargetRegion!.pattern).test('eu central 1')).toBe(false);
  });

  it('is a mapping of its own: another partition key, id and secret than the same tag here', () => {
    expect(targetPartition(REQUEST)).toBe('env=dev');
    expect(targetPartition({ ...REQUEST, ...MEMBER })).toBe('444455556666/eu-central-1/env=dev');
    expect(mappingId({ ...REQUEST, ...MEMBER })).not.toBe(mappingId(REQUEST));
    expect(mappingId({ ...REQUEST, ...MEMBER, TargetRegion: 'eu-west-2' })).not.toBe(
      mappingId({ ...REQUEST, ...MEMBER }),
    );
    expect(mappingSecretName({ ...REQUEST, ...MEMBER })).toMatch(
      /^acm-passphrase\/web-server\/[0-9a-f]{16}$/,
    );
  });
});

describe('where a mapping may point', () => {
  it('is allowed in any account of the organization, in the configured Regions', () => {
    expect(locationProblems(MEMBER, POLICY)).toEqual([]);
    expect(locationProblems({ ...MEMBER, TargetRegion: REGION }, POLICY)).toEqual([]);
    expect(locationProblems({ TargetAccount: ACCOUNT_ID, TargetRegion: 'eu-central-1' }, POLICY)).toEqual([]);
    expect(locationProblems({}, POLICY)).toEqual([]);
  });

  it('names the allowed accounts and Regions when refusing', () => {
    const listed = { ...POLICY, accounts: ['777788889999'] };
    expect(locationProblems(MEMBER, listed)).toEqual([
      `TargetAccount 444455556666 is not allowed: this deployment installs in ${ACCOUNT_ID}, 777788889999`,
    ]);
    expect(locationProblems({ ...MEMBER, TargetRegion: 'ap-south-1' }, POLICY)).toEqual([
      `TargetRegion ap-south-1 is not allowed: this deployment installs in ${REGION}, eu-central-1 (configure targetRegions)`,
    ]);
    expect(locationProblems(MEMBER, { ...POLICY, accounts: [] })[0]).toMatch(
      /installs in its own account only \(configure organizationId/,
    );
  });

  it("tells a request naming this deployment's own account and Region to leave them out", () => {
    expect(locationProblems({ TargetAccount: ACCOUNT_ID, TargetRegion: REGION }, POLICY)).toEqual([
      "TargetAccount and TargetRegion name this deployment's own account and Region: leave both out for its hosts",
    ]);
  });

  it("is reached through the member role named after the stack and the member's Region", () => {
    expect(memberRoleArn(MEMBER, 'aws', 'CertLifecycle')).toBe(
      'arn:aws:iam::444455556666:role/CertLifecycle-Central-eu-central-1',
    );
  });
});

describe("an event's origin", () => {
  it('is a member location only when it is not this deployment', () => {
    const home = { account: ACCOUNT_ID, region: REGION };
    expect(eventLocation({ account: ACCOUNT_ID, region: REGION }, home)).toBeUndefined();
    expect(eventLocation({}, home)).toBeUndefined();
    expect(eventLocation({ account: MEMBER.TargetAccount, region: MEMBER.TargetRegion }, home)).toEqual(
      MEMBER,
    );
  });
});

describe('the member stack answering', () => {
  const ssm = new SSMClient({ region: REGION });

  it('is proven by DescribeDocument on the install document through the member role', async () => {
    const mock = mockClient(ssm);
    mock.on(DescribeDocumentCommand).resolves({ Document: { Name: 'CertLifecycle-Install-ACMCertificate' } });
    await assertReachable(ssm, MEMBER, 'CertLifecycle-Install-ACMCertificate');
    expect(mock.commandCalls(DescribeDocumentCommand)[0]!.args[0].input).toEqual({
      Name: 'CertLifecycle-Install-ACMCertificate',
    });
    mock.restore();
  });

  it.each([
    [
      'AccessDenied',
      'User: … is not authorized to perform: sts:AssumeRole',
      /cannot act in account 444455556666 in eu-central-1 \(AccessDenied\)/,
    ],
    [
      'InvalidDocument',
      'Document not found',
      /has no document CertLifecycle-Install-ACMCertificate: deploy the member stack/,
    ],
  ])('explains %s', async (name, message, expected) => {
    const mock = mockClient(ssm);
    mock.on(DescribeDocumentCommand).rejects(Object.assign(new Error(message), { name }));
    await expect(assertReachable(ssm, MEMBER, 'CertLifecycle-Install-ACMCertificate')).rejects.toThrow(
      expect.objectContaining({ name: 'TargetNotReachableError', message: expect.stringMatching(expected) }),
    );
    mock.restore();
  });

  it('leaves a passing failure to the retries', async () => {
    const mock = mockClient(ssm);
    mock
      .on(DescribeDocumentCommand)
      .rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    await expect(assertReachable(ssm, MEMBER, 'X-Install')).rejects.toThrow(
      expect.objectContaining({ name: 'ThrottlingException' }),
    );
    mock.restore();
  });
});
