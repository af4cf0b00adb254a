#!/usr/bin/env node
// `npx cert-lifecycle <command> …`: the CLI (bin/cli.ts), with nothing of npm's on standard output, so
// that scripts can read it: ARN=$(npx cert-lifecycle export … --output json | jq -r .executionArn).
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
