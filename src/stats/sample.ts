// Parent side: one reading of a process's cgroup accounting files and network counters.
// Each controller is read where the process's layout puts it (src/cgroup/layout.ts): its v1
// hierarchy when one is mounted with it, else the unified (v2) directory. Read-only; a file that
// is missing or unreadable leaves that number out rather than guessing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dirFor, type CgroupDir } from '../cgroup/layout';
import type { CgroupScope, Metric, RawSample } from './compute';
import { countIds, cpuNsFromCpuStat, parseBlkio, parseIoStat, parseKeyValues, parseLimit, parseNetDev, parseNumber } from './parse';

export type ReadFile = (file: string) => string | undefined;

export const readHostFile: ReadFile = (file) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** The directory of `controller` for this process, with its version. */
function where(dirs: CgroupDir[], controller: string): { version: 1 | 2; dir: string; root?: string } | undefined {
  const d = dirFor(dirs, controller);
  return d?.dir ? { version: d.version, dir: d.dir, root: d.mount?.mountPoint } : undefined;
}

export function readCpuNs(dirs: CgroupDir[], read: ReadFile): number | undefined {
  const d = where(dirs, 'cpuacct');
  if (!d) return undefined;
  if (d.version === 1) return parseNumber(read(`${d.dir}/cpuacct.usage`));
  const text = read(`${d.dir}/cpu.stat`);
  return text === undefined ? undefined : cpuNsFromCpuStat(text);
}

/** v2: the lowest memory.max of the cgroup and its ancestors up to the mount (an ancestor's limit binds too). */
function v2MemoryLimit(dir: string, root: string | undefined, read: ReadFile): number | undefined {
  let lowest: number | undefined;
  for (let d = dir; root !== undefined && d !== root && d.startsWith(`${root}/`); d = path.dirname(d)) {
    const v = parseLimit(read(`${d}/memory.max`));
    if (v !== undefined && (lowest === undefined || v < lowest)) lowest = v;
  }
  return lowest;
}

export function readMemory(dirs: CgroupDir[], read: ReadFile): RawSample['memory'] {
  const d = where(dirs, 'memory');
  if (!d) return undefined;
  if (d.version === 1) {
    const usage = parseNumber(read(`${d.dir}/memory.usage_in_bytes`));
    if (usage === undefined) return undefined;
    const stat = parseKeyValues(read(`${d.dir}/memory.stat`) ?? '');
    // hierarchical_memory_limit is the lowest limit of the cgroup and its ancestors
    const limit = stat.get('hierarchical_memory_limit') ?? parseNumber(read(`${d.dir}/memory.limit_in_bytes`));
    return { usage, inactiveFile: stat.get('total_inactive_file') ?? stat.get('inactive_file'), limit };
  }
  // the v2 root has no memory.current, nor does a cgroup whose parent did not enable memory
  const usage = parseNumber(read(`${d.dir}/memory.current`));
  if (usage === undefined) return undefined;
  const stat = parseKeyValues(read(`${d.dir}/memory.stat`) ?? '');
  return { usage, inactiveFile: stat.get('inactive_file'), limit: v2MemoryLimit(d.dir, d.root, read) };
}

// v1 keeps byte counters per policy: the throttling layer counts every bio the cgroup issues;
// the proportional ones (CFQ, BFQ) only for devices that use that scheduler.
const BLKIO_FILES = ['blkio.throttle.io_service_bytes_recursive', 'blkio.io_service_bytes_recursive', 'blkio.bfq.io_service_bytes_recursive'];

export function readBlockIo(dirs: CgroupDir[], read: ReadFile): RawSample['blockIo'] {
  const d = where(dirs, 'blkio');
  if (!d) return undefined;
  if (d.version === 2) {
    const text = read(`${d.dir}/io.stat`);
    return text === undefined ? undefined : parseIoStat(text);
  }
  let seen = false;
  for (const f of BLKIO_FILES) {
    const text = read(`${d.dir}/${f}`);
    if (text === undefined) continue;
    seen = true;
    const b = parseBlkio(text);
    if (b) return b;
  }
  // the files exist but list no device: nothing was read or written yet
  return seen ? { readBytes: 0, writeBytes: 0 } : undefined;
}

/** Threads in a cgroup and its descendants (what pids.current counts). */
function countTasks(dir: string, file: string, read: ReadFile, depth = 0): number | undefined {
  const text = read(`${dir}/${file}`);
  if (text === undefined) return undefined;
  let n = countIds(text);
  if (depth > 64) return n;
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    // unreadable: count what we have
  }
  for (const e of entries) if (e.isDirectory()) n += countTasks(path.join(dir, e.name), file, read, depth + 1) ?? 0;
  return n;
}

export function readPids(dirs: CgroupDir[], read: ReadFile): number | undefined {
  const d = where(dirs, 'pids');
  if (d) {
    const n = parseNumber(read(`${d.dir}/pids.current`));
    if (n !== undefined) return n;
  }
  // no pids controller here (or the root cgroup, which has no pids.current): count the threads
  for (const x of d ? [d, ...dirs] : dirs) {
    if (x.dir === undefined) continue;
    const n = countTasks(x.dir, x.version === 1 ? 'tasks' : 'cgroup.threads', read);
    if (n !== undefined) return n;
  }
  return undefined;
}

export function readNetwork(pid: number, read: ReadFile): RawSample['network'] {
  const text = read(`/proc/${pid}/net/dev`);
  if (text === undefined) return undefined;
  let mine: string | undefined;
  let theirs: string | undefined;
  try {
    mine = fs.readlinkSync('/proc/self/ns/net');
    theirs = fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    // without the inodes we cannot tell: treat the counters as the target's own
  }
  return { namespace: mine !== undefined && mine === theirs ? 'host' : 'own', interfaces: parseNetDev(text) };
}

export function hostMemory(read: ReadFile): number {
  return parseKeyValues(read('/proc/meminfo') ?? '').get('MemTotal') ?? 0;
}

const CONTROLLER: Record<Metric, string> = { cpu: 'cpuacct', memory: 'memory', blockIo: 'blkio', pids: 'pids' };

/** The cgroup the numbers are for: where memory is accounted (else CPU), as /proc/PID/cgroup names it. */
export function cgroupOf(dirs: CgroupDir[]): CgroupScope {
  const d = dirFor(dirs, 'memory') ?? dirFor(dirs, 'cpuacct') ?? dirs[0];
  const hostWide = (Object.keys(CONTROLLER) as Metric[]).filter((m) => dirFor(dirs, CONTROLLER[m])?.path === '/');
  return { version: d?.version ?? 2, path: d?.path ?? '/', hostWide };
}

/** Everything for one process, read now. */
export function readSample(pid: number, dirs: CgroupDir[], read: ReadFile = readHostFile): RawSample {
  return {
    pid,
    monotonicNs: process.hrtime.bigint(),
    time: new Date(),
    cgroup: cgroupOf(dirs),
    cpuNs: readCpuNs(dirs, read),
    memory: readMemory(dirs, read),
    hostMemory: hostMemory(read),
    network: readNetwork(pid, read),
    blockIo: readBlockIo(dirs, read),
    pids: readPids(dirs, read),
  };
}
