// Operations on running sandboxes: list, inspect, signal. Library API; the CLI wraps these.
import { findSandboxCgroup } from './cgroup/sandbox-cgroup';
import { NsrunError, systemError, usageError } from './errors';
import { signalNumbers } from './linux';
import { native } from './native/binding';
import { inspectTarget, type Inspection } from './parent/inspect';
import { list, type RegistryEntry } from './parent/registry';
import { readNamespaces, resolveTarget } from './parent/target';
import { exec } from './sandbox';

export interface SandboxInfo extends RegistryEntry {
  uptimeSeconds: number;
  /** 'paused' while frozen (nsrun pause). */
  state: 'running' | 'paused';
  /** Namespace types in which the sandbox differs from the caller. */
  isolated: string[];
}

/** The running named sandboxes (stale entries are collected on the way). */
export function ps(): SandboxInfo[] {
  const mine = readNamespaces('self') as Record<string, string>;
  const now = Date.now();
  return list().map((e) => ({
    ...e,
    uptimeSeconds: Math.max(0, Math.round((now - Date.parse(e.createdAt)) / 1000)),
    state: sandboxFrozen(e.pid) ? 'paused' : 'running',
    isolated: Object.keys(e.namespaces).filter((t) => e.namespaces[t] !== mine[t]),
  }));
}

/** SIGTERM, TERM, term, 15 -> 15 */
export function parseSignal(sig: string | number): number {
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    if (n >= 0 && n <= 64) return n;
  } else {
    const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
    const n = signalNumbers()[name];
    if (n !== undefined) return n;
  }
  throw usageError('SIGNAL', `'${sig}' is not a signal name or number`, 'e.g. TERM, SIGKILL, 9');
}

function sandboxFrozen(pid: number): boolean {
  const f = findSandboxCgroup(pid);
  return !!f && f.driver.frozen(f.handle) === true;
}

/**
 * Send a signal to a sandbox (by name: to its nsrun-init, which forwards it) through a pidfd.
 * SIGKILL to a sandbox with its own cgroup kills every process in it at once (cgroup.kill on v2,
 * freeze-kill-thaw on v1), so nothing it forked escapes.
 */
export async function kill(target: string, signal: string | number = 'SIGTERM'): Promise<void> {
  const sig = parseSignal(signal);
  const t = resolveTarget(target);
  try {
    const cg = sig === 9 ? findSandboxCgroup(t.pid) : undefined;
    if (cg) return await cg.driver.killAll(cg.handle);
    const r = native().pidfdSendSignal(t.pidfd, sig);
    if (r < 0) throw systemError({ step: 'kill', object: target, syscall: 'pidfd_send_signal', errno: -r, side: 'parent' });
  } finally {
    native().close(t.pidfd);
  }
}

/** The UTS hostname of another process: read by entering its UTS (and user) namespace. */
async function hostnameOf(pid: number): Promise<string | null> {
  const mine = readNamespaces('self');
  const theirs = readNamespaces(pid);
  const types: ('uts' | 'user')[] = ['uts'];
  if (theirs.user !== mine.user) types.push('user');
  try {
    const sb = await exec({ target: String(pid), namespaces: types, command: ['uname', '-n'], stdio: 'pipe' });
    let out = '';
    sb.stdout!.on('data', (d) => (out += d));
    sb.stdin!.end();
    const r = await sb.exited;
    await new Promise((resolve) => (sb.stdout!.readableEnded ? resolve(null) : sb.stdout!.on('close', resolve)));
    return r.exitCode === 0 ? out.trim() : null;
  } catch {
    return null;
  }
}

/** What a process shares with the caller and what it has of its own. */
export function inspect(target: string): Promise<Inspection> {
  return inspectTarget(target, hostnameOf);
}

export type { Inspection };

/** The sandbox's own cgroup, or an error saying what pausing needs. */
function freezable(target: string, verb: 'pause' | 'resume') {
  const t = resolveTarget(target);
  native().close(t.pidfd);
  const cg = findSandboxCgroup(t.pid);
  if (!cg)
    throw new NsrunError({
      step: verb,
      object: target,
      reason: 'the sandbox has no cgroup of its own to freeze',
      code: 'ERR_NSRUN_NO_CGROUP',
      side: 'parent',
      hint: 'only sandboxes started with a limit (e.g. --pids 1000) or --cgroup-parent get a cgroup nsrun can freeze',
    });
  if (cg.handle.version === 1 && !cg.handle.freezer)
    throw new NsrunError({ step: verb, object: target, reason: 'no cgroup v1 freezer hierarchy is mounted', code: 'ERR_NSRUN_NO_CGROUP', side: 'parent', hint: 'mount -t cgroup -o freezer none /sys/fs/cgroup/freezer (before starting the sandbox)' });
  return cg;
}

/** Freeze every process of a sandbox (cgroup.freeze on v2, freezer.state on v1); resolves once frozen. */
export async function pause(target: string): Promise<void> {
  const cg = freezable(target, 'pause');
  await cg.driver.freeze(cg.handle, true);
}

/** Thaw a paused sandbox; resolves once it runs again. */
export async function resume(target: string): Promise<void> {
  const cg = freezable(target, 'resume');
  await cg.driver.freeze(cg.handle, false);
}
