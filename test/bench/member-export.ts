/**
 * Calls and transitions of one export to hosts in a member account beside one to hosts here: the real
 * ASL and handlers, every AWS call counted by name. A member export adds the member stack check
 * (DescribeDocument) and the secret's resource policy (PutResourcePolicy); its SSM calls go through the
 * member role, whose credentials (STS AssumeRole, 15 minutes) each warm function keeps per account and
 * Region, so the bench's figure for STS is what the code does, not counted here.
 */
import { makeCertificate } from '../helpers/certificates.js';
import { REQUEST } from '../helpers/fixtures.js';
import { FakeHost } from '../helpers/install-script.js';
import type { WorkflowHarness } from '../helpers/workflow-harness.js';

const MEMBER = { TargetAccount: '444455556666', TargetRegion: 'eu-central-1' };
const SECRETS_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:';

export async function benchMemberExport(harness: WorkflowHarness): Promise<void> {
  const certificate = makeCertificate('rsa');
  console.log(
    '\nOne export with install on two hosts: here, and in a member account (calls by API, transitions)',
  );
  const runs = {
    here: await harness.run(REQUEST, { certificate, hosts: [new FakeHost(), new FakeHost()] }),
    'member account': await harness.run(
      { ...REQUEST, ...MEMBER },
      {
        certificate,
        hosts: [new FakeHost({ secretsArn: SECRETS_ARN }), new FakeHost({ secretsArn: SECRETS_ARN })],
      },
    ),
  };
  const names = [...new Set(Object.values(runs).flatMap((run) => Object.keys(run.calls)))].sort();
  console.log(
    `  ${'call'.padEnd(30)} ${Object.keys(runs)
      .map((name) => name.padStart(15))
      .join('')}`,
  );
  for (const name of names) {
    console.log(
      `  ${name.padEnd(30)} ${Object.values(runs)
        .map((run) => String(run.calls[name] ?? 0).padStart(15))
        .join('')}`,
    );
  }
  const total = (calls: Record<string, number>) =>
    Object.values(calls).reduce((sum, count) => sum + count, 0);
  console.log(
    `  ${'all calls'.padEnd(30)} ${Object.values(runs)
      .map((run) => String(total(run.calls)).padStart(15))
      .join('')}`,
  );
  console.log(
    `  ${'state transitions'.padEnd(30)} ${Object.values(runs)
      .map((run) => String(run.transitions.length).padStart(15))
      .join('')}`,
  );
  console.log(
    `  ${'status'.padEnd(30)} ${Object.values(runs)
      .map((run) => run.status.padStart(15))
      .join('')}`,
  );
}
