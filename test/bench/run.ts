/**
 * `npm run bench`: figures for the export-install workflow, printed, never asserted.
 *  1. State transitions (what a Standard workflow bills) per export, from the real ASL run locally with the
 *     real handlers, and how the install's end reaches the execution: an install done at once and one
 *     that takes ten minutes, each with SSM's status-change event delivered and lost.
 *  2. Each handler's bundle, built with the stack's own bundling settings: size, and the time a fresh
 *     Node.js process takes to import it (what a cold start pays before the handler runs).
 *  3. The expiry scan's API calls and wall time over 10,000 certificates (test/bench/expiry-scan.ts).
 *  4. The audit processor on a 1,000,000-row report, streamed vs parsed whole, and on many certificates
 *     of one subject, latest-per-subject vs pairwise (test/bench/audit-report.ts).
 *  5. The install script on one host: first install, unchanged repeat, two at once (install-script.ts).
 *  6. One renewal fanned out to 100, 1,000 and 10,000 mappings, direct beside the renewal queue
 *     (renewal-fanout.ts).
 *  7. Following one install on 10, 100 and 1,000 hosts: SSM calls per check, largest state and item
 *     (fleet-install.ts).
 *  8. The workflow under faults: success rate, duplicated effects, transitions (workflow-faults.ts).
 *  9. Associations by target: associations and calls for 50 certificates on one target and for 2,000
 *     targets, the deploy-time sync, a host with 20 certificates (target-associations.ts).
 * 10. One export to hosts in a member account beside one here: calls by API and transitions
 *     (member-export.ts).
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HANDLER_BUNDLING } from '../../lib/handler-function.js';
import { PROJECT_ROOT, handlerEntry } from '../../lib/paths.js';
import { makeCertificate } from '../helpers/certificates.js';
import { REQUEST } from '../helpers/fixtures.js';
import { invocation } from '../helpers/ssm-fake.js';
import { type WorkflowHarness, startWorkflowHarness } from '../helpers/workflow-harness.js';
import { benchAuditReport, benchManyPerSubject } from './audit-report.js';
import { benchExpiryScan } from './expiry-scan.js';
import { benchFleetInstall } from './fleet-install.js';
import { benchInstallScript } from './install-script.js';
import { benchMemberExport } from './member-export.js';
import { benchRenewalFanout } from './renewal-fanout.js';
import { benchWorkflowFaults } from './workflow-faults.js';
import { benchTargetAssociations } from './target-associations.js';

const STANDARD_PRICE_PER_TRANSITION = 0.025 / 1000;
const IMPORT_SAMPLES = 7;

/** How often the stack's sweep looks at waiting commands whose status-change event never came. */
const SWEEP_INTERVAL_SECONDS = 300;

async function transitions(harness: WorkflowHarness): Promise<void> {
  const certificate = makeCertificate('rsa');
  const running = { status: 'InProgress', targetCount: 2, completedCount: 1 };
  const done = { status: 'Success', targetCount: 2, completedCount: 2 };
  const scenarios: Record<string, Parameters<typeof harness.run>[1]['commandProgress']> = {
    'done at once': [done],
    // Two sweeps (at 5 and 10 minutes) find it still running; then SSM's event reports its end.
    'takes ten minutes': [running, running, running, done],
  };
  console.log(
    'State transitions per export (Standard workflow, $0.025 per 1,000 transitions), and how the end is noticed',
  );
  for (const [name, commandProgress] of Object.entries(scenarios)) {
    for (const eventLost of [false, true]) {
      const run = await harness.run(REQUEST, {
        certificate,
        commandProgress,
        eventLost,
        invocations: [invocation('i-0aaa', 'Success'), invocation('i-0bbb', 'Success')],
      });
      const count = run.transitions.length;
      const lag =
        run.completedBy === 'step'
          ? 'at once, by the step itself'
          : run.completedBy === 'sweep'
            ? `event lost: by the sweep, at most ${SWEEP_INTERVAL_SECONDS} s after the end`
            : `SSM's event + ${run.handoffMs!.toFixed(0)} ms handoff here`;
      console.log(
        `  ${`${name}${eventLost ? ', event lost' : ''}`.padEnd(32)} ${String(count).padStart(2)} transitions  $${(count * STANDARD_PRICE_PER_TRANSITION).toFixed(6)}  ${run.looks} looks  ${lag}  (${run.status})`,
      );
    }
  }
}

async function bundles(): Promise<void> {
  const handlers = readdirSync(path.join(PROJECT_ROOT, 'lambda')).filter((name) => name !== 'shared');
  const outdir = mkdtempSync(path.join(tmpdir(), 'bench-bundles-'));
  console.log(
    `\nHandler bundles (${HANDLER_BUNDLING.format}, minified, SDK bundled; import time median of ${IMPORT_SAMPLES} fresh processes on ${process.version})`,
  );
  try {
    for (const handler of handlers) {
      const outfile = path.join(outdir, handler, 'index.mjs');
      await build({
        entryPoints: [handlerEntry(handler)],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: HANDLER_BUNDLING.target,
        minify: HANDLER_BUNDLING.minify,
        mainFields: [...HANDLER_BUNDLING.mainFields],
        banner: { js: HANDLER_BUNDLING.banner },
        logLevel: 'silent',
      });
      const importMs = median(Array.from({ length: IMPORT_SAMPLES }, () => importTime(outfile)));
      console.log(
        `  ${handler.padEnd(24)} ${(statSync(outfile).size / 1024).toFixed(0).padStart(5)} KiB   import ${importMs.toFixed(1).padStart(6)} ms`,
      );
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function importTime(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t);`;
  return Number(
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim(),
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

// One harness (one local DynamoDB engine) for every workflow figure: the handlers' clients, made when
// they are first imported, keep the engine they first saw.
const harness = await startWorkflowHarness();
await transitions(harness);
await bundles();
await benchExpiryScan();
await benchInstallScript();
await benchWorkflowFaults(harness);
await benchMemberExport(harness);
await harness.stop();
await benchRenewalFanout();
await benchFleetInstall();
await benchAuditReport();
await benchManyPerSubject();
await benchTargetAssociations();
