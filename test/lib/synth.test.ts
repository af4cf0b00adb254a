import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { synthesize } from '../helpers/stack.js';

describe('synthesis with bundling', () => {
  it('bundles every handler with the local esbuild and passes the cdk-nag AWS Solutions checks', () => {
    const { app } = synthesize({}, { bundle: true });
    const assembly = app.synth();
    const bundles = readdirSync(assembly.directory)
      .filter(
        (entry) => entry.startsWith('asset.') && statSync(path.join(assembly.directory, entry)).isDirectory(),
      )
      .map((entry) => path.join(assembly.directory, entry, 'index.mjs'));
    const handlers = readdirSync(path.join(PROJECT_ROOT, 'lambda')).filter((name) => name !== 'shared');
    expect(bundles).toHaveLength(handlers.length);
    for (const bundle of bundles) expect(existsSync(bundle)).toBe(true);

    const report = path.join(assembly.directory, 'validation-report.json');
    if (existsSync(report)) {
      const { pluginReports } = JSON.parse(readFileSync(report, 'utf8')) as {
        pluginReports: { violations?: unknown[] }[];
      };
      expect(pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
    }
  });
});
