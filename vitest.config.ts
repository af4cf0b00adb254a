import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    // Most files wait on child processes (bash, openssl, PowerShell) more than they compute: two workers
    // even on a two-CPU runner, where Vitest's default (one fewer than the CPUs) would run them one by one.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    hookTimeout: 60_000,
    // Handlers log at WARN in tests; the workflow harness turns INFO back on, since it checks the log lines.
    env: { POWERTOOLS_DEV: 'true', POWERTOOLS_LOG_LEVEL: 'WARN', AWS_REGION: 'eu-west-1' },
    setupFiles: ['test/setup.ts'],
    // CI also writes a JSON report, from which .ci/run prints a plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/integration/**'] },
      },
      {
        // Against a local AWS API server (moto_server) and cfn-lint: both must be installed.
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/moto-server.ts'],
          // One moto_server holds the state of every file: run them one after another.
          fileParallelism: false,
        },
      },
    ],
  },
});
