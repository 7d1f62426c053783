// Finding and pinning a running sandbox: by name (registry), by PID, or by namespace file paths.
// The target is pinned with a pidfd before anything else is read, and checked to be still alive
// after, so everything read belongs to that one process.
import * as fs from 'node:fs';
import { NsrunError, systemError, usageError } from '../errors';
import { CLONE_FLAG, NAMESPACE_TYPES, type NamespaceType } from '../linux';
import { native } from '../native/binding';
import type { SecurityOptions } from '../plan/security';
import { lookup, processStartTime } from './registry';

export interface Target {
  pid: number;
  pidfd: number;
  name?: string;
  /** uid owning the process (real uid, as /proc/PID/status shows it). */
  uid: number;
  namespaces: Partial<Record<NamespaceType, string>>;
  /** A named sandbox's security options, from its registry entry. */
  security?: SecurityOptions;
}

export function readNamespaces(pid: number | 'self'): Partial<Record<NamespaceType, string>> {
  const out: Partial<Record<NamespaceType, string>> = {};
  for (const t of NAMESPACE_TYPES) {
    try {
      out[t] = fs.readlinkSync(`/proc/${pid}/ns/${t}`);
    } catch {
      // unsupported type, or no permission
    }
  }
  return out;
}

export function statusField(pid: number, field: string): string | undefined {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return line?.slice(field.length + 1).trim();
  } catch {
    return undefined;
  }
}

function targetGone(what: string): NsrunError {
  return new NsrunError({ step: 'target', object: what, reason: 'No such process', code: 'ESRCH', errno: 3, side: 'parent', hint: 'nsrun ps lists the running named sandboxes' });
}

/** Resolve TARGET (a sandbox name or a PID) and pin it with a pidfd. */
export function resolveTarget(spec: string): Target {
  let pid: number;
  let name: string | undefined;
  let startTime: string | undefined;
  let security: SecurityOptions | undefined;
  if (/^\d+$/.test(spec)) {
    pid = Number(spec);
    if (pid < 1 || pid > 0x3fffffff) throw usageError('TARGET', `${spec} is not a valid PID`);
  } else {
    const e = lookup(spec, 'TARGET');
    if (!e) throw new NsrunError({ step: 'target', object: spec, reason: 'no running sandbox by that name', code: 'ENOENT', side: 'parent', hint: 'nsrun ps lists the running named sandboxes; a PID or --net=/run/netns/NAME works too' });
    pid = e.pid;
    name = e.name;
    startTime = e.startTime;
    security = e.security;
  }
  const pidfd = native().pidfdOpen(pid);
  if (pidfd < 0) {
    if (pidfd === -3) throw targetGone(String(pid));
    throw systemError({ step: 'target', object: String(pid), syscall: 'pidfd_open', errno: -pidfd, side: 'parent' });
  }
  // The pid may have been reused between the registry lookup and the pidfd.
  if (startTime !== undefined && processStartTime(pid) !== startTime) {
    native().close(pidfd);
    throw targetGone(spec);
  }
  const uid = Number((statusField(pid, 'Uid') ?? '').split(/\s+/)[0]);
  const euid = process.geteuid!();
  if (euid !== 0 && uid !== euid) {
    native().close(pidfd);
    throw new NsrunError({ step: 'target', object: String(pid), reason: `permission denied: the process belongs to uid ${uid}`, code: 'EPERM', errno: 1, side: 'parent', hint: 'only your own processes can be joined, inspected, measured or signalled (or be root)' });
  }
  return { pid, pidfd, name, uid, namespaces: readNamespaces(pid), security };
}

/** Still the same live process? (after reading its /proc files) */
export function checkAlive(t: Target): void {
  if (native().pidfdSendSignal(t.pidfd, 0) !== 0) throw new NsrunError({ step: 'target', object: String(t.pid), reason: 'the target exited during the join', code: 'ESRCH', errno: 3, side: 'parent' });
}

const TYPE_BY_FLAG = new Map<number, NamespaceType>(NAMESPACE_TYPES.map((t) => [CLONE_FLAG[t], t]));

/** Open a namespace file (an nsfs bind mount or /proc/PID/ns/TYPE) and check its type. */
export function openNamespacePath(file: string, expected: NamespaceType): number {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw systemError({ step: 'target', object: file, syscall: 'open', errno: -(err.errno ?? -2), side: 'parent' });
  }
  const t = native().nsType(fd);
  if (t < 0) {
    fs.closeSync(fd);
    throw usageError(`--${expected === 'mnt' ? 'mount' : expected}`, `${file} is not a namespace file`, 'give a /proc/PID/ns/TYPE file or a bind mount of one, like /run/netns/NAME');
  }
  const actual = TYPE_BY_FLAG.get(t);
  if (actual !== expected) {
    fs.closeSync(fd);
    throw usageError(`--${expected === 'mnt' ? 'mount' : expected}`, `${file} is a ${actual ?? 'unknown'} namespace, expected ${expected}`);
  }
  return fd;
}
