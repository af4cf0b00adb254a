import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';

/** PowerShell 7, as `.ci/run` installs it (a .NET global tool), or the one on PATH. */
export const PWSH =
  [path.join(homedir(), '.dotnet', 'tools', 'pwsh')].find((file) => existsSync(file)) ?? 'pwsh';

/** PowerShell without telemetry or its update check (no network here, and a faster start). */
export const PWSH_ENVIRONMENT = { POWERSHELL_TELEMETRY_OPTOUT: '1', POWERSHELL_UPDATECHECK: 'Off' };

/** Runs `command` in a fresh pwsh without a profile; returns what it printed. */
export function pwsh(command: string, env: Record<string, string> = {}): string {
  return execFileSync(PWSH, ['-NoLogo', '-NoProfile', '-NonInteractive', '-Command', command], {
    env: { ...process.env, ...PWSH_ENVIRONMENT, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
