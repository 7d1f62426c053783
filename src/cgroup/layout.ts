// Where the cgroup hierarchies are and where a process sits in them (parent side, read-only).
//
// API (everything takes file contents or a reader, so tests feed simulated files):
//   parseMountinfo(text)            -> MountEntry[]      /proc/PID/mountinfo, one entry per line
//   detectLayout(mountinfoText)     -> Layout             v2 | hybrid | v1 | none, with the cgroup mounts
//   parseProcCgroup(text)           -> ProcCgroupLine[]   /proc/PID/cgroup ("ID:CONTROLLERS:PATH")
//   resolveCgroupDirs(layout, text) -> CgroupDir[]        one directory per hierarchy a process is in
//   pidCgroupDirs(pid, read?)       -> {layout, dirs}     the same for a live PID, from /proc
//   dirFor(dirs, controller)        -> CgroupDir | undef  the directory that controls `controller`
//                                                         ('memory', 'cpu', ...; 'unified' = the v2 one)
//
// A path in /proc/PID/cgroup and the root field of a cgroup mount in mountinfo are both shown
// relative to the *reader's* cgroup namespace root, so the directory on disk is the mount point
// plus the part of the path below the mount's root. A path outside the mount's root (a mount made
// in another cgroup namespace, or a bind of a sub-cgroup) cannot be reached through that mount;
// a path starting with "/.." is outside the reader's namespace and cannot be reached at all.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface MountEntry {
  id: number;
  parent: number;
  root: string;
  mountPoint: string;
  options: string;
  fstype: string;
  source: string;
  superOptions: string;
}

export type CgroupLayoutName = 'v2' | 'hybrid' | 'v1' | 'none';

export interface CgroupMount {
  version: 1 | 2;
  mountPoint: string;
  /** The mount's root inside the hierarchy ('/' unless a sub-cgroup was mounted or bound). */
  root: string;
  /** v1: the controllers bound to the hierarchy (and 'name=X' for a named one); v2: []. */
  controllers: string[];
  readOnly: boolean;
}

export interface Layout {
  layout: CgroupLayoutName;
  /** Every cgroup v1 mount (a hierarchy may be mounted more than once). */
  v1: CgroupMount[];
  /** Every cgroup2 mount. */
  v2: CgroupMount[];
}

export interface ProcCgroupLine {
  /** Hierarchy id; 0 for cgroup v2. */
  id: number;
  /** v1 controllers of the hierarchy ('cpu', 'cpuacct', 'name=systemd'); [] for v2. */
  controllers: string[];
  path: string;
}

export interface CgroupDir {
  version: 1 | 2;
  /** v1: the hierarchy's controllers; v2: ['unified']. */
  controllers: string[];
  /** The path as /proc/PID/cgroup shows it. */
  path: string;
  /** The directory on disk, or undefined when no mount reaches it. */
  dir?: string;
  mount?: CgroupMount;
}

export type ReadFile = (file: string) => string | undefined;

/** The v1 controllers the kernel knows (mount options that are controllers, not flags). */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc', 'debug'];

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const f = line.slice(0, sep).split(' ');
    const [fstype, source, superOptions] = line.slice(sep + 3).split(' ');
    out.push({ id: Number(f[0]), parent: Number(f[1]), root: unescape(f[3]), mountPoint: unescape(f[4]), options: f[5] ?? '', fstype, source: unescape(source ?? ''), superOptions: superOptions ?? '' });
  }
  return out;
}

function v1MountControllers(superOptions: string): string[] {
  const opts = superOptions.split(',');
  const out = V1_CONTROLLERS.filter((c) => opts.includes(c));
  const named = opts.find((o) => o.startsWith('name='));
  if (named) out.push(named);
  return out;
}

export function detectLayout(mountinfo: string): Layout {
  const v1: CgroupMount[] = [];
  const v2: CgroupMount[] = [];
  for (const m of parseMountinfo(mountinfo)) {
    const readOnly = m.options.split(',').includes('ro');
    if (m.fstype === 'cgroup') v1.push({ version: 1, mountPoint: m.mountPoint, root: m.root, controllers: v1MountControllers(m.superOptions), readOnly });
    else if (m.fstype === 'cgroup2') v2.push({ version: 2, mountPoint: m.mountPoint, root: m.root, controllers: [], readOnly });
  }
  // hybrid: v1 hierarchies with controllers next to a cgroup2 mount (systemd's layout, this host's)
  const layout: CgroupLayoutName = v1.length && v2.length ? 'hybrid' : v2.length ? 'v2' : v1.length ? 'v1' : 'none';
  return { layout, v1, v2 };
}

export function parseProcCgroup(text: string): ProcCgroupLine[] {
  const out: ProcCgroupLine[] = [];
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const ctl = line.slice(a + 1, b);
    out.push({ id: Number(line.slice(0, a)), controllers: ctl ? ctl.split(',') : [], path: line.slice(b + 1) });
  }
  return out;
}

/** The part of `p` below `root`, or undefined when `p` is not at or under `root`. */
function below(root: string, p: string): string | undefined {
  if (root === '/') return p;
  if (p === root) return '/';
  if (p.startsWith(`${root}/`)) return p.slice(root.length);
  return undefined;
}

function pick(mounts: CgroupMount[], p: string): { mount: CgroupMount; dir: string } | undefined {
  if (p === '/..' || p.startsWith('/../')) return undefined;
  let best: { mount: CgroupMount; dir: string; depth: number; rw: boolean } | undefined;
  for (const mount of mounts) {
    const rest = below(mount.root, p);
    if (rest === undefined) continue;
    const depth = mount.root.length;
    // the mount closest to the cgroup wins; between equals a writable one
    if (!best || depth > best.depth || (depth === best.depth && !mount.readOnly && !best.rw))
      best = { mount, dir: rest === '/' ? mount.mountPoint : path.posix.join(mount.mountPoint, rest), depth, rw: !mount.readOnly };
  }
  return best && { mount: best.mount, dir: best.dir };
}

export function resolveCgroupDirs(layout: Layout, procCgroup: string): CgroupDir[] {
  const out: CgroupDir[] = [];
  for (const line of parseProcCgroup(procCgroup)) {
    if (line.id === 0 && line.controllers.length === 0) {
      const hit = pick(layout.v2, line.path);
      out.push({ version: 2, controllers: ['unified'], path: line.path, ...hit });
      continue;
    }
    const key = [...line.controllers].sort().join(',');
    const mounts = layout.v1.filter((m) => [...m.controllers].sort().join(',') === key);
    out.push({ version: 1, controllers: line.controllers, path: line.path, ...pick(mounts, line.path) });
  }
  return out;
}

const readHost: ReadFile = (file) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** The layout as this process sees it, and `pid`'s directory in each hierarchy (undefined if it is gone). */
export function pidCgroupDirs(pid: number | 'self', read: ReadFile = readHost): { layout: Layout; dirs: CgroupDir[] } | undefined {
  const text = read(`/proc/${pid}/cgroup`);
  if (text === undefined) return undefined;
  const layout = detectLayout(read('/proc/self/mountinfo') ?? '');
  return { layout, dirs: resolveCgroupDirs(layout, text) };
}

/**
 * The directory that holds `controller`'s files for this process: the v1 hierarchy it is bound
 * to, else (v2, or a controller a hybrid host left to v2) the unified one. 'unified' asks for the
 * v2 directory itself.
 */
export function dirFor(dirs: CgroupDir[], controller: string): CgroupDir | undefined {
  if (controller !== 'unified') {
    const v1 = dirs.find((d) => d.version === 1 && d.controllers.includes(controller));
    if (v1) return v1;
  }
  return dirs.find((d) => d.version === 2);
}
