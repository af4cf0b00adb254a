import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';

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

  remove(): void {
    execFileSync('userdel', [this.name]);
    try {
      execFileSync('groupdel', [this.name], { stdio: 'ignore' });
    } catch {
      // userdel already removed the user's own group
    }
  }
}

/** What a file system tree holds: every entry's type, mode, owner and content (or link target). */
export function treeSnapshot(root: string, skip: (file: string) => boolean = () => false) {
  const entries: Record<string, string> = {};
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      if (skip(file)) continue;
      const stat = lstatSync(file);
      const owner = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`;
      if (stat.isSymbolicLink()) entries[file] = `link ${owner} -> ${readlinkSync(file)}`;
      else if (stat.isDirectory()) {
        entries[file] = `dir ${owner}`;
        visit(file);
      } else {
        const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
        entries[file] = `file ${owner} ${digest} links=${stat.nlink}`;
      }
    }
  };
  visit(root);
  return entries;
}
