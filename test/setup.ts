import 'aws-sdk-client-mock-vitest/extend';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';

// Handlers read their Region from the runtime's variable; tests run as if in eu-west-1.
process.env.AWS_REGION ??= 'eu-west-1';

// Everything a test file puts in the temporary directory (synthesized apps, throwaway hosts, keys) goes
// into one directory of its own, removed when the file ends, whether its tests passed or not.
process.env.CERT_LIFECYCLE_TEST_TMPDIR ??= tmpdir();
const sandbox = mkdtempSync(path.join(process.env.CERT_LIFECYCLE_TEST_TMPDIR, 'cert-lifecycle-test-'));
process.env.TMPDIR = sandbox;
afterAll(() => rmSync(sandbox, { recursive: true, force: true }));
