// A sandbox's own cgroup over its life (parent side): prepared and checked before anything
// exists, created before the clone, the child attached before it is told to go (so the command
// never runs outside its limits), removed when the sandbox ends.
//
// Ownership: before the first mkdir a record goes into the private state directory
// (<state dir>/cgroups/NAME.json: the directories, our pid and start time, later the sandbox's).
// Only directories named in a record are ever removed. If nsrun is SIGKILLed the record stays;
// the next nsrun that runs collects every record whose owner is dead (kills what is left inside,
// removes the directories, then the record).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsrunError } from '../errors';
import { processStartTime, stateDir } from '../parent/registry';
import { applySetup, attachPid, removeCgroup, type CgroupDriver, type CgroupHandle, type CgroupSetup, type OomInfo } from './driver';
import { detectLayout, type Layout } from './layout';
import type { ResolvedLimits } from './limits';
import { V1Driver } from './v1';
import { V2Driver } from './v2';

export interface CgroupPlan {
  limits: ResolvedLimits;
  /** --cgroup-parent */
  parent?: string;
  /** The cgroup's directory name. */
  name: string;
  /** Filled in by prepareCgroup (reads the host): the exact steps, for --explain and spawning. */
  setup?: CgroupSetup;
}

export interface CgroupRecord extends CgroupHandle {
  owner: { pid: number; startTime: string };
  sandbox?: { pid: number; startTime: string };
  limits: ResolvedLimits;
  createdAt: string;
}

/** The driver for this host's layout: v2 when unified, v1 for legacy and hybrid. */
export function openDriver(layout: Layout = detectLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8'))): CgroupDriver | undefined {
  if (layout.layout === 'v2') return new V2Driver(layout);
  if (layout.layout === 'v1' || layout.layout === 'hybrid') return new V1Driver(layout);
  return undefined;
}

export function driverFor(version: 1 | 2): CgroupDriver {
  const layout = detectLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  return version === 2 ? new V2Driver(layout) : new V1Driver(layout);
}

let counter = 0;
/** nsrun-NAME for a named sandbox, else nsrun-PID (nsrun's pid; -N for later ones in a process). */
export function cgroupName(name?: string): string {
  if (name !== undefined) return `nsrun-${name}`;
  return counter++ === 0 ? `nsrun-${process.pid}` : `nsrun-${process.pid}-${counter}`;
}

/** Check and compute the cgroup steps (reads the host, creates nothing). */
export async function prepareCgroup(c: CgroupPlan, rootless: boolean): Promise<CgroupSetup> {
  if (c.setup) return c.setup;
  const driver = openDriver();
  if (!driver)
    throw new NsrunError({ step: 'cgroup', object: 'cgroup', reason: 'no cgroup filesystem is mounted: limits cannot be applied', code: 'ERR_NSRUN_CGROUP_NOT_MOUNTED', side: 'parent', hint: 'mount -t cgroup2 none /sys/fs/cgroup' });
  await collectLeftovers().catch(() => 0);
  c.setup = driver.prepare({ limits: c.limits, parent: c.parent, name: c.name, rootless });
  return c.setup;
}

function recordDir(create: boolean): string | undefined {
  let dir: string;
  try {
    dir = path.join(stateDir(), 'cgroups');
  } catch (e) {
    if (!create) return undefined;
    throw new NsrunError({ step: 'cgroup', object: 'state directory', reason: 'XDG_RUNTIME_DIR is not set: nsrun records the cgroups it makes there, to remove them even if it is killed', code: 'ERR_NSRUN_USAGE', side: 'parent', hint: (e as NsrunError).hint });
  }
  if (create) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== process.geteuid!() || (st.mode & 0o077) !== 0) return undefined;
  } catch {
    return undefined;
  }
  return dir;
}

function readRecord(file: string): CgroupRecord | undefined {
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.uid !== process.geteuid!()) return undefined;
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as CgroupRecord;
    if (!Array.isArray(r.dirs) || typeof r.name !== 'string' || !r.name.startsWith('nsrun-')) return undefined;
    // only the directories the record names, and only ones called by its name
    r.dirs = r.dirs.filter((d) => path.basename(d) === r.name);
    return r;
  } catch {
    return undefined;
  }
}

function records(): { file: string; rec: CgroupRecord }[] {
  const dir = recordDir(false);
  if (!dir) return [];
  const out: { file: string; rec: CgroupRecord }[] = [];
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    const rec = readRecord(path.join(dir, f));
    if (rec) out.push({ file: path.join(dir, f), rec });
  }
  return out;
}

const live = (p?: { pid: number; startTime: string }) => !!p && processStartTime(p.pid) === p.startTime;

/** A spawn without a cgroup of its own sweeps for leftovers at most this often (ms). */
export const LEFTOVER_SWEEP_INTERVAL = 10_000;
let lastSweep: number | undefined;

/** A monotonic clock in ms. Not performance.now(): the `performance` global loads perf_hooks on
 *  first use, ~2 ms of every CLI start. */
const monotonicMs = (): number => process.uptime() * 1000;

/**
 * Is a sweep for leftover cgroups due (spawns without a cgroup of their own)? On the first spawn
 * of a process, then at most every 10 s: a library spawning hundreds of sandboxes a second would
 * otherwise read the record directory each time. A spawn with a cgroup always sweeps (prepareCgroup).
 */
export function leftoverSweepDue(now = monotonicMs()): boolean {
  return lastSweep === undefined || now - lastSweep >= LEFTOVER_SWEEP_INTERVAL;
}

/** A due sweep, claimed for a spawn that runs collectLeftovers() a moment later (spawns started
 *  meanwhile do not start one too). */
export function claimLeftoverSweep(now = monotonicMs()): boolean {
  if (!leftoverSweepDue(now)) return false;
  lastSweep = now;
  return true;
}

/**
 * Remove the cgroups of nsrun processes that died without cleaning up (SIGKILL): kill what is
 * left inside, rmdir, drop the record. Returns how many were collected.
 */
export async function collectLeftovers(): Promise<number> {
  lastSweep = monotonicMs();
  let n = 0;
  for (const { file, rec } of records()) {
    if (live(rec.owner)) continue;
    if (await removeCgroup(driverFor(rec.version), rec, 5_000)) {
      fs.rmSync(file, { force: true });
      n++;
    }
  }
  return n;
}

/** A created cgroup, owned by this process until the sandbox ends. */
export class SandboxCgroup {
  private constructor(readonly setup: CgroupSetup, private readonly file: string, private readonly driver: CgroupDriver, private rec: CgroupRecord) {}

  /** Write the record, then make the directories and write the limits (undone on failure). */
  static create(setup: CgroupSetup, rootless: boolean): SandboxCgroup {
    const dir = recordDir(true)!;
    const file = path.join(dir, `${setup.name}.json`);
    const rec: CgroupRecord = {
      version: setup.version,
      name: setup.name,
      dirs: setup.dirs,
      freezer: setup.freezer,
      memory: setup.memory,
      owner: { pid: process.pid, startTime: processStartTime(process.pid) ?? '' },
      limits: setup.limits,
      createdAt: new Date().toISOString(),
    };
    try {
      fs.writeFileSync(file, JSON.stringify(rec, null, 2), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new NsrunError({ step: 'cgroup', object: setup.name, reason: `a sandbox cgroup named ${setup.name} is still in use (${file})`, code: 'EEXIST', side: 'parent', hint: 'pick another --name' });
      throw e;
    }
    try {
      applySetup(setup, rootless);
    } catch (e) {
      fs.rmSync(file, { force: true });
      throw e;
    }
    return new SandboxCgroup(setup, file, driverFor(setup.version), rec);
  }

  /** Move the (waiting) first process in; nsrun-init and the command inherit it. */
  attach(pid: number, rootless: boolean): void {
    attachPid(this.setup, pid, rootless);
    this.rec = { ...this.rec, sandbox: { pid, startTime: processStartTime(pid) ?? '' } };
    fs.writeFileSync(this.file, JSON.stringify(this.rec, null, 2));
  }

  oom(): OomInfo | undefined {
    return this.driver.oom(this.setup);
  }

  /** Kill what is left, remove the directories and the record. */
  async remove(): Promise<void> {
    if (await removeCgroup(this.driver, this.setup)) fs.rmSync(this.file, { force: true });
  }

  /** What nsrun-supervise needs to remove it in the usual case (empty directories) and to read OOM kills. */
  handoff(): { dirs: string[]; record: string; oomFile?: string; oomSource?: string } {
    const oomFile = this.driver.oomFile(this.setup);
    return { dirs: this.setup.dirs, record: this.file, oomFile, oomSource: oomFile && path.basename(oomFile) };
  }
}

/**
 * Remove the cgroup of one record of this process (nsrun-supervise runs this when rmdir alone did
 * not do: something is left inside). Returns whether it is gone.
 */
export async function removeRecorded(file: string): Promise<boolean> {
  const rec = readRecord(file);
  if (!rec || rec.owner.pid !== process.pid) return false;
  if (!(await removeCgroup(driverFor(rec.version), rec))) return false;
  fs.rmSync(file, { force: true });
  return true;
}

export interface CgroupInfo {
  version: 1 | 2;
  name: string;
  dirs: string[];
  limits: ResolvedLimits;
  /** The limit files as they read now. */
  files: Record<string, string>;
  frozen?: boolean;
}

/** The nsrun cgroup of a running sandbox (by its first process), if it has one. */
export function findSandboxCgroup(pid: number): { handle: CgroupRecord; driver: CgroupDriver } | undefined {
  const start = processStartTime(pid);
  for (const { rec } of records()) {
    if (rec.sandbox?.pid === pid && rec.sandbox.startTime === start && live(rec.owner)) return { handle: rec, driver: driverFor(rec.version) };
  }
  return undefined;
}

export function cgroupInfo(pid: number): CgroupInfo | undefined {
  const f = findSandboxCgroup(pid);
  if (!f) return undefined;
  return { version: f.handle.version, name: f.handle.name, dirs: f.handle.dirs, limits: f.handle.limits, files: f.driver.readLimits(f.handle), frozen: f.driver.frozen(f.handle) };
}
