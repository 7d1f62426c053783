// `nsrun doctor`: a preflight of the host. Every check is a pure function of a DoctorEnv (files,
// links, stats, commands it may run), so tests can simulate hosts this one cannot be; hostEnv()
// is the real machine. Kernel features are probed by calling them (from a short-lived python3
// child through ctypes), never inferred from the version number.
import type * as childProcess from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseMountinfo, type CgroupLayoutName, type MountEntry } from './cgroup/layout';
import { parseSubIds } from './parent/host';

export { parseMountinfo, type MountEntry };

export type Verdict = 'ok' | 'warn' | 'fail' | 'info';

export interface Check {
  /** Stable kebab-case id: 'pidfd-open', 'userns-probe', 'cgroup-layout', ... */
  id: string;
  title: string;
  verdict: Verdict;
  detail: string;
  /** What to do about it; present whenever the verdict is not ok. */
  fix?: string;
}

export interface RunResult {
  /** Exit status, or null when killed by a signal or not started. */
  status: number | null;
  signal?: string | null;
  stdout: string;
  stderr: string;
  /** Why it could not be started (ENOENT, a timeout). */
  error?: string;
}

export interface FileStat {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'other';
  /** Permission bits including setuid/setgid/sticky (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Device numbers of a device node. */
  major?: number;
  minor?: number;
}

/** Everything the checks look at. hostEnv() reads this machine; tests pass their own. */
export interface DoctorEnv {
  readFile(path: string): string | undefined;
  exists(path: string): boolean;
  readdir(path: string): string[] | undefined;
  readlink(path: string): string | undefined;
  /** lstat: a symlink is reported as one. */
  lstat(path: string): FileStat | undefined;
  /** access(path, W_OK) as the caller. */
  writable(path: string): boolean;
  /** An executable by name: the system directories first, then PATH. */
  which(name: string): string | undefined;
  /** Runs a command to completion, stdin closed, in /. */
  run(cmd: string, args: string[]): RunResult;
  euid: number;
  egid: number;
  userName?: string;
  /** The caller's environment (KUBERNETES_SERVICE_HOST, container). */
  env: Record<string, string | undefined>;
}

// ---------------------------------------------------------------------------------------------
// The real host

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function fileType(st: fs.Stats): FileStat['type'] {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return 'other';
}

export function hostEnv(): DoctorEnv {
  let userName: string | undefined;
  try {
    userName = os.userInfo().username;
  } catch {
    userName = undefined;
  }
  return {
    readFile(p) {
      try {
        return fs.readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    },
    exists: (p) => fs.existsSync(p),
    readdir(p) {
      try {
        return fs.readdirSync(p);
      } catch {
        return undefined;
      }
    },
    readlink(p) {
      try {
        return fs.readlinkSync(p);
      } catch {
        return undefined;
      }
    },
    lstat(p) {
      try {
        const st = fs.lstatSync(p);
        const type = fileType(st);
        const dev = type === 'char' || type === 'block' ? { major: (st.rdev >> 8) & 0xfff, minor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) } : {};
        return { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, ...dev };
      } catch {
        return undefined;
      }
    },
    writable(p) {
      try {
        fs.accessSync(p, fs.constants.W_OK);
        return true;
      } catch {
        return false;
      }
    },
    which(name) {
      const path = (process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/'));
      for (const dir of [...SYSTEM_DIRS, ...path]) {
        try {
          fs.accessSync(`${dir}/${name}`, fs.constants.X_OK);
          if (fs.statSync(`${dir}/${name}`).isFile()) return `${dir}/${name}`;
        } catch {
          // not here
        }
      }
      return undefined;
    },
    run(cmd, args) {
      const r = (require('node:child_process') as typeof childProcess).spawnSync(cmd, args, { encoding: 'utf8', cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000, env: { ...process.env, LC_ALL: 'C' } });
      const error = r.error ? ((r.error as NodeJS.ErrnoException).code ?? r.error.message) : undefined;
      return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error };
    },
    euid: process.geteuid?.() ?? 0,
    egid: process.getegid?.() ?? 0,
    userName,
    env: process.env,
  };
}

// ---------------------------------------------------------------------------------------------
// The system-call probe: one python3 child calls each system call once, harmlessly, and prints
// what the kernel answered. Syscalls from pidfd_send_signal (424) on have one number on every
// architecture; setns and memfd_create do not, hence the table.

export const PROBE_SCRIPT = `
import ctypes, errno, json, os, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
arch = platform.machine()
OLD = {'x86_64': (308, 319), 'aarch64': (268, 279), 'riscv64': (268, 279), 'loongarch64': (268, 279),
       'armv7l': (375, 385), 'armv6l': (375, 385), 'ppc64le': (350, 360), 's390x': (339, 350), 'i686': (346, 356)}
L = ctypes.c_long
U = ctypes.c_uint
out = {'arch': arch}
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(L(nr), *args)
    return r, (ctypes.get_errno() if r < 0 else 0)
def res(r, e, **extra):
    d = {'ret': int(r), 'errno': e, 'err': errno.errorcode.get(e, str(e)) if e else None}
    d.update(extra)
    return d
def close(fd):
    if fd >= 0: os.close(fd)
r, e = call(434, L(os.getpid()), L(0))
out['pidfd_open'] = res(r, e)
pidfd = r
r, e = call(435, None, L(0))
out['clone3'] = res(r, e)
if arch in OLD and pidfd >= 0:
    r, e = call(OLD[arch][0], L(pidfd), L(0x04000000))
    out['setns_pidfd'] = res(r, e)
close(pidfd)
how = (ctypes.c_uint64 * 3)(os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, 0x02)
r, e = call(437, L(-100), ctypes.c_char_p(b'/'), how, L(24))
out['openat2'] = res(r, e)
close(r)
r, e = call(436, U(0x7ffffff0), U(0xffffffff), U(0))
out['close_range'] = res(r, e)
r, e = call(436, U(0x7ffffff0), U(0xffffffff), U(4))
out['close_range_cloexec'] = res(r, e)
r, e = call(428, L(-100), ctypes.c_char_p(b'/'), U(os.O_CLOEXEC))
out['open_tree'] = res(r, e)
close(r)
r, e = call(429, L(-1), None, L(-1), None, U(0xffffffff))
out['move_mount'] = res(r, e)
if arch in OLD:
    r, e = call(OLD[arch][1], ctypes.c_char_p(b'nsrun-doctor'), U(3))
    x = {}
    if r >= 0:
        x['exec'] = (os.fstat(r).st_mode & 0o111) != 0
        try:
            import fcntl
            fcntl.fcntl(r, 1033, 15)
            x['seals'] = True
        except OSError:
            x['seals'] = False
    out['memfd_create'] = res(r, e, **x)
    close(r)
print(json.dumps(out))
`;
// What each call is: pidfd_open(getpid()); clone3(NULL, 0), EINVAL when it exists; setns(pidfd,
// CLONE_NEWUTS) into our own UTS namespace, EPERM unprivileged, EINVAL before 5.8; openat2("/",
// RESOLVE_NO_MAGICLINKS); close_range over fds nobody has, with and without CLOSE_RANGE_CLOEXEC;
// open_tree("/") without OPEN_TREE_CLONE (a plain O_PATH fd); move_mount with invalid flags (it
// can do nothing); memfd_create(MFD_CLOEXEC|MFD_ALLOW_SEALING) as nsrun makes nsrun-init's copy,
// then whether it is executable (vm.memfd_noexec) and takes nsrun's seals.

export interface SyscallResult {
  ret: number;
  errno: number;
  err: string | null;
  exec?: boolean;
  seals?: boolean;
}

export type SyscallProbe =
  | { ok: true; arch: string; results: Record<string, SyscallResult | undefined> }
  | { ok: false; reason: string; fix?: string };

export function probeSyscalls(env: DoctorEnv): SyscallProbe {
  const python = env.which('python3');
  if (!python) return { ok: false, reason: 'python3 is not installed, so the system calls could not be probed', fix: 'install python3 (apt-get install python3) and run nsrun doctor again' };
  const r = env.run(python, ['-I', '-c', PROBE_SCRIPT]);
  if (r.signal === 'SIGSYS')
    return { ok: false, reason: 'the probe was killed by SIGSYS: a seccomp filter kills processes that make these system calls', fix: 'run without that seccomp filter (docker: --security-opt seccomp=unconfined)' };
  if (r.error || r.status !== 0) {
    const why = r.error ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.status}: ${lastLine(r.stderr)}`);
    return { ok: false, reason: `the python3 probe failed (${why})` };
  }
  try {
    const parsed = JSON.parse(r.stdout) as Record<string, unknown>;
    const { arch, ...results } = parsed;
    return { ok: true, arch: String(arch), results: results as Record<string, SyscallResult> };
  } catch {
    return { ok: false, reason: `the python3 probe printed no result (${lastLine(r.stdout) || 'nothing'})` };
  }
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1].trim();
}

// ---------------------------------------------------------------------------------------------
// Shared readings

/** "6.18.44-fc" -> [6, 18]; undefined when unreadable. */
export function kernelVersion(env: DoctorEnv): { release: string; major: number; minor: number } | undefined {
  const release = env.readFile('/proc/sys/kernel/osrelease')?.trim();
  const m = release ? /^(\d+)\.(\d+)/.exec(release) : null;
  return m && release ? { release, major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

function atLeast(env: DoctorEnv, major: number, minor: number): boolean | undefined {
  const k = kernelVersion(env);
  if (!k) return undefined;
  return k.major > major || (k.major === major && k.minor >= minor);
}

function sysctl(env: DoctorEnv, name: string): string | undefined {
  return env.readFile(`/proc/sys/${name.replace(/\./g, '/')}`)?.trim();
}

function mounts(env: DoctorEnv): MountEntry[] {
  return parseMountinfo(env.readFile('/proc/self/mountinfo') ?? '');
}

/** The option list of a mount as key -> value ('' for flags). */
function optionMap(opts: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const o of opts.split(',')) {
    const i = o.indexOf('=');
    m.set(i < 0 ? o : o.slice(0, i), i < 0 ? '' : o.slice(i + 1));
  }
  return m;
}

const isRoot = (env: DoctorEnv) => env.euid === 0;
const who = (env: DoctorEnv) => (env.userName ? `${env.userName} (uid ${env.euid})` : `uid ${env.euid}`);

// ---------------------------------------------------------------------------------------------
// Checks

type CheckFn = (env: DoctorEnv, probe: SyscallProbe) => Check;

function mk(id: string, title: string, verdict: Verdict, detail: string, fix?: string): Check {
  return fix === undefined ? { id, title, verdict, detail } : { id, title, verdict, detail, fix };
}

export const checkKernel: CheckFn = (env) => {
  const k = kernelVersion(env);
  if (!k) return mk('kernel', 'kernel', 'info', 'unknown: /proc/sys/kernel/osrelease is not readable', 'mount /proc');
  const v = (a: number, b: number) => k.major > a || (k.major === a && k.minor >= b);
  if (!v(5, 3)) return mk('kernel', 'kernel', 'fail', `Linux ${k.release}: nsrun needs 5.3 or later (pidfds)`, 'boot a Linux 5.3+ kernel (5.11+ for every feature nsrun uses)');
  if (!v(5, 11)) return mk('kernel', 'kernel', 'warn', `Linux ${k.release}: some features need a newer kernel (see the checks below)`, 'boot Linux 5.11+ (setns with a pidfd 5.8, time namespaces 5.6, CLOSE_RANGE_CLOEXEC 5.11)');
  return mk('kernel', 'kernel', 'ok', `Linux ${k.release}`);
};

interface FeatureSpec {
  id: string;
  title: string;
  /** Kernel release that added it, for the text. */
  since: [number, number];
  /** The verdict when it is missing: fail when nsrun cannot run without it. */
  missing: Verdict;
  /** What in nsrun needs it. */
  usedFor: string;
  syscall: string;
}

/** ENOSYS or EPERM from a feature the kernel should have: say whether to upgrade or unfilter. */
function missingFix(env: DoctorEnv, spec: FeatureSpec, r: SyscallResult): string {
  const [a, b] = spec.since;
  if (r.err === 'ENOSYS' && atLeast(env, a, b) === false) return `boot Linux ${a}.${b}+`;
  return `Linux ${a}.${b}+ has ${spec.syscall}, so a seccomp filter or LSM blocks it: allow ${spec.syscall} (docker: --security-opt seccomp=unconfined)`;
}

function unknownCheck(spec: { id: string; title: string }, probe: SyscallProbe, what?: string): Check {
  if (!probe.ok) return mk(spec.id, spec.title, 'info', `unknown: ${probe.reason}`, probe.fix ?? 'install python3 so that nsrun doctor can probe system calls');
  return mk(spec.id, spec.title, 'info', `unknown: ${what ?? `no probe for ${probe.arch}`}`, 'probe it by hand, or run nsrun doctor on x86_64/aarch64');
}

function featureCheck(spec: FeatureSpec, judge: (r: Record<string, SyscallResult | undefined>, env: DoctorEnv) => Check | undefined): CheckFn {
  return (env, probe) => {
    if (!probe.ok) return unknownCheck(spec, probe);
    const c = judge(probe.results, env);
    return c ?? unknownCheck(spec, probe);
  };
}

const since = (s: FeatureSpec) => `kernel ${s.since[0]}.${s.since[1]}+`;

function notAvailable(env: DoctorEnv, spec: FeatureSpec, r: SyscallResult): Check {
  return mk(spec.id, spec.title, spec.missing, `not available (${r.err}): ${spec.usedFor}`, missingFix(env, spec, r));
}

const PIDFD: FeatureSpec = { id: 'pidfd-open', title: 'pidfd_open', since: [5, 3], missing: 'fail', usedFor: 'nsrun waits for, signals and joins sandboxes through pidfds', syscall: 'pidfd_open' };
export const checkPidfdOpen = featureCheck(PIDFD, (r, env) => {
  const p = r.pidfd_open;
  if (!p) return undefined;
  return p.ret >= 0 ? mk(PIDFD.id, PIDFD.title, 'ok', `supported (${since(PIDFD)})`) : notAvailable(env, PIDFD, p);
});

const CLONE3: FeatureSpec = { id: 'clone3', title: 'clone3', since: [5, 3], missing: 'info', usedFor: 'nsrun itself clones with clone(CLONE_PIDFD), but a filter that hides clone3 often blocks more', syscall: 'clone3' };
export const checkClone3 = featureCheck(CLONE3, (r, env) => {
  const p = r.clone3;
  if (!p) return undefined;
  // clone3(NULL, 0) is refused for its size (EINVAL) by a kernel that has it
  if (p.err === 'EINVAL' || p.err === 'E2BIG' || p.err === 'EFAULT') return mk(CLONE3.id, CLONE3.title, 'ok', `supported (${since(CLONE3)})`);
  if (p.err === 'ENOSYS' && atLeast(env, 5, 3))
    return mk(CLONE3.id, CLONE3.title, 'info', 'hidden (ENOSYS) on a 5.3+ kernel: a seccomp filter answers for it, as Docker\'s default profile does; nsrun uses clone(CLONE_PIDFD) instead', 'nothing for nsrun; to allow it: docker --security-opt seccomp=unconfined');
  return notAvailable(env, CLONE3, p);
});

const SETNS: FeatureSpec = { id: 'setns-pidfd', title: 'setns (pidfd)', since: [5, 8], missing: 'warn', usedFor: 'nsrun exec TARGET enters all namespaces at once through one (nsrun exec --net=FILE ... still works)', syscall: 'setns' };
export const checkSetnsPidfd = featureCheck(SETNS, (r, env) => {
  const p = r.setns_pidfd;
  if (!p) {
    if (r.pidfd_open && r.pidfd_open.ret < 0) return mk(SETNS.id, SETNS.title, 'info', 'unknown: there was no pidfd to try it with (pidfd_open failed)', 'see pidfd_open');
    return undefined;
  }
  // joining our own UTS namespace: allowed for root, EPERM otherwise; EINVAL: not a namespace fd
  if (p.ret === 0 || p.err === 'EPERM') return mk(SETNS.id, SETNS.title, 'ok', `supported (${since(SETNS)})`);
  if (p.err === 'EINVAL') return mk(SETNS.id, SETNS.title, 'warn', `setns refuses a pidfd (EINVAL): ${SETNS.usedFor}`, 'boot Linux 5.8+');
  return notAvailable(env, SETNS, p);
});

const OPENAT2: FeatureSpec = { id: 'openat2', title: 'openat2', since: [5, 6], missing: 'info', usedFor: 'path resolution that cannot leave a directory (RESOLVE_*); nsrun does without', syscall: 'openat2' };
export const checkOpenat2 = featureCheck(OPENAT2, (r, env) => {
  const p = r.openat2;
  if (!p) return undefined;
  return p.ret >= 0 ? mk(OPENAT2.id, OPENAT2.title, 'ok', `supported (${since(OPENAT2)})`) : notAvailable(env, OPENAT2, p);
});

const CLOSE_RANGE: FeatureSpec = { id: 'close-range', title: 'close_range', since: [5, 11], missing: 'warn', usedFor: 'nsrun marks every fd above 2 close-on-exec one by one instead (slower with a high ulimit -n)', syscall: 'close_range' };
export const checkCloseRange = featureCheck(CLOSE_RANGE, (r, env) => {
  const base = r.close_range;
  const cloexec = r.close_range_cloexec;
  if (!base || !cloexec) return undefined;
  if (base.ret === 0 && cloexec.ret === 0) return mk(CLOSE_RANGE.id, CLOSE_RANGE.title, 'ok', `supported, with CLOSE_RANGE_CLOEXEC (${since(CLOSE_RANGE)})`);
  if (base.ret === 0)
    return mk(CLOSE_RANGE.id, CLOSE_RANGE.title, 'warn', `supported without CLOSE_RANGE_CLOEXEC (${cloexec.err}; added in 5.11): ${CLOSE_RANGE.usedFor}`, 'boot Linux 5.11+ (nsrun works as is)');
  return notAvailable(env, CLOSE_RANGE, base);
});

const MOUNT_API: FeatureSpec = { id: 'mount-api', title: 'open_tree/move_mount', since: [5, 2], missing: 'warn', usedFor: '--rootfs captures host mounts with open_tree and attaches them with move_mount', syscall: 'open_tree and move_mount' };
export const checkMountApi = featureCheck(MOUNT_API, (r, env) => {
  const t = r.open_tree;
  const m = r.move_mount;
  if (!t || !m) return undefined;
  if (t.ret < 0) return notAvailable(env, MOUNT_API, t);
  // move_mount was given invalid flags: anything but ENOSYS means it exists
  if (m.err === 'ENOSYS') return notAvailable(env, MOUNT_API, m);
  return mk(MOUNT_API.id, MOUNT_API.title, 'ok', `supported (new mount API, ${since(MOUNT_API)})`);
});

const MEMFD: FeatureSpec = { id: 'memfd', title: 'memfd_create', since: [3, 17], missing: 'fail', usedFor: 'nsrun execs nsrun-init from a sealed in-memory copy (CVE-2019-5736)', syscall: 'memfd_create' };
export const checkMemfd = featureCheck(MEMFD, (r, env) => {
  const p = r.memfd_create;
  if (!p) return undefined;
  if (p.ret < 0) return notAvailable(env, MEMFD, p);
  if (p.exec === false) {
    const noexec = sysctl(env, 'vm.memfd_noexec');
    return mk(MEMFD.id, MEMFD.title, 'fail', `memfds are created non-executable${noexec ? ` (vm.memfd_noexec = ${noexec})` : ''}: ${MEMFD.usedFor}`, 'sysctl -w vm.memfd_noexec=0');
  }
  if (p.seals === false) return mk(MEMFD.id, MEMFD.title, 'fail', `a memfd refused nsrun's seals (F_ADD_SEALS): ${MEMFD.usedFor}`, 'boot a kernel with memfd sealing (CONFIG_MEMFD_CREATE, shmem)');
  return mk(MEMFD.id, MEMFD.title, 'ok', 'supported: sealable and executable (nsrun-init runs from a sealed copy)');
});

/** Where cgroup v2 is mounted (the first mount of each superblock). */
function cgroup2Mounts(env: DoctorEnv): MountEntry[] {
  return mounts(env).filter((m) => m.fstype === 'cgroup2');
}

/** The caller's cgroup v2 directory, from /proc/self/cgroup's 0:: line. */
function ownCgroup2Dir(env: DoctorEnv, m: MountEntry): string | undefined {
  const line = (env.readFile('/proc/self/cgroup') ?? '').split('\n').find((l) => l.startsWith('0::'));
  if (line === undefined) return undefined;
  let p = line.slice(3);
  if (m.root !== '/' && p.startsWith(m.root)) p = p.slice(m.root.length);
  return `${m.mountPoint}${p === '/' ? '' : p}`.replace(/\/+/g, '/');
}

export const checkCgroupKill: CheckFn = (env) => {
  const id = 'cgroup-kill';
  const title = 'cgroup.kill';
  const v2 = cgroup2Mounts(env);
  // cgroup.kill is in every cgroup but the root: look in ours, then in any child of each root
  for (const m of v2) {
    const own = ownCgroup2Dir(env, m);
    const candidates = [own, ...(env.readdir(m.mountPoint) ?? []).map((e) => `${m.mountPoint}/${e}`)].filter((d): d is string => !!d);
    for (const dir of candidates) {
      if (env.exists(`${dir}/cgroup.kill`)) return mk(id, title, 'ok', `supported: ${dir}/cgroup.kill (kernel 5.14+)`);
    }
  }
  const syms = env.readFile('/proc/kallsyms');
  if (syms && / cgroup_kill_write\b/.test(syms)) {
    const where = v2.length ? `no cgroup below the v2 root ${v2[0].mountPoint} to show the file` : 'no cgroup v2 is mounted to show the file';
    return mk(id, title, 'ok', `supported: the kernel has cgroup_kill_write (${where})`);
  }
  if (syms && / cgroup_procs_write\b/.test(syms))
    return mk(id, title, 'info', 'not supported (kernel 5.14+); nsrun does not need it', 'boot Linux 5.14+ to kill a whole cgroup at once');
  if (!v2.length) return mk(id, title, 'info', 'unknown: no cgroup v2 is mounted and /proc/kallsyms does not tell', 'mount -t cgroup2 none /sys/fs/cgroup/unified to look');
  return mk(id, title, 'info', `unknown: no cgroup below ${v2[0].mountPoint} and /proc/kallsyms does not tell`, 'look for cgroup.kill in any non-root cgroup');
};

export const checkTimeNs: CheckFn = (env) => {
  if (env.exists('/proc/self/ns/time')) return mk('time-ns', 'time namespaces', 'ok', 'supported: /proc/self/ns/time (kernel 5.6+)');
  return mk('time-ns', 'time namespaces', 'warn', 'not available (no /proc/self/ns/time): --time cannot be used', 'boot Linux 5.6+ built with CONFIG_TIME_NS');
};

// --- user namespaces ---------------------------------------------------------------------------

/** The most likely reason unprivileged user namespaces fail here, with its fix. */
export function usernsCause(env: DoctorEnv): { cause: string; fix: string } | undefined {
  if (sysctl(env, 'user.max_user_namespaces') === '0') return { cause: 'user.max_user_namespaces is 0', fix: 'sysctl -w user.max_user_namespaces=15000' };
  if (sysctl(env, 'kernel.unprivileged_userns_clone') === '0')
    return { cause: 'kernel.unprivileged_userns_clone is 0', fix: 'sysctl -w kernel.unprivileged_userns_clone=1' };
  if (sysctl(env, 'kernel.apparmor_restrict_unprivileged_userns') === '1')
    return { cause: 'AppArmor restricts unprivileged user namespaces', fix: 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile with "userns," for node' };
  if (seccompMode(env).mode === 2) return { cause: 'a seccomp filter blocks it', fix: 'run without the filter (docker: --security-opt seccomp=unconfined)' };
  return undefined;
}

function persist(setting: string): string {
  return `sysctl -w ${setting} (persist it in /etc/sysctl.d/)`;
}

export const checkUsernsClone: CheckFn = (env) => {
  const id = 'userns-clone';
  const title = 'userns_clone (Debian)';
  const v = sysctl(env, 'kernel.unprivileged_userns_clone');
  if (v === undefined) return mk(id, title, 'ok', 'kernel.unprivileged_userns_clone absent: the kernel has no such switch');
  if (v !== '0') return mk(id, title, 'ok', `kernel.unprivileged_userns_clone = ${v}`);
  const fix = persist('kernel.unprivileged_userns_clone=1');
  if (isRoot(env)) return mk(id, title, 'warn', 'kernel.unprivileged_userns_clone is 0: root is not affected, but rootless nsrun is', fix);
  return mk(id, title, 'fail', 'kernel.unprivileged_userns_clone is 0: unprivileged users cannot create user namespaces', fix);
};

export const checkMaxUserns: CheckFn = (env) => {
  const id = 'max-userns';
  const title = 'max_user_namespaces';
  const v = sysctl(env, 'user.max_user_namespaces');
  if (v === undefined) return mk(id, title, 'info', 'unknown: /proc/sys/user/max_user_namespaces is not readable', 'check sysctl user.max_user_namespaces');
  if (v === '0') return mk(id, title, 'fail', 'user.max_user_namespaces is 0: nobody, root included, can create a user namespace', persist('user.max_user_namespaces=15000'));
  return mk(id, title, 'ok', `user.max_user_namespaces = ${v}`);
};

export const checkApparmorUserns: CheckFn = (env) => {
  const id = 'apparmor-userns';
  const title = 'AppArmor userns';
  const v = sysctl(env, 'kernel.apparmor_restrict_unprivileged_userns');
  if (v === undefined) return mk(id, title, 'ok', 'kernel.apparmor_restrict_unprivileged_userns absent: no restriction');
  if (v !== '1') return mk(id, title, 'ok', `kernel.apparmor_restrict_unprivileged_userns = ${v}`);
  const fix = `${persist('kernel.apparmor_restrict_unprivileged_userns=0')}, or give node an AppArmor profile with "userns,"`;
  if (isRoot(env)) return mk(id, title, 'warn', 'AppArmor restricts unprivileged user namespaces: root is not affected, but rootless nsrun is', fix);
  return mk(id, title, 'fail', 'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)', fix);
};

// The fixed inode numbers of the initial namespaces (include/linux/proc_ns.h).
const INITIAL_PID_NS = 'pid:[4026531836]';
const INITIAL_USER_NS = 'user:[4026531837]';

/** cgroup paths container runtimes put their containers in (not the runtimes' own services). */
const CONTAINER_CGROUPS: [string, RegExp][] = [
  ['Kubernetes', /\/kubepods[./-]/],
  ['Docker', /\/docker[-/][0-9a-f]{12}/],
  ['Podman', /\/libpod[-_/]/],
  ['LXC', /\/lxc(\.payload)?[./][^/]/],
  ['containerd', /\/cri-containerd-[0-9a-f]{12}/],
  ['CRI-O', /\/crio-[0-9a-f]{12}/],
];

export const checkContainer: CheckFn = (env) => {
  const id = 'container';
  const title = 'container';
  const markers: string[] = [];
  const kinds = new Set<string>();
  if (env.exists('/.dockerenv')) {
    markers.push('/.dockerenv');
    kinds.add('Docker');
  }
  if (env.exists('/run/.containerenv')) {
    markers.push('/run/.containerenv');
    kinds.add('Podman');
  }
  const systemdContainer = env.readFile('/run/systemd/container')?.trim();
  if (systemdContainer) {
    markers.push(`/run/systemd/container says ${systemdContainer}`);
    kinds.add(systemdContainer);
  }
  const environ = env.readFile('/proc/1/environ');
  const pid1Container = environ?.split('\0').find((e) => e.startsWith('container='));
  if (pid1Container) {
    markers.push(`${pid1Container} in PID 1's environment`);
    kinds.add(pid1Container.slice('container='.length));
  }
  const cgroupText = env.readFile('/proc/self/cgroup') ?? '';
  for (const [kind, re] of CONTAINER_CGROUPS) {
    const line = cgroupText.split('\n').find((l) => re.test(l));
    if (!line) continue;
    markers.push(`cgroup ${line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1)}`);
    kinds.add(kind);
    break;
  }
  if (env.env.KUBERNETES_SERVICE_HOST) {
    markers.push('KUBERNETES_SERVICE_HOST is set');
    kinds.add('Kubernetes');
  }
  const pidns = env.readlink('/proc/self/ns/pid');
  const userns = env.readlink('/proc/self/ns/user');
  const initialPid = pidns === INITIAL_PID_NS;
  const initialUser = userns === INITIAL_USER_NS;
  const unreadable = environ === undefined ? "; PID 1's environment is not readable" : '';
  if (!markers.length) {
    if (pidns && !initialPid)
      return mk(id, title, 'info', `no container markers, but not in the initial PID namespace (${pidns}): nsrun runs nested in some sandbox${unreadable}`, 'nested namespaces work when the outer sandbox allows them: see the user namespace probe');
    return mk(id, title, 'ok', `none detected (initial PID namespace; no /.dockerenv, /run/.containerenv, container=, container cgroup paths)${unreadable}`);
  }
  const kind = [...kinds].join('/');
  if (initialPid && (initialUser || userns === undefined))
    return mk(
      id,
      title,
      'info',
      `${markers.join(', ')}, yet this process is in the initial PID and user namespaces: a host or VM built from a ${kind} image, not a running container${unreadable}`,
      'nothing to do: nsrun runs here as on any host',
    );
  return mk(
    id,
    title,
    'warn',
    `inside a container (${kind}: ${markers.join(', ')}; ${pidns ?? 'pid namespace unknown'}): nested sandboxes need the runtime's consent${unreadable}`,
    kinds.has('Kubernetes')
      ? 'securityContext: seccompProfile Unconfined, appArmorProfile Unconfined, procMount Unmasked (or privileged: true)'
      : 'docker/podman run --security-opt seccomp=unconfined --security-opt apparmor=unconfined (--cap-add SYS_ADMIN to run nsrun as root inside), or --privileged',
  );
};

function seccompMode(env: DoctorEnv): { mode?: number; filters?: number } {
  const status = env.readFile('/proc/self/status') ?? '';
  const mode = /^Seccomp:\s*(\d+)/m.exec(status);
  const filters = /^Seccomp_filters:\s*(\d+)/m.exec(status);
  return { mode: mode ? Number(mode[1]) : undefined, filters: filters ? Number(filters[1]) : undefined };
}

export const checkSeccomp: CheckFn = (env) => {
  const id = 'seccomp';
  const title = 'seccomp';
  const s = seccompMode(env);
  if (s.mode === undefined) return mk(id, title, 'info', 'unknown: no Seccomp: line in /proc/self/status', 'boot a kernel with CONFIG_SECCOMP to see it');
  if (s.mode === 0) return mk(id, title, 'ok', 'no seccomp filter on this process');
  if (s.mode === 1) return mk(id, title, 'fail', 'strict seccomp mode: only read, write, exit and sigreturn are allowed', 'run nsrun outside the strict-mode process');
  const n = s.filters !== undefined ? `${s.filters} filter${s.filters === 1 ? '' : 's'}` : 'a filter';
  return mk(id, title, 'warn', `${n} (inherited, cannot be removed): it may refuse clone, unshare, setns or mount; the probes here show what it lets through`, 'if a probe fails, run without the filter (docker: --security-opt seccomp=unconfined; systemd: drop SystemCallFilter=)');
};

function probeFailure(r: RunResult): string {
  if (r.error) return r.error;
  if (r.signal) return `killed by ${r.signal}`;
  return lastLine(r.stderr) || `exit ${r.status}`;
}

export const checkUsernsProbe: CheckFn = (env) => {
  const id = 'userns-probe';
  const title = 'userns (unprivileged)';
  const unshare = env.which('unshare');
  if (!unshare) return mk(id, title, 'info', 'unknown: unshare (util-linux) is not installed to try it', 'apt-get install util-linux');
  const failed = (what: string, r: RunResult, verdict: Verdict): Check => {
    const c = usernsCause(env);
    if (c) return mk(id, title, verdict, what ? `${what}: ${c.cause}` : c.cause, c.fix);
    return mk(id, title, verdict, `${what || 'unshare -U true failed'}: ${probeFailure(r)}`, 'see the user namespace checks above');
  };
  if (!isRoot(env)) {
    const r = env.run(unshare, ['-U', 'true']);
    if (r.status === 0) return mk(id, title, 'ok', `${who(env)} created a user namespace (unshare -U true)`);
    return failed('', r, 'fail');
  }
  const asRoot = env.run(unshare, ['-U', 'true']);
  if (asRoot.status !== 0) return failed('even root cannot create one', asRoot, 'fail');
  const setpriv = env.which('setpriv');
  if (!setpriv) return mk(id, title, 'info', 'root can create one; unprivileged: unknown (setpriv is not installed to try as nobody)', 'apt-get install util-linux');
  const r = env.run(setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', '--', unshare, '-U', 'true']);
  if (r.status === 0) return mk(id, title, 'ok', 'root and nobody (uid 65534) each created a user namespace (unshare -U true; setpriv --reuid=65534 ... unshare -U true)');
  return failed('root can create one, nobody (uid 65534) cannot', r, 'warn');
};

// --- ids ------------------------------------------------------------------------------------

function subIdEntries(env: DoctorEnv, file: string): { who: string; start: number; count: number }[] {
  const out: { who: string; start: number; count: number }[] = [];
  for (const line of (env.readFile(file) ?? '').split('\n')) {
    const [w, s, c] = line.trim().split(':');
    if (c !== undefined && /^\d+$/.test(s) && /^\d+$/.test(c)) out.push({ who: w, start: Number(s), count: Number(c) });
  }
  return out;
}

export const checkSubIds: CheckFn = (env) => {
  const id = 'subids';
  const title = 'subuid/subgid';
  if (isRoot(env)) {
    const users = new Set(subIdEntries(env, '/etc/subuid').map((e) => e.who));
    const others = users.size ? ` (/etc/subuid has entries for ${[...users].join(', ')})` : '';
    return mk(id, title, 'ok', `root writes id maps itself and needs no entries${others}`);
  }
  const fmt = (r: { start: number; count: number }[]) => r.map((x) => `${x.start}:${x.count}`).join(', ');
  const uids = parseSubIds(env.readFile('/etc/subuid') ?? '', env.userName, env.euid);
  const gids = parseSubIds(env.readFile('/etc/subgid') ?? '', env.userName, env.egid);
  if (uids.length && gids.length) return mk(id, title, 'ok', `${who(env)}: /etc/subuid ${fmt(uids)}; /etc/subgid ${fmt(gids)}`);
  const missing = [!uids.length && '/etc/subuid', !gids.length && '/etc/subgid'].filter(Boolean).join(' and ');
  // suggest a range nobody has yet
  const taken = [...subIdEntries(env, '/etc/subuid'), ...subIdEntries(env, '/etc/subgid')];
  const start = Math.max(100000, ...taken.map((e) => Math.ceil((e.start + e.count) / 65536) * 65536));
  const range = `${start}-${start + 65535}`;
  const name = env.userName ?? String(env.euid);
  const flags = [!uids.length && `--add-subuids ${range}`, !gids.length && `--add-subgids ${range}`].filter(Boolean).join(' ');
  return mk(id, title, 'warn', `no entry for ${who(env)} in ${missing}: you can map only your own uid/gid (--map-users/--map-groups ranges need one)`, `as root: usermod ${flags} ${name}`);
};

/** getcap's "/usr/bin/newuidmap cap_setuid=ep" (or "cap_setuid,cap_setgid+ep"): cap effective and permitted? */
export function hasFileCap(getcapOutput: string, cap: string): boolean {
  for (const m of getcapOutput.matchAll(/([a-z_,]+)[=+]([a-z]+)/g)) if (m[1].split(',').includes(cap) && m[2].includes('e') && m[2].includes('p')) return true;
  return false;
}

function helperState(env: DoctorEnv, name: string, cap: string): { ok: boolean; text: string; fix?: string } {
  const p = env.which(name);
  if (!p) return { ok: false, text: `${name} missing`, fix: 'apt-get install uidmap' };
  const st = env.lstat(p);
  if (st && st.mode & 0o4000 && st.uid === 0) return { ok: true, text: `${p} setuid root` };
  const getcap = env.which('getcap');
  if (getcap) {
    const r = env.run(getcap, [p]);
    if (r.status === 0 && hasFileCap(r.stdout, cap)) return { ok: true, text: `${p} with file capability ${cap}` };
  }
  return { ok: false, text: `${p} is neither setuid root nor has ${cap}`, fix: `chmod u+s ${p} (or setcap ${cap}+ep ${p})` };
}

export const checkNewIdMap: CheckFn = (env) => {
  const id = 'newidmap';
  const title = 'newuidmap/newgidmap';
  const u = helperState(env, 'newuidmap', 'cap_setuid');
  const g = helperState(env, 'newgidmap', 'cap_setgid');
  const text = `${u.text}; ${g.text}`;
  if (u.ok && g.ok) return mk(id, title, 'ok', isRoot(env) ? `${text} (root does not need them)` : text);
  const fix = [...new Set([u.fix, g.fix].filter((f): f is string => !!f))].join('; ');
  if (isRoot(env)) return mk(id, title, 'info', `${text}: root writes maps itself, but unprivileged callers need them for id ranges`, fix);
  return mk(id, title, 'warn', `${text}: --map-users/--map-groups ranges cannot be mapped`, fix);
};

// --- cgroups ----------------------------------------------------------------------------------

const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc', 'debug'];

export type CgroupLayout = CgroupLayoutName;

export function cgroupLayout(env: DoctorEnv): { layout: CgroupLayout; v1: MountEntry[]; v2: MountEntry[] } {
  const all = mounts(env);
  const v1 = all.filter((m) => m.fstype === 'cgroup');
  const v2 = all.filter((m) => m.fstype === 'cgroup2');
  const layout: CgroupLayout = v1.length && v2.length ? 'hybrid' : v2.length ? 'v2' : v1.length ? 'v1' : 'none';
  return { layout, v1, v2 };
}

function v1Controllers(m: MountEntry): string[] {
  const opts = optionMap(m.superOptions);
  const out = V1_CONTROLLERS.filter((c) => opts.has(c));
  const named = opts.get('name');
  if (named) out.push(`name=${named}`);
  return out;
}

export const checkCgroupLayout: CheckFn = (env) => {
  const id = 'cgroup-layout';
  const title = 'cgroup layout';
  const { layout, v1, v2 } = cgroupLayout(env);
  const v2Root = env.exists('/sys/fs/cgroup/cgroup.controllers');
  const toV2 = 'for a v2-only layout boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=all) and mount cgroup2 on /sys/fs/cgroup';
  if (layout === 'v2') return mk(id, title, 'ok', `v2 (unified) at ${v2.map((m) => m.mountPoint).join(', ')}${v2Root ? '' : ' (not at /sys/fs/cgroup)'}`);
  if (layout === 'hybrid')
    return mk(id, title, 'info', `hybrid: ${v1.length} v1 hierarch${v1.length === 1 ? 'y' : 'ies'} under ${commonParent(v1)}, v2 at ${v2.map((m) => m.mountPoint).join(', ')}`, toV2);
  if (layout === 'v1') return mk(id, title, 'info', `v1 only: ${v1.length} hierarch${v1.length === 1 ? 'y' : 'ies'} under ${commonParent(v1)}, no cgroup v2`, toV2);
  return mk(id, title, 'warn', 'no cgroup filesystem is mounted: nsrun inspect shows no cgroups and --cgroup has nothing to isolate', 'mount -t cgroup2 none /sys/fs/cgroup');
};

function commonParent(ms: MountEntry[]): string {
  const parents = [...new Set(ms.map((m) => m.mountPoint.replace(/\/[^/]*$/, '') || '/'))];
  return parents.length === 1 ? parents[0] : parents.join(', ');
}

export const checkCgroupControllers: CheckFn = (env) => {
  const id = 'cgroup-controllers';
  const title = 'cgroup controllers';
  const { v1, v2 } = cgroupLayout(env);
  const parts: string[] = [];
  let any = false;
  if (v1.length) {
    const names = v1.flatMap(v1Controllers);
    any ||= names.some((n) => !n.startsWith('name='));
    parts.push(`v1: ${names.join(', ') || 'none'}`);
  }
  for (const m of v2) {
    const ctl = env.readFile(`${m.mountPoint}/cgroup.controllers`)?.trim();
    if (ctl) any = true;
    parts.push(`v2 ${m.mountPoint}: ${ctl === undefined ? 'unreadable' : ctl || (v1.length ? 'none (they are bound to v1)' : 'none')}`);
  }
  if (!parts.length) return mk(id, title, 'info', 'none: no cgroup filesystem is mounted', 'mount -t cgroup2 none /sys/fs/cgroup');
  if (!any) return mk(id, title, 'info', `${parts.join('; ')}: no controller to limit a sandbox with`, 'enable controllers: echo +memory +pids > /sys/fs/cgroup/cgroup.subtree_control');
  return mk(id, title, 'ok', parts.join('; '));
};

export const checkCgroupDelegation: CheckFn = (env) => {
  const id = 'cgroup-delegation';
  const title = 'cgroup delegation';
  const { v2 } = cgroupLayout(env);
  const m = v2[0];
  const dir = m ? ownCgroup2Dir(env, m) : undefined;
  if (isRoot(env)) return mk(id, title, 'ok', `root may write every cgroup${dir ? ` (yours: ${dir})` : ''}`);
  if (!m) return mk(id, title, 'info', `no cgroup v2 is mounted: ${who(env)} has no cgroup of its own to manage (nsrun exec cannot join a sandbox's cgroups)`, 'use a cgroup v2 host with a delegated user slice (systemd: Delegate=yes)');
  if (!dir) return mk(id, title, 'info', 'unknown: no 0:: line in /proc/self/cgroup', 'check /proc/self/cgroup');
  const files = ['cgroup.procs', 'cgroup.subtree_control'];
  const notWritable = files.filter((f) => !env.writable(`${dir}/${f}`));
  if (!notWritable.length && env.writable(dir)) return mk(id, title, 'ok', `delegated to ${who(env)}: ${dir} (cgroup.procs, cgroup.subtree_control writable)`);
  const what = notWritable.length ? notWritable.map((f) => `${dir}/${f}`).join(', ') : dir;
  const user = env.userName ?? String(env.euid);
  // never hand out the root cgroup: a child of it, owned by the user, with the shell moved in
  const fix =
    dir === m.mountPoint
      ? `as root: mkdir ${dir}/${user} && chown -R ${user} ${dir}/${user}, then move the user's shell there (echo PID > ${dir}/${user}/cgroup.procs); with systemd: systemd-run --user --scope -p Delegate=yes nsrun ...`
      : `systemd-run --user --scope -p Delegate=yes nsrun ..., or as root: chown -R ${user} ${dir}`;
  return mk(id, title, 'warn', `not delegated to ${who(env)}: ${what} not writable (nsrun exec cannot join a sandbox's cgroups; nothing else needs it)`, fix);
};

// --- terminals --------------------------------------------------------------------------------

function devptsMounts(env: DoctorEnv): MountEntry[] {
  return mounts(env).filter((m) => m.mountPoint === '/dev/pts');
}

export const checkDevpts: CheckFn = (env) => {
  const id = 'devpts';
  const title = 'devpts';
  const on = devptsMounts(env);
  const top = on[on.length - 1];
  const fixMount = 'mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts';
  if (!top || top.fstype !== 'devpts') return mk(id, title, 'warn', top ? `/dev/pts is ${top.fstype}, not devpts` : 'nothing is mounted on /dev/pts: sandboxes with a terminal cannot get a pty', fixMount);
  const opts = optionMap(top.superOptions);
  const shown = ['mode', 'ptmxmode', 'gid'].filter((k) => opts.has(k)).map((k) => `${k}=${opts.get(k)}`).join(',');
  const stacked = on.length > 1 ? `, ${on.length} mounts stacked there` : '';
  const hostPart = `devpts on /dev/pts (${shown || 'defaults'}${stacked})`;
  // A real probe: mount a new instance in a throwaway mount namespace; a new instance has only ptmx.
  const unshare = env.which('unshare');
  if (!unshare) return mk(id, title, 'info', `${hostPart}; new instance: unknown (unshare is not installed to try)`, 'apt-get install util-linux');
  const nsArgs = isRoot(env) ? ['-m', '--propagation', 'private'] : ['-U', '-r', '-m', '--propagation', 'private'];
  const r = env.run(unshare, [...nsArgs, 'sh', '-c', 'mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts && ls -A /dev/pts']);
  if (r.status === 0 && r.stdout.trim().split(/\s+/).join(' ') === 'ptmx') return mk(id, title, 'ok', `${hostPart}; a new instance mounts, empty (sandboxes get their own)`);
  if (r.status === 0) return mk(id, title, 'warn', `${hostPart}; a fresh mount shares the host's ptys (${r.stdout.trim().split(/\s+/).length} entries): the kernel has no private instances`, 'boot Linux 4.7+ (each devpts mount its own instance)');
  if (!isRoot(env) && env.run(unshare, ['-U', '-r', 'true']).status !== 0)
    return mk(id, title, 'info', `${hostPart}; new instance: unknown (no user namespace to try in)`, 'see userns (unprivileged)');
  return mk(id, title, 'warn', `${hostPart}; mounting a new instance failed: ${probeFailure(r)}`, 'sandboxes with a mount namespace and a terminal need it: check the LSM/seccomp policy for mount');
};

export const checkPtmx: CheckFn = (env) => {
  const id = 'ptmx';
  const title = '/dev/ptmx';
  const st = env.lstat('/dev/ptmx');
  if (!st) return mk(id, title, 'warn', 'missing: a sandbox given your terminal fails (pty ENOENT)', 'mknod -m 666 /dev/ptmx c 5 2 (or ln -s pts/ptmx /dev/ptmx)');
  if (st.type === 'symlink') {
    const target = env.readlink('/dev/ptmx');
    const top = devptsMounts(env).pop();
    const ptmxmode = top ? optionMap(top.superOptions).get('ptmxmode') : undefined;
    if (ptmxmode !== undefined && (parseInt(ptmxmode, 8) & 0o006) !== 0o006)
      return mk(id, title, isRoot(env) ? 'info' : 'warn', `symlink to ${target}, but /dev/pts has ptmxmode=${ptmxmode}: only root can open it`, 'mount -o remount,ptmxmode=0666 /dev/pts');
    return mk(id, title, 'ok', `symlink to ${target}${ptmxmode ? ` (ptmxmode=${ptmxmode})` : ''}`);
  }
  if (st.type !== 'char' || st.major !== 5 || st.minor !== 2)
    return mk(id, title, 'warn', `not the pty multiplexer (${st.type}${st.major !== undefined ? ` ${st.major}:${st.minor}` : ''})`, 'rm /dev/ptmx && mknod -m 666 /dev/ptmx c 5 2');
  const mode = st.mode.toString(8).padStart(4, '0');
  if ((st.mode & 0o006) !== 0o006) return mk(id, title, isRoot(env) ? 'info' : 'warn', `character device 5:2, mode ${mode}: only its owner can allocate ptys`, 'chmod 666 /dev/ptmx');
  return mk(id, title, 'ok', `character device 5:2, mode ${mode} (opens the devpts at /dev/pts)`);
};

// ---------------------------------------------------------------------------------------------

/** Every check, in the order printed. */
export const CHECKS: { id: string; run: CheckFn }[] = [
  { id: 'kernel', run: checkKernel },
  { id: 'pidfd-open', run: checkPidfdOpen },
  { id: 'clone3', run: checkClone3 },
  { id: 'setns-pidfd', run: checkSetnsPidfd },
  { id: 'openat2', run: checkOpenat2 },
  { id: 'close-range', run: checkCloseRange },
  { id: 'mount-api', run: checkMountApi },
  { id: 'cgroup-kill', run: checkCgroupKill },
  { id: 'time-ns', run: checkTimeNs },
  { id: 'memfd', run: checkMemfd },
  { id: 'userns-clone', run: checkUsernsClone },
  { id: 'max-userns', run: checkMaxUserns },
  { id: 'apparmor-userns', run: checkApparmorUserns },
  { id: 'container', run: checkContainer },
  { id: 'seccomp', run: checkSeccomp },
  { id: 'userns-probe', run: checkUsernsProbe },
  { id: 'subids', run: checkSubIds },
  { id: 'newidmap', run: checkNewIdMap },
  { id: 'cgroup-layout', run: checkCgroupLayout },
  { id: 'cgroup-controllers', run: checkCgroupControllers },
  { id: 'cgroup-delegation', run: checkCgroupDelegation },
  { id: 'devpts', run: checkDevpts },
  { id: 'ptmx', run: checkPtmx },
];

export function runChecks(env: DoctorEnv): Check[] {
  const probe = probeSyscalls(env);
  return CHECKS.map((c) => {
    try {
      return c.run(env, probe);
    } catch (e) {
      return mk(c.id, c.id, 'info', `unknown: the check itself failed (${e instanceof Error ? e.message : String(e)})`, 'report this as an nsrun bug');
    }
  });
}

/** Checks this host (or `env`): one entry per check, in a stable order. */
export async function doctor(env: DoctorEnv = hostEnv()): Promise<Check[]> {
  return runChecks(env);
}

/** The text `nsrun doctor` prints: one line per check, then a summary. */
export function formatDoctor(checks: Check[]): string[] {
  const width = Math.max(0, ...checks.map((c) => c.title.length));
  const lines = checks.map((c) => `${c.verdict.padEnd(6)}${c.title.padEnd(width + 1)}${c.detail}${c.verdict !== 'ok' && c.fix ? ` — fix: ${c.fix}` : ''}`);
  const count = (v: Verdict) => checks.filter((c) => c.verdict === v).length;
  const fails = count('fail');
  const tail = fails ? `${fails} failed: nsrun cannot work fully here until they are fixed` : 'nothing fails';
  lines.push(`${checks.length} checks: ${count('ok')} ok, ${count('warn')} warn, ${fails} fail, ${count('info')} info; ${tail}`);
  return lines;
}

/** 0 when nothing fails, 1 when something does. */
export function doctorExitCode(checks: Check[]): number {
  return checks.some((c) => c.verdict === 'fail') ? 1 : 0;
}
