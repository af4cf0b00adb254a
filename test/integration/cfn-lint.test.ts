import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/app.js';

/**
 * cfn-lint rules this project ignores, each with why. Everything else must pass.
 */
const IGNORED_CFN_LINT_RULES: Record<string, string> = {
  W3005:
    'CDK adds an explicit DependsOn from a function or state machine to its role default policy, beside the Ref/GetAtt to the role itself; the redundancy is how CDK orders policy creation, not a mistake in this app.',
};

const outdir = mkdtempSync(path.join(tmpdir(), 'cdk-out-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('cfn-lint', () => {
  it('passes every synthesized template, ignoring only the listed rules', () => {
    if (spawnSync('cfn-lint', ['--version']).error) {
      throw new Error('cfn-lint is not installed: the integration tests need it (pip install cfn-lint)');
    }
    const { app } = createApp({
      outdir,
      context: {
        'aws:cdk:bundling-stacks': [],
        // The member stack's template too.
        organizationId: 'o-a1b2c3d4e5',
        centralAccount: '111122223333',
        centralRegion: 'eu-west-1',
      },
    });
    app.synth();
    const templates = readdirSync(outdir)
      .filter((name) => name.endsWith('.template.json'))
      .map((name) => path.join(outdir, name));
    expect(templates.some((file) => file.endsWith('-Member.template.json'))).toBe(true);

    const result = spawnSync(
      'cfn-lint',
      ['--ignore-checks', ...Object.keys(IGNORED_CFN_LINT_RULES), '--', ...templates],
      { encoding: 'utf8' },
    );
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
