#!/usr/bin/env node
import { runCli } from '../lib/cli/cli.js';

const code = await runCli(process.argv.slice(2), {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}).catch((error: Error) => {
  console.error(`Error: ${error.message}`);
  return 1;
});
process.exit(code);
