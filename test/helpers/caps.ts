// What this machine can run, probed once. Tests gate on these with skipIf and a stated reason.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export const isRoot = process.geteuid?.() === 0;

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** An unprivileged identity to test rootless runs with (nobody), when we can switch to it. */
export const NOBODY = { uid: 65534, gid: 65534 };

export const canSwitchUser = isRoot && has('setpriv');

/** nobody can create user namespaces and can read this checkout (to run bin/nsrun.cjs). */
export const unprivilegedUserns = (() => {
  if (!canSwitchUser) return false;
  const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups', '--'];
  if (spawnSync('setpriv', [...nobody, 'unshare', '-U', 'true']).status !== 0) return false;
  const cli = require('node:path').resolve(__dirname, '..', '..', 'bin', 'nsrun.cjs');
  return spawnSync('setpriv', [...nobody, process.execPath, cli, '--version']).status === 0;
})();

export const hasTmux = has('tmux');
export const hasPython = has('python3');
export const timeNamespaces = fs.existsSync('/proc/self/ns/time');

/** A user with /etc/subuid and /etc/subgid ranges, created by .ci/run (or by hand) for range tests. */
export const SUBID_USER = 'nsrun-test';
export const subidUser = (() => {
  try {
    const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${SUBID_USER}:`));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(':');
    const sub = fs.readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${SUBID_USER}:`));
    const subg = fs.readFileSync('/etc/subgid', 'utf8').split('\n').find((l) => l.startsWith(`${SUBID_USER}:`));
    if (!sub || !subg) return undefined;
    const [, start, count] = sub.split(':').map(Number);
    return { name: SUBID_USER, uid: Number(uid), gid: Number(gid), subStart: start, subCount: count };
  } catch {
    return undefined;
  }
})();

export const hasNewuidmap = has('newuidmap') && has('newgidmap');

/** A describe/test title that says why it was skipped, only when it is. */
export function gated(ok: boolean, title: string, reason: string): string {
  return ok ? title : `${title} (skipped: ${reason})`;
}
