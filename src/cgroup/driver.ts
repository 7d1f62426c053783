// The interface both cgroup drivers implement (parent side), and what they share: a setup is a
// list of operations (enable a controller, mkdir, write a limit file) computed and checked before
// anything is touched, so --explain can print it and a limit that cannot be applied fails before
// the first mkdir; applying it undoes itself on failure.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupError, errnoMessage, type CgroupProblem } from '../errors';
import type { Layout } from './layout';
import { flagsFor, type ResolvedLimits } from './limits';

export interface CgroupRequest {
  limits: ResolvedLimits;
  /** --cgroup-parent: a path inside each hierarchy ('/batch'), or a directory under its mount. */
  parent?: string;
  /** The directory name of the sandbox's cgroup ('nsrun-web', 'nsrun-1234'). */
  name: string;
  rootless: boolean;
}

export interface CgroupOp {
  op: 'enable' | 'mkdir' | 'write';
  /** enable: the parent's cgroup.subtree_control; mkdir: the directory; write: the file. */
  path: string;
  value?: string;
  controller: string;
  /** A file the kernel may lack (no swap accounting): skipped if missing. */
  optional?: boolean;
}

/** A sandbox's cgroup once located: enough to freeze, kill, read and remove it later. */
export interface CgroupHandle {
  version: 1 | 2;
  name: string;
  /** The sandbox's directories: one on v2, one per hierarchy used on v1 (deepest last to remove). */
  dirs: string[];
  /** v2: the leaf (cgroup.freeze, cgroup.kill); v1: the freezer hierarchy's directory. */
  freezer?: string;
  /** Where the memory files are. */
  memory?: string;
}

export interface CgroupSetup extends CgroupHandle {
  ops: CgroupOp[];
  /** The cgroup.procs files the sandbox's first process is written to before it may run. */
  procs: string[];
  limits: ResolvedLimits;
}

export interface OomInfo {
  /** Processes the OOM killer killed in the sandbox's cgroup. */
  kills: number;
  /** The file it came from, for the message. */
  source: string;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  readonly layout: Layout;
  /** Locate the parent, check every limit can be applied; reads only. Throws cgroupError. */
  prepare(req: CgroupRequest): CgroupSetup;
  /** Freeze (true) or thaw (false) and wait until the kernel says it is done. */
  freeze(h: CgroupHandle, on: boolean, timeoutMs?: number): Promise<void>;
  frozen(h: CgroupHandle): boolean | undefined;
  /** SIGKILL every process in the cgroup, none escaping (cgroup.kill, or freeze-kill-thaw on v1). */
  killAll(h: CgroupHandle): Promise<void>;
  oom(h: CgroupHandle): OomInfo | undefined;
  /** The file oom() reads its `oom_kill N` line from (for nsrun-supervise). */
  oomFile(h: CgroupHandle): string | undefined;
  /** The limit files as they read now (file -> first line). */
  readLimits(h: CgroupHandle): Record<string, string>;
}

export function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function writable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function procsOf(dir: string): number[] {
  return (readText(path.join(dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean).map(Number);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A path given to --cgroup-parent, inside a hierarchy mounted at `mount`. */
export function parentIn(mount: string, parent: string): string {
  const p = path.posix.normalize(parent);
  if (p === mount || p.startsWith(`${mount}/`)) return p;
  return path.posix.join(mount, p);
}

export function problem(p: CgroupProblem, controller: string, reason: string, extra: { limits?: ResolvedLimits; path?: string; parent?: string; version?: 1 | 2; rootless?: boolean; errno?: number } = {}) {
  return cgroupError({
    controller,
    flags: extra.limits && controller !== 'cgroup' && controller !== 'freezer' ? flagsFor(controller, extra.limits) : undefined,
    problem: p,
    reason,
    path: extra.path,
    parent: extra.parent,
    version: extra.version,
    rootless: extra.rootless,
    errno: extra.errno,
  });
}

/** Carry out a setup; on failure undo what was done (directories removed) and throw. */
export function applySetup(s: CgroupSetup, rootless: boolean): void {
  const made: string[] = [];
  try {
    for (const op of s.ops) {
      try {
        if (op.op === 'mkdir') {
          fs.mkdirSync(op.path);
          made.push(op.path);
        } else if (!op.optional || fs.existsSync(op.path)) {
          fs.writeFileSync(op.path, op.value ?? '');
        }
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const errno = -(err.errno ?? -5);
        const code = err.code ?? 'EIO';
        const what = op.op === 'mkdir' ? `mkdir ${op.path}` : `writing '${op.value}' to ${op.path}`;
        const kind: CgroupProblem =
          code === 'EACCES' || code === 'EPERM' ? 'no-permission' : code === 'EBUSY' && op.op === 'enable' ? 'internal-processes' : code === 'EEXIST' ? 'busy' : 'invalid';
        throw problem(kind, op.controller, `${what}: ${errnoMessage(errno)}`, { limits: s.limits, parent: path.dirname(op.path), version: s.version, rootless, errno });
      }
    }
  } catch (e) {
    for (const d of made.reverse()) rmdirQuiet(d);
    throw e;
  }
}

export function rmdirQuiet(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** Write the sandbox's first process into every hierarchy (before it is allowed to run). */
export function attachPid(s: CgroupSetup, pid: number, rootless: boolean): void {
  for (const f of s.procs) {
    try {
      fs.writeFileSync(f, String(pid));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const errno = -(err.errno ?? -5);
      throw problem(err.code === 'EACCES' || err.code === 'EPERM' ? 'no-permission' : 'invalid', 'cgroup', `moving the sandbox into ${f}: ${errnoMessage(errno)}`, { version: s.version, rootless, errno, parent: path.dirname(f) });
    }
  }
}

/**
 * Remove the sandbox's cgroup: kill whatever is still inside (a daemon the command left
 * behind), wait for it to empty, rmdir (sub-cgroups the sandbox made first).
 */
export async function removeCgroup(d: CgroupDriver, h: CgroupHandle, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const present = h.dirs.filter((x) => fs.existsSync(x));
  if (!present.length) return true;
  if (present.some((x) => procsOfTree(x).length)) {
    await d.killAll({ ...h, dirs: present }).catch(() => {});
    while (present.some((x) => procsOfTree(x).length) && Date.now() < deadline) await sleep(5);
  }
  let ok = true;
  for (const dir of present) {
    for (;;) {
      if (removeTree(dir)) break;
      if (Date.now() > deadline) {
        ok = false;
        break;
      }
      await sleep(10); // a killed task leaves the cgroup a moment after it is reaped
    }
  }
  return ok;
}

function subdirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
}

function procsOfTree(dir: string): number[] {
  return [...procsOf(dir), ...subdirs(dir).flatMap(procsOfTree)];
}

function removeTree(dir: string): boolean {
  for (const s of subdirs(dir)) removeTree(s);
  return rmdirQuiet(dir);
}

/** Signal every pid listed in the cgroup (and its sub-cgroups). */
export function signalTree(dir: string, sig: NodeJS.Signals): void {
  for (const pid of procsOfTree(dir)) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

export { procsOfTree };
