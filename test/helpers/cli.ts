// Runs bin/nsrun.cjs as a user would, optionally as an unprivileged user, and captures everything.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const NSRUN = path.join(ROOT, 'bin', 'nsrun.cjs');

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Run as this unprivileged uid (setpriv --reuid --regid --clear-groups). */
  asUser?: { uid: number; gid: number };
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export function setprivPrefix(u: { uid: number; gid: number }): string[] {
  return ['setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups', '--'];
}

export function nsrun(args: string[], opts: CliOptions = {}): CliResult {
  const argv = [...(opts.asUser ? setprivPrefix(opts.asUser) : []), process.execPath, NSRUN, ...args];
  const r: SpawnSyncReturns<string> = spawnSync(argv[0], argv.slice(1), {
    encoding: 'utf8',
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    timeout: opts.timeoutMs ?? 20_000,
    cwd: '/',
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The inode of each namespace of the calling process, e.g. { net: 'net:[4026531840]' }. */
export function hostNamespaces(pid: number | 'self' = 'self'): Record<string, string> {
  const fs = require('node:fs') as typeof import('node:fs');
  const out: Record<string, string> = {};
  for (const t of ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup', 'time']) {
    try {
      out[t] = fs.readlinkSync(`/proc/${pid}/ns/${t}`);
    } catch {
      // type not supported
    }
  }
  return out;
}
