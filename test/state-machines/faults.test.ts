import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINAL_INSTALL_STATUSES } from '../../lambda/shared/mapping-store.js';
import { type TestCertificate, makeCertificate } from '../helpers/certificates.js';
import { REQUEST } from '../helpers/fixtures.js';
import { invocation } from '../helpers/ssm-fake.js';
import { type WorkflowHarness, type WorkflowRun, startWorkflowHarness } from '../helpers/workflow-harness.js';

/*
 * The deployed ASL with the real handlers, over many seeded executions where every ACM, Secrets
 * Manager, SSM, Step Functions and DynamoDB call may fail as AWS's passing failures do (before it takes
 * effect, or after, for a call that changes something) and some step responses are lost after the step
 * did its work. DynamoDB is the real local engine behind the faults.
 */

const EXECUTIONS = 40;
/** One call in twenty fails, and one changing call in twenty fails after taking effect. */
const RATE = 0.05;
/** The Task states' retry budget: 5 retries each (the definition's MaxAttempts). */
const RETRIES = 5;

let harness: WorkflowHarness;
let certificate: TestCertificate;
const runs: WorkflowRun[] = [];

beforeAll(async () => {
  harness = await startWorkflowHarness();
  certificate = makeCertificate('ec');
  for (let seed = 1; seed <= EXECUTIONS; seed += 1) {
    runs.push(
      await harness.run(REQUEST, {
        certificate,
        invocations: [invocation('i-0aaa', 'Success')],
        faults: { seed, rate: RATE },
      }),
    );
  }
}, 120_000);
afterAll(async () => harness.stop());

const retriesOf = (run: WorkflowRun, state: string) =>
  run.events.filter((event) => event.type === 'StateRetried' && event.state?.name === state).length;

describe(`the workflow under faults (${EXECUTIONS} seeded executions, ${RATE * 100}% of calls failing)`, () => {
  it('was really faulted: calls failed before and after their effect, and responses were lost', () => {
    const total = runs.reduce(
      (sum, run) => ({
        before: sum.before + run.faults.before,
        after: sum.after + run.faults.after,
        lost: sum.lost + run.faults.lostResponses,
      }),
      { before: 0, after: 0, lost: 0 },
    );
    expect(total.before).toBeGreaterThan(EXECUTIONS / 2);
    expect(total.after).toBeGreaterThan(0);
    expect(total.lost).toBeGreaterThan(0);
  });

  it('fails no execution for a passing cause within the retry budget', () => {
    for (const [index, run] of runs.entries()) {
      if (run.status === 'SUCCEEDED') continue;
      // A failure is allowed only once a step used up all its retries.
      const exhausted = ['ExportCertificate', 'RecordAndInstall'].some(
        (state) => retriesOf(run, state) >= RETRIES,
      );
      expect(exhausted, `seed ${index + 1}: ${run.error} ${run.cause}`).toBe(true);
    }
    expect(runs.filter((run) => run.status === 'SUCCEEDED').length).toBeGreaterThanOrEqual(EXECUTIONS * 0.9);
  });

  it('exports once and installs once per execution', () => {
    for (const [index, run] of runs.entries()) {
      // The certificate's export and the mapping's secret: one version each at most.
      const versions = [...run.secrets.values()].map((secret) => secret.versions);
      expect(Math.max(0, ...versions), `seed ${index + 1}`).toBeLessThanOrEqual(1);
      expect(run.sendCommands.length, `seed ${index + 1}`).toBeLessThanOrEqual(1);
      if (run.status === 'SUCCEEDED') {
        expect(versions, `seed ${index + 1}`).toEqual([1, 1]);
        expect(run.sendCommands, `seed ${index + 1}`).toHaveLength(1);
      }
    }
  });

  it('leaves every mapping with a final status, and a mapping whenever a secret was written', () => {
    for (const [index, run] of runs.entries()) {
      if (run.secrets.size > 0) expect(run.inventoryItems, `seed ${index + 1}`).toHaveLength(1);
      for (const item of run.inventoryItems) {
        expect([...FINAL_INSTALL_STATUSES], `seed ${index + 1}`).toContain(item.LastInstallStatus);
      }
    }
  });

  it('alerts for every failed execution, and only for those', () => {
    for (const [index, run] of runs.entries()) {
      expect(run.alerts, `seed ${index + 1}`).toHaveLength(run.status === 'SUCCEEDED' ? 0 : 1);
    }
  });

  it('writes no key material anywhere: state, logs, items, commands or alerts', () => {
    const keyLines = certificate.privateKeyPem.split('\n').filter((line) => line.length >= 32);
    for (const run of runs) {
      const written = JSON.stringify([
        run.events,
        run.output,
        run.cause,
        run.logLines,
        run.inventoryItems,
        run.sendCommands,
        run.alerts,
      ]);
      for (const line of keyLines) expect(written).not.toContain(line);
      for (const { value } of run.secrets.values()) {
        const passphrase = /-----BEGIN ACM EXPORT PASSPHRASE-----\n(.*)\n/.exec(value)?.[1];
        if (passphrase) expect(written).not.toContain(passphrase);
      }
    }
  });
});
