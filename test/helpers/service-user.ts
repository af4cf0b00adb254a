import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';

/**
 * A throwaway system account for the tests that run as root: the service user who owns the certificate
 * directory on a real host, and who may be hostile. Removed again by `remove()`.
 */
export class ServiceUser {
  readonly name = `certsvc${randomBytes(4).toString('hex')}`;
  readonly uid: number;
  readonly gid: number;

  constructor() {
    execFileSync('useradd', [
      '--system',
      '--no-create-home',
      '--user-group',
      '--shell',
      '/bin/false',
      this.name,
    ]);
    this.uid = Number(execFileSync('id', ['-u', this.name], { encoding: 'utf8' }));
    this.gid = Number(execFileSync('id', ['-g', this.name], { encoding: 'utf8' }));
  }

  /** Runs a bash script as this user, with no other groups. */
  spawn(script: string): ChildProcess {
    return spawn('setpriv', this.asUser(script), { stdio: 'ignore' });
  }

  /** Runs a bash script as this user and waits for it. */
  run(script: string): void {
    execFileSync('setpriv', this.asUser(script));
  }

  private asUser(script: string): string[] {
    const ids = ['--reuid', String(this.uid), '--regid', String(this.gid), '--clear-groups'];
    return [...ids, '--', 'bash', '-c', script];
  }

  /**
   * Stops every process of this user, and returns once none is left: a script killed between two of its
   * commands may leave one running (a rename half-way through a swap) that would race what comes next.
   */
  async stopAll(): Promise<void> {
    for (;;) {
      spawnSync('pkill', ['-KILL', '-u', String(this.uid)]);
      if (spawnSync('pgrep', ['-u', String(this.uid)]).status !== 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  remove(): void {
    execFileSync('userdel', [this.name]);
    try {
      execFileSync('groupdel', [this.name], { stdio: 'ignore' });
    } catch {
      // userdel already removed the user's own group
    }
  }
}

/** A throwaway service user for the tests of one suite: made before them, removed after. */
export function serviceUserForSuite(): () => ServiceUser {
  let user: ServiceUser | undefined;
  beforeAll(() => {
    user = new ServiceUser();
  });
  afterAll(() => user?.remove());
  return () => user!;
}

/** Resolves when the child process has ended, also if it already had. */
export const ended = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('close', () => resolve());
  });
