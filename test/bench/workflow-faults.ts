/**
 * The export workflow under faults: the deployed ASL with the real handlers, 200 seeded executions per
 * fault rate, every ACM, Secrets Manager, SSM and Step Functions call failing at that rate (before its
 * effect, or after it for a call that changes something) and step responses lost at it too. Prints the
 * success rate, duplicated effects and the transitions an execution took.
 */
import { FINAL_INSTALL_STATUSES } from '../../lambda/shared/mapping-store.js';
import { makeCertificate } from '../helpers/certificates.js';
import { REQUEST } from '../helpers/fixtures.js';
import { invocation } from '../helpers/ssm-fake.js';
import type { WorkflowHarness } from '../helpers/workflow-harness.js';

const EXECUTIONS = 200;

export async function benchWorkflowFaults(harness: WorkflowHarness): Promise<void> {
  const certificate = makeCertificate('ec');
  console.log(`\nThe export workflow under faults (${EXECUTIONS} seeded executions per rate)`);
  console.log(
    `  ${'fault rate'.padEnd(10)} ${'succeeded'.padStart(10)} ${'faults (before/after/lost)'.padStart(27)} ${'2nd export'.padStart(10)} ${'2nd install'.padStart(11)} ${'final status'.padStart(12)} ${'transitions'.padStart(11)}`,
  );
  for (const rate of [0.02, 0.05, 0.1, 0.2]) {
    let succeeded = 0;
    let exportsTwice = 0;
    let installsTwice = 0;
    let notFinal = 0;
    let transitions = 0;
    const faults = { before: 0, after: 0, lost: 0 };
    for (let seed = 1; seed <= EXECUTIONS; seed += 1) {
      const run = await harness.run(REQUEST, {
        certificate,
        invocations: [invocation('i-0aaa', 'Success')],
        faults: { seed: seed * 7919, rate },
      });
      if (run.status === 'SUCCEEDED') succeeded += 1;
      // Each execution writes one version of the mapping's secret and one of the certificate's export.
      if ([...run.secrets.values()].some((secret) => secret.versions > 1)) exportsTwice += 1;
      if (run.sendCommands.length > 1) installsTwice += 1;
      if (run.inventoryItems.some((item) => !FINAL_INSTALL_STATUSES.has(item.LastInstallStatus as string)))
        notFinal += 1;
      transitions += run.transitions.length;
      faults.before += run.faults.before;
      faults.after += run.faults.after;
      faults.lost += run.faults.lostResponses;
    }
    const faultText = `${faults.before}/${faults.after}/${faults.lost}`;
    console.log(
      `  ${`${rate * 100}%`.padEnd(10)} ${`${((100 * succeeded) / EXECUTIONS).toFixed(1)}%`.padStart(10)} ${faultText.padStart(27)} ${String(exportsTwice).padStart(10)} ${String(installsTwice).padStart(11)} ${`${EXECUTIONS - notFinal}/${EXECUTIONS}`.padStart(12)} ${(transitions / EXECUTIONS).toFixed(1).padStart(11)}`,
    );
  }
}
