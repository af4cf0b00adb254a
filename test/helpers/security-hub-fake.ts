import {
  type AwsSecurityFinding,
  BatchImportFindingsCommand,
  GetFindingsCommand,
  SecurityHubClient,
} from '@aws-sdk/client-securityhub';
import { mockClient } from 'aws-sdk-client-mock';

/**
 * Security Hub as far as this app uses it: findings kept by Id, an update taken only when its UpdatedAt
 * is later, GetFindings filtered by generator, record state and resource, in pages.
 */
export function fakeSecurityHub(
  options: {
    enabled?: boolean;
    /** Refused the first time it is sent, taken the second. */
    refuseOnce?: (finding: AwsSecurityFinding) => boolean;
    /** Refused every time. */
    refuseAlways?: (finding: AwsSecurityFinding) => boolean;
  } = {},
) {
  const client = mockClient(SecurityHubClient);
  const stored = new Map<string, AwsSecurityFinding>();
  const refused = new Set<string>();
  const notEnabled = () =>
    Object.assign(new Error('Account 111122223333 is not subscribed to AWS Security Hub'), {
      name: 'InvalidAccessException',
    });

  client.on(BatchImportFindingsCommand).callsFake((input: { Findings: AwsSecurityFinding[] }) => {
    if (options.enabled === false) throw notEnabled();
    if (input.Findings.length > 100)
      throw Object.assign(new Error('too many findings'), { name: 'InvalidInputException' });
    const failed = [];
    for (const finding of input.Findings) {
      if (options.refuseAlways?.(finding) || (options.refuseOnce?.(finding) && !refused.has(finding.Id!))) {
        refused.add(finding.Id!);
        failed.push({ Id: finding.Id!, ErrorCode: 'InternalFailure', ErrorMessage: 'try again' });
        continue;
      }
      const previous = stored.get(finding.Id!);
      if (!previous || finding.UpdatedAt! > previous.UpdatedAt!) {
        stored.set(finding.Id!, { ...finding, CreatedAt: previous?.CreatedAt ?? finding.CreatedAt });
      }
    }
    return {
      SuccessCount: input.Findings.length - failed.length,
      FailedCount: failed.length,
      FailedFindings: failed,
    };
  });
  client
    .on(GetFindingsCommand)
    .callsFake(
      (input: { Filters: Record<string, { Value: string }[]>; NextToken?: string; MaxResults?: number }) => {
        if (options.enabled === false) throw notEnabled();
        const generators = input.Filters.GeneratorId?.map((filter) => filter.Value);
        const states = input.Filters.RecordState?.map((filter) => filter.Value);
        const resources = input.Filters.ResourceId?.map((filter) => filter.Value);
        const matching = [...stored.values()].filter(
          (finding) =>
            (!generators || generators.includes(finding.GeneratorId!)) &&
            (!states || states.includes(finding.RecordState!)) &&
            (!resources || finding.Resources!.some((resource) => resources.includes(resource.Id!))),
        );
        const start = Number(input.NextToken ?? 0);
        const size = input.MaxResults ?? 100;
        const page = matching.slice(start, start + size);
        return {
          Findings: page,
          ...(start + size < matching.length ? { NextToken: String(start + size) } : {}),
        };
      },
    );
  return { client, stored };
}
