// nsrun doctor's checks over simulated hosts: every check, every verdict, and whole hosts this
// machine cannot be (user namespaces off, AppArmor restriction, v2 with delegation, Docker).
import { describe, expect, test } from 'vitest';
import {
  CHECKS,
  checkApparmorUserns,
  checkCgroupControllers,
  checkCgroupDelegation,
  checkCgroupKill,
  checkCgroupLayout,
  checkClone3,
  checkCloseRange,
  checkContainer,
  checkDevpts,
  checkKernel,
  checkMaxUserns,
  checkMemfd,
  checkMountApi,
  checkNewIdMap,
  checkOpenat2,
  checkPidfdOpen,
  checkPtmx,
  checkSeccomp,
  checkSetnsPidfd,
  checkSubIds,
  checkTimeNs,
  checkUsernsClone,
  checkUsernsProbe,
  doctor,
  doctorExitCode,
  formatDoctor,
  hasFileCap,
  parseMountinfo,
  probeSyscalls,
  runChecks,
  type Check,
  type DoctorEnv,
  type FileStat,
  type RunResult,
  type SyscallProbe,
  type SyscallResult,
} from '../../src/doctor';

// ---------------------------------------------------------------------------------------------
// A simulated host

type Runner = (cmd: string, args: string[]) => RunResult | undefined;

interface Sim {
  files: Record<string, string>;
  links: Record<string, string>;
  stats: Record<string, FileStat>;
  dirs: Record<string, string[]>;
  writable: string[];
  bins: Record<string, string>;
  /** Tried first to last; the first answer wins. */
  runs: Runner[];
  euid: number;
  egid: number;
  userName?: string;
  env: Record<string, string | undefined>;
  /** Every command run, for assertions. */
  ran: string[];
  /** What the python3 probe reports (OK_RESULTS when unset). */
  probe?: Record<string, SyscallResult | undefined>;
}

const OK_RESULTS: Record<string, SyscallResult> = {
  pidfd_open: { ret: 3, errno: 0, err: null },
  clone3: { ret: -1, errno: 22, err: 'EINVAL' },
  setns_pidfd: { ret: -1, errno: 1, err: 'EPERM' },
  openat2: { ret: 3, errno: 0, err: null },
  close_range: { ret: 0, errno: 0, err: null },
  close_range_cloexec: { ret: 0, errno: 0, err: null },
  open_tree: { ret: 3, errno: 0, err: null },
  move_mount: { ret: -1, errno: 1, err: 'EPERM' },
  memfd_create: { ret: 3, errno: 0, err: null, exec: true, seals: true },
};

const ENOSYS: SyscallResult = { ret: -1, errno: 38, err: 'ENOSYS' };
const EINVAL: SyscallResult = { ret: -1, errno: 22, err: 'EINVAL' };

const ok = (stdout = ''): RunResult => ({ status: 0, stdout, stderr: '' });
const failed = (stderr: string, status = 1): RunResult => ({ status, stdout: '', stderr });

const base = (cmd: string) => cmd.slice(cmd.lastIndexOf('/') + 1);

const OWN_CGROUP = '/user.slice/user-1000.slice/user@1000.service/app.slice/term.scope';
const OWN_DIR = `/sys/fs/cgroup${OWN_CGROUP}`;

const V2_MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '23 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '24 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw',
  '25 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot',
  '26 22 0:5 / /dev rw,nosuid,relatime shared:3 - devtmpfs udev rw,size=8000000k,mode=755',
  '27 26 0:24 / /dev/pts rw,nosuid,noexec,relatime shared:5 - devpts devpts rw,gid=5,mode=620,ptmxmode=000',
].join('\n');

const V1_CONTROLLER_MOUNTS = ['cpu,cpuacct', 'memory', 'pids', 'devices'].map(
  (c, i) => `${40 + i} 31 0:${40 + i} / /sys/fs/cgroup/${c} rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,${c}`,
);

const HYBRID_MOUNTINFO = [
  '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
  '23 22 0:22 / /proc rw,relatime - proc proc rw',
  '26 22 0:5 / /dev rw,nosuid - devtmpfs udev rw,mode=755',
  '27 26 0:24 / /dev/pts rw,nosuid,noexec - devpts devpts rw,mode=600,ptmxmode=000',
  '31 24 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  ...V1_CONTROLLER_MOUNTS,
  '50 31 0:50 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '51 31 0:51 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

const V1_MOUNTINFO = HYBRID_MOUNTINFO.split('\n').filter((l) => !l.includes('cgroup2')).join('\n');

/** A healthy, current, systemd cgroup-v2 desktop with alice (uid 1000) at the keyboard. */
function modernHost(): Sim {
  const sim: Sim = {
    files: {
      '/proc/sys/kernel/osrelease': '6.8.0-45-generic\n',
      '/proc/sys/user/max_user_namespaces': '63432\n',
      '/proc/self/status': 'Name:\tnode\nUmask:\t0022\nSeccomp:\t0\nSeccomp_filters:\t0\n',
      '/proc/self/mountinfo': V2_MOUNTINFO,
      '/proc/self/cgroup': `0::${OWN_CGROUP}\n`,
      '/proc/1/environ': 'HOME=/\0TERM=linux\0',
      '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
      [`${OWN_DIR}/cgroup.kill`]: '',
      [`${OWN_DIR}/cgroup.procs`]: '',
      [`${OWN_DIR}/cgroup.subtree_control`]: '',
      '/etc/subuid': 'alice:100000:65536\n',
      '/etc/subgid': 'alice:100000:65536\n',
    },
    links: {
      '/proc/self/ns/pid': 'pid:[4026531836]',
      '/proc/self/ns/user': 'user:[4026531837]',
      '/proc/self/ns/time': 'time:[4026531834]',
    },
    stats: {
      '/usr/bin/newuidmap': { type: 'file', mode: 0o4755, uid: 0, gid: 0 },
      '/usr/bin/newgidmap': { type: 'file', mode: 0o4755, uid: 0, gid: 0 },
      '/dev/ptmx': { type: 'char', mode: 0o666, uid: 0, gid: 5, major: 5, minor: 2 },
    },
    dirs: { '/sys/fs/cgroup': ['cgroup.controllers', 'cgroup.procs', 'init.scope', 'system.slice', 'user.slice'] },
    writable: [OWN_DIR, `${OWN_DIR}/cgroup.procs`, `${OWN_DIR}/cgroup.subtree_control`],
    bins: Object.fromEntries(['python3', 'unshare', 'setpriv', 'newuidmap', 'newgidmap', 'getcap'].map((b) => [b, `/usr/bin/${b}`])),
    runs: [],
    euid: 1000,
    egid: 1000,
    userName: 'alice',
    env: {},
    ran: [],
  };
  sim.runs.push(defaultRunner(() => sim.probe));
  return sim;
}

function defaultRunner(results: () => Record<string, SyscallResult | undefined> | undefined): Runner {
  return (cmd, args) => {
    switch (base(cmd)) {
      case 'python3':
        return ok(JSON.stringify({ arch: 'x86_64', ...(results() ?? OK_RESULTS) }));
      case 'unshare':
        return args.includes('sh') ? ok('ptmx\n') : ok();
      case 'setpriv':
        return ok();
      case 'getcap':
        return ok();
      default:
        return undefined;
    }
  };
}

function envOf(sim: Sim): DoctorEnv {
  const has = (p: string) => p in sim.files || p in sim.links || p in sim.stats || p in sim.dirs;
  return {
    readFile: (p) => sim.files[p],
    exists: has,
    readdir: (p) => sim.dirs[p],
    readlink: (p) => sim.links[p],
    lstat: (p) => sim.stats[p] ?? (p in sim.links ? { type: 'symlink', mode: 0o777, uid: 0, gid: 0 } : p in sim.files ? { type: 'file', mode: 0o644, uid: 0, gid: 0 } : undefined),
    writable: (p) => sim.euid === 0 || sim.writable.includes(p),
    which: (n) => sim.bins[n],
    run: (cmd, args) => {
      sim.ran.push([base(cmd), ...args].join(' '));
      for (const r of sim.runs) {
        const out = r(cmd, args);
        if (out) return out;
      }
      return { status: null, stdout: '', stderr: '', error: 'ENOENT' };
    },
    euid: sim.euid,
    egid: sim.egid,
    userName: sim.userName,
    env: sim.env,
  };
}

/** Runs one check on a sim, with the syscall probe it would get. */
function check(fn: (env: DoctorEnv, probe: SyscallProbe) => Check, sim: Sim): Check {
  const env = envOf(sim);
  return fn(env, probeSyscalls(env));
}

const asRoot = (sim: Sim): Sim => {
  sim.euid = 0;
  sim.egid = 0;
  sim.userName = 'root';
  return sim;
};

/** Answers a command before the defaults do. */
function answer(sim: Sim, match: (cmd: string, args: string[]) => boolean, result: RunResult): Sim {
  sim.runs.unshift((cmd, args) => (match(base(cmd), args) ? result : undefined));
  return sim;
}

function withProbe(sim: Sim, changes: Record<string, SyscallResult | undefined>): Sim {
  sim.probe = { ...OK_RESULTS, ...changes };
  return sim;
}

function byId(checks: Check[]): Record<string, Check> {
  return Object.fromEntries(checks.map((c) => [c.id, c]));
}

// ---------------------------------------------------------------------------------------------

describe('a healthy modern host', () => {
  test('every check is ok, and the host passes', async () => {
    const checks = await doctor(envOf(modernHost()));
    expect(checks.map((c) => c.id)).toEqual(CHECKS.map((c) => c.id));
    expect(checks.filter((c) => c.verdict !== 'ok')).toEqual([]);
    expect(doctorExitCode(checks)).toBe(0);
  });
  test('the system calls are probed by one python3 child, in isolated mode', () => {
    const sim = modernHost();
    runChecks(envOf(sim));
    expect(sim.ran.filter((r) => r.startsWith('python3'))).toHaveLength(1);
    expect(sim.ran.find((r) => r.startsWith('python3'))).toMatch(/^python3 -I -c /);
  });
});

describe('kernel', () => {
  test.each([
    ['6.8.0-45-generic', 'ok', undefined],
    ['5.4.0-150-generic', 'warn', /5\.11\+/],
    ['4.19.0-27-amd64', 'fail', /5\.3\+/],
  ] as const)('%s: %s', (release, verdict, fix) => {
    const sim = modernHost();
    sim.files['/proc/sys/kernel/osrelease'] = `${release}\n`;
    const c = check(checkKernel, sim);
    expect(c.verdict).toBe(verdict);
    expect(c.detail).toContain(release);
    if (fix) expect(c.fix).toMatch(fix);
    else expect(c.fix).toBeUndefined();
  });
  test('unreadable: info', () => {
    const sim = modernHost();
    delete sim.files['/proc/sys/kernel/osrelease'];
    expect(check(checkKernel, sim)).toMatchObject({ verdict: 'info', detail: expect.stringMatching(/^unknown/) });
  });
});

describe('system-call probes', () => {
  test('pidfd_open: supported', () => {
    expect(check(checkPidfdOpen, modernHost())).toEqual({ id: 'pidfd-open', title: 'pidfd_open', verdict: 'ok', detail: 'supported (kernel 5.3+)' });
  });
  test('pidfd_open: ENOSYS on an old kernel fails, fixed by a newer kernel', () => {
    const sim = withProbe(modernHost(), { pidfd_open: ENOSYS, setns_pidfd: undefined });
    sim.files['/proc/sys/kernel/osrelease'] = '5.0.21\n';
    const c = check(checkPidfdOpen, sim);
    expect(c).toMatchObject({ verdict: 'fail', fix: 'boot Linux 5.3+' });
    expect(c.detail).toMatch(/^not available \(ENOSYS\)/);
  });
  test('pidfd_open: ENOSYS on a new kernel is a filter, not the kernel', () => {
    const c = check(checkPidfdOpen, withProbe(modernHost(), { pidfd_open: ENOSYS }));
    expect(c.verdict).toBe('fail');
    expect(c.fix).toMatch(/seccomp filter or LSM blocks it: allow pidfd_open/);
  });
  test('no python3: every probe is unknown (info), with how to make it known', () => {
    const sim = modernHost();
    delete sim.bins.python3;
    for (const fn of [checkPidfdOpen, checkClone3, checkSetnsPidfd, checkOpenat2, checkCloseRange, checkMountApi, checkMemfd]) {
      const c = check(fn, sim);
      expect(c.verdict).toBe('info');
      expect(c.detail).toMatch(/^unknown: python3 is not installed/);
      expect(c.fix).toMatch(/apt-get install python3/);
    }
  });
  test('a probe killed by SIGSYS: a seccomp filter that kills', () => {
    const sim = answer(modernHost(), (c) => c === 'python3', { status: null, signal: 'SIGSYS', stdout: '', stderr: '' });
    const c = check(checkPidfdOpen, sim);
    expect(c).toMatchObject({ verdict: 'info' });
    expect(c.detail).toMatch(/SIGSYS: a seccomp filter/);
  });
  test('a probe that fails says how', () => {
    const sim = answer(modernHost(), (c) => c === 'python3', failed('Traceback ...\nModuleNotFoundError: No module named ctypes'));
    expect(check(checkOpenat2, sim).detail).toBe('unknown: the python3 probe failed (exit 1: ModuleNotFoundError: No module named ctypes)');
  });
  test('clone3: EINVAL for a NULL argument means it exists; ENOSYS on 5.3+ is a filter (info)', () => {
    expect(check(checkClone3, modernHost()).verdict).toBe('ok');
    const c = check(checkClone3, withProbe(modernHost(), { clone3: ENOSYS }));
    expect(c.verdict).toBe('info');
    expect(c.detail).toMatch(/Docker's default profile/);
    expect(c.fix).toBeDefined();
  });
  test('setns with a pidfd: EPERM (unprivileged) and 0 (root) mean supported, EINVAL means too old', () => {
    expect(check(checkSetnsPidfd, modernHost()).verdict).toBe('ok');
    expect(check(checkSetnsPidfd, withProbe(asRoot(modernHost()), { setns_pidfd: { ret: 0, errno: 0, err: null } })).verdict).toBe('ok');
    const c = check(checkSetnsPidfd, withProbe(modernHost(), { setns_pidfd: EINVAL }));
    expect(c).toMatchObject({ verdict: 'warn', fix: 'boot Linux 5.8+' });
    expect(c.detail).toMatch(/nsrun exec TARGET/);
  });
  test('setns: no pidfd to try with is unknown', () => {
    expect(check(checkSetnsPidfd, withProbe(modernHost(), { pidfd_open: ENOSYS, setns_pidfd: undefined })).verdict).toBe('info');
  });
  test('openat2: ok, or info when missing (nsrun does without)', () => {
    expect(check(checkOpenat2, modernHost()).detail).toBe('supported (kernel 5.6+)');
    expect(check(checkOpenat2, withProbe(modernHost(), { openat2: ENOSYS })).verdict).toBe('info');
  });
  test('close_range: with CLOSE_RANGE_CLOEXEC ok; without it (5.9/5.10) or missing, warn', () => {
    expect(check(checkCloseRange, modernHost()).detail).toBe('supported, with CLOSE_RANGE_CLOEXEC (kernel 5.11+)');
    const old = check(checkCloseRange, withProbe(modernHost(), { close_range_cloexec: EINVAL }));
    expect(old.verdict).toBe('warn');
    expect(old.detail).toMatch(/^supported without CLOSE_RANGE_CLOEXEC \(EINVAL/);
    const sim = withProbe(modernHost(), { close_range: ENOSYS, close_range_cloexec: ENOSYS });
    sim.files['/proc/sys/kernel/osrelease'] = '5.4.0\n';
    expect(check(checkCloseRange, sim)).toMatchObject({ verdict: 'warn', fix: 'boot Linux 5.11+' });
  });
  test('open_tree/move_mount: ok; missing warns (--rootfs)', () => {
    expect(check(checkMountApi, modernHost()).verdict).toBe('ok');
    const c = check(checkMountApi, withProbe(modernHost(), { open_tree: ENOSYS }));
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/--rootfs/);
    expect(check(checkMountApi, withProbe(modernHost(), { move_mount: ENOSYS })).verdict).toBe('warn');
  });
  test('memfd_create: ok; non-executable memfds (vm.memfd_noexec) fail, as nsrun-init could not run', () => {
    expect(check(checkMemfd, modernHost()).verdict).toBe('ok');
    const sim = withProbe(modernHost(), { memfd_create: { ret: 3, errno: 0, err: null, exec: false, seals: true } });
    sim.files['/proc/sys/vm/memfd_noexec'] = '2\n';
    expect(check(checkMemfd, sim)).toMatchObject({ verdict: 'fail', detail: expect.stringContaining('vm.memfd_noexec = 2'), fix: 'sysctl -w vm.memfd_noexec=0' });
    expect(check(checkMemfd, withProbe(modernHost(), { memfd_create: ENOSYS })).verdict).toBe('fail');
  });
  test('an architecture without a syscall table entry: unknown for those calls', () => {
    const sim = withProbe(modernHost(), { memfd_create: undefined });
    const c = check(checkMemfd, sim);
    expect(c.verdict).toBe('info');
    expect(c.detail).toBe('unknown: no probe for x86_64');
  });
});

describe('cgroup.kill and time namespaces', () => {
  test('cgroup.kill in our own cgroup: ok', () => {
    expect(check(checkCgroupKill, modernHost()).detail).toBe(`supported: ${OWN_DIR}/cgroup.kill (kernel 5.14+)`);
  });
  test('no non-root v2 cgroup (a hybrid host in the root cgroup): the kernel symbol decides', () => {
    const sim = modernHost();
    sim.files['/proc/self/mountinfo'] = HYBRID_MOUNTINFO;
    sim.files['/proc/self/cgroup'] = '1:memory:/\n0::/\n';
    sim.dirs = { '/sys/fs/cgroup/unified': ['cgroup.controllers', 'cgroup.procs'] };
    sim.files['/proc/kallsyms'] = '0000000000000000 T cgroup_procs_write\n0000000000000000 t cgroup_kill_write\n';
    expect(check(checkCgroupKill, sim)).toMatchObject({ verdict: 'ok', detail: expect.stringContaining('cgroup_kill_write (no cgroup below the v2 root /sys/fs/cgroup/unified') });
    sim.files['/proc/kallsyms'] = '0000000000000000 T cgroup_procs_write\n';
    expect(check(checkCgroupKill, sim)).toMatchObject({ verdict: 'info', detail: expect.stringMatching(/^not supported/) });
    delete sim.files['/proc/kallsyms'];
    expect(check(checkCgroupKill, sim)).toMatchObject({ verdict: 'info', detail: expect.stringMatching(/^unknown/) });
  });
  test('time namespaces: ok, or warn without /proc/self/ns/time', () => {
    expect(check(checkTimeNs, modernHost()).verdict).toBe('ok');
    const sim = modernHost();
    delete sim.links['/proc/self/ns/time'];
    expect(check(checkTimeNs, sim)).toMatchObject({ verdict: 'warn', detail: expect.stringContaining('--time') });
  });
});

describe('user namespaces', () => {
  test('Debian switch: absent or 1 ok; 0 fails unprivileged, warns for root', () => {
    expect(check(checkUsernsClone, modernHost()).verdict).toBe('ok');
    const sim = modernHost();
    sim.files['/proc/sys/kernel/unprivileged_userns_clone'] = '1\n';
    expect(check(checkUsernsClone, sim).detail).toBe('kernel.unprivileged_userns_clone = 1');
    sim.files['/proc/sys/kernel/unprivileged_userns_clone'] = '0\n';
    expect(check(checkUsernsClone, sim)).toMatchObject({ verdict: 'fail', fix: expect.stringMatching(/^sysctl -w kernel.unprivileged_userns_clone=1/) });
    expect(check(checkUsernsClone, asRoot(sim)).verdict).toBe('warn');
  });
  test('user.max_user_namespaces: 0 fails (root too), unreadable is unknown', () => {
    expect(check(checkMaxUserns, modernHost()).detail).toBe('user.max_user_namespaces = 63432');
    const sim = asRoot(modernHost());
    sim.files['/proc/sys/user/max_user_namespaces'] = '0\n';
    expect(check(checkMaxUserns, sim)).toMatchObject({ verdict: 'fail', fix: expect.stringMatching(/^sysctl -w user.max_user_namespaces=15000/) });
    delete sim.files['/proc/sys/user/max_user_namespaces'];
    expect(check(checkMaxUserns, sim).verdict).toBe('info');
  });
  test('AppArmor restriction: fails unprivileged, warns for root', () => {
    expect(check(checkApparmorUserns, modernHost()).verdict).toBe('ok');
    const sim = modernHost();
    sim.files['/proc/sys/kernel/apparmor_restrict_unprivileged_userns'] = '0\n';
    expect(check(checkApparmorUserns, sim).verdict).toBe('ok');
    sim.files['/proc/sys/kernel/apparmor_restrict_unprivileged_userns'] = '1\n';
    const c = check(checkApparmorUserns, sim);
    expect(c.verdict).toBe('fail');
    expect(c.fix).toMatch(/apparmor_restrict_unprivileged_userns=0.*"userns,"/);
    expect(check(checkApparmorUserns, asRoot(sim)).verdict).toBe('warn');
  });
  test('seccomp: none ok, a filter warns, strict mode fails, no line is unknown', () => {
    const sim = modernHost();
    expect(check(checkSeccomp, sim).verdict).toBe('ok');
    sim.files['/proc/self/status'] = 'Seccomp:\t2\nSeccomp_filters:\t1\n';
    expect(check(checkSeccomp, sim)).toMatchObject({ verdict: 'warn', detail: expect.stringMatching(/^1 filter \(inherited/) });
    sim.files['/proc/self/status'] = 'Seccomp:\t1\n';
    expect(check(checkSeccomp, sim).verdict).toBe('fail');
    sim.files['/proc/self/status'] = 'Name:\tnode\n';
    expect(check(checkSeccomp, sim).verdict).toBe('info');
  });
  test('the probe, unprivileged: unshare -U true as the caller', () => {
    const sim = modernHost();
    expect(check(checkUsernsProbe, sim)).toMatchObject({ verdict: 'ok', detail: 'alice (uid 1000) created a user namespace (unshare -U true)' });
    expect(sim.ran).toContain('unshare -U true');
  });
  test('the probe fails and names the cause: user.max_user_namespaces is 0', () => {
    const sim = answer(modernHost(), (c, a) => c === 'unshare' && a.join(' ') === '-U true', failed('unshare: unshare failed: No space left on device'));
    sim.files['/proc/sys/user/max_user_namespaces'] = '0\n';
    const c = check(checkUsernsProbe, sim);
    expect(c).toEqual({ id: 'userns-probe', title: 'userns (unprivileged)', verdict: 'fail', detail: 'user.max_user_namespaces is 0', fix: 'sysctl -w user.max_user_namespaces=15000' });
    expect(formatDoctor([c])[0]).toBe('fail  userns (unprivileged) user.max_user_namespaces is 0 — fix: sysctl -w user.max_user_namespaces=15000');
  });
  test('the probe fails without a known cause: the tool\'s own message', () => {
    const sim = answer(modernHost(), (c) => c === 'unshare', failed('unshare: unshare failed: Operation not permitted'));
    expect(check(checkUsernsProbe, sim)).toMatchObject({ verdict: 'fail', detail: 'unshare -U true failed: unshare: unshare failed: Operation not permitted' });
  });
  test('as root: root and nobody are both tried; only nobody failing is a warning', () => {
    const sim = asRoot(modernHost());
    expect(check(checkUsernsProbe, sim).verdict).toBe('ok');
    expect(sim.ran).toContain('setpriv --reuid=65534 --regid=65534 --clear-groups -- /usr/bin/unshare -U true');
    const restricted = answer(asRoot(modernHost()), (c) => c === 'setpriv', failed('unshare: unshare failed: Operation not permitted'));
    restricted.files['/proc/sys/kernel/apparmor_restrict_unprivileged_userns'] = '1\n';
    expect(check(checkUsernsProbe, restricted)).toMatchObject({
      verdict: 'warn',
      detail: 'root can create one, nobody (uid 65534) cannot: AppArmor restricts unprivileged user namespaces',
    });
    const none = answer(asRoot(modernHost()), (c) => c === 'unshare', failed('unshare: unshare failed: No space left on device'));
    none.files['/proc/sys/user/max_user_namespaces'] = '0\n';
    expect(check(checkUsernsProbe, none)).toMatchObject({ verdict: 'fail', detail: 'even root cannot create one: user.max_user_namespaces is 0' });
  });
  test('the probe without the tools: unknown', () => {
    const sim = asRoot(modernHost());
    delete sim.bins.setpriv;
    expect(check(checkUsernsProbe, sim).verdict).toBe('info');
    delete sim.bins.unshare;
    expect(check(checkUsernsProbe, sim)).toMatchObject({ verdict: 'info', fix: 'apt-get install util-linux' });
  });
});

describe('container detection', () => {
  test('none: ok', () => {
    expect(check(checkContainer, modernHost()).verdict).toBe('ok');
  });
  test('Docker: /.dockerenv in a PID namespace of its own warns, with the docker flags', () => {
    const sim = modernHost();
    sim.files['/.dockerenv'] = '';
    sim.links['/proc/self/ns/pid'] = 'pid:[4026532301]';
    sim.files['/proc/self/cgroup'] = '0::/\n';
    const c = check(checkContainer, sim);
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^inside a container \(Docker: \/\.dockerenv; pid:\[4026532301\]\)/);
    expect(c.fix).toMatch(/--security-opt seccomp=unconfined --security-opt apparmor=unconfined/);
  });
  test('Kubernetes: from the cgroup path and the service variable, with securityContext advice', () => {
    const sim = modernHost();
    sim.links['/proc/self/ns/pid'] = 'pid:[4026532999]';
    sim.files['/proc/self/cgroup'] = '0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-0123456789abcdef.scope\n';
    sim.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
    const c = check(checkContainer, sim);
    expect(c.verdict).toBe('warn');
    expect(c.detail).toContain('Kubernetes');
    expect(c.fix).toMatch(/securityContext/);
  });
  test('Podman and LXC markers', () => {
    const sim = modernHost();
    sim.links['/proc/self/ns/pid'] = 'pid:[4026532999]';
    sim.files['/run/.containerenv'] = '';
    expect(check(checkContainer, sim).detail).toContain('Podman');
    delete sim.files['/run/.containerenv'];
    sim.files['/proc/1/environ'] = 'container=lxc\0HOME=/\0';
    expect(check(checkContainer, sim).detail).toContain("container=lxc in PID 1's environment");
  });
  test('markers but the initial namespaces: an image turned host or VM (info)', () => {
    const sim = modernHost();
    sim.files['/.dockerenv'] = '';
    delete sim.files['/proc/1/environ'];
    const c = check(checkContainer, sim);
    expect(c.verdict).toBe('info');
    expect(c.detail).toMatch(/^\/\.dockerenv, yet this process is in the initial PID and user namespaces.*PID 1's environment is not readable$/);
  });
  test('no markers, yet not the initial PID namespace: nested (info)', () => {
    const sim = modernHost();
    sim.links['/proc/self/ns/pid'] = 'pid:[4026532555]';
    expect(check(checkContainer, sim).verdict).toBe('info');
  });
  test('the container runtimes\' own services are not containers', () => {
    const sim = modernHost();
    sim.files['/proc/self/cgroup'] = '0::/system.slice/docker.service\n';
    expect(check(checkContainer, sim).verdict).toBe('ok');
  });
});

describe('subordinate ids and the setuid helpers', () => {
  test('the caller\'s entries: ok', () => {
    expect(check(checkSubIds, modernHost()).detail).toBe('alice (uid 1000): /etc/subuid 100000:65536; /etc/subgid 100000:65536');
  });
  test('entries by numeric id count too', () => {
    const sim = modernHost();
    sim.files['/etc/subuid'] = '1000:300000:65536\n';
    sim.files['/etc/subgid'] = '1000:300000:65536\n';
    expect(check(checkSubIds, sim).verdict).toBe('ok');
  });
  test('missing entries: warn, with a usermod line over a free range', () => {
    const sim = modernHost();
    sim.files['/etc/subuid'] = 'bob:100000:65536\n';
    delete sim.files['/etc/subgid'];
    const c = check(checkSubIds, sim);
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^no entry for alice \(uid 1000\) in \/etc\/subuid and \/etc\/subgid/);
    expect(c.fix).toBe('as root: usermod --add-subuids 196608-262143 --add-subgids 196608-262143 alice');
  });
  test('root needs none', () => {
    const sim = asRoot(modernHost());
    delete sim.files['/etc/subuid'];
    expect(check(checkSubIds, sim)).toMatchObject({ verdict: 'ok', detail: 'root writes id maps itself and needs no entries' });
  });
  test('newuidmap/newgidmap: setuid root, or file capabilities', () => {
    expect(check(checkNewIdMap, modernHost()).verdict).toBe('ok');
    const sim = modernHost();
    sim.stats['/usr/bin/newuidmap'].mode = 0o755;
    sim.stats['/usr/bin/newgidmap'].mode = 0o755;
    sim.runs.unshift((c, a) => (base(c) === 'getcap' ? ok(`${a[0]} ${a[0].endsWith('newuidmap') ? 'cap_setuid' : 'cap_setgid'}=ep\n`) : undefined));
    expect(check(checkNewIdMap, sim)).toMatchObject({ verdict: 'ok', detail: '/usr/bin/newuidmap with file capability cap_setuid; /usr/bin/newgidmap with file capability cap_setgid' });
  });
  test('neither setuid nor capabilities: warn with chmod', () => {
    const sim = modernHost();
    sim.stats['/usr/bin/newgidmap'].mode = 0o755;
    const c = check(checkNewIdMap, sim);
    expect(c.verdict).toBe('warn');
    expect(c.fix).toBe('chmod u+s /usr/bin/newgidmap (or setcap cap_setgid+ep /usr/bin/newgidmap)');
  });
  test('not installed: warn unprivileged, info for root', () => {
    const sim = modernHost();
    delete sim.bins.newuidmap;
    delete sim.bins.newgidmap;
    expect(check(checkNewIdMap, sim)).toMatchObject({ verdict: 'warn', fix: 'apt-get install uidmap' });
    expect(check(checkNewIdMap, asRoot(sim)).verdict).toBe('info');
  });
  test('getcap output forms', () => {
    expect(hasFileCap('/usr/bin/newuidmap cap_setuid=ep', 'cap_setuid')).toBe(true);
    expect(hasFileCap('/usr/bin/newuidmap = cap_setuid,cap_setgid+ep', 'cap_setgid')).toBe(true);
    expect(hasFileCap('/usr/bin/newuidmap cap_setuid=p', 'cap_setuid')).toBe(false);
    expect(hasFileCap('', 'cap_setuid')).toBe(false);
  });
});

describe('cgroups', () => {
  test('v2 only: ok, with its controllers', () => {
    const sim = modernHost();
    expect(check(checkCgroupLayout, sim)).toMatchObject({ verdict: 'ok', detail: 'v2 (unified) at /sys/fs/cgroup' });
    expect(check(checkCgroupControllers, sim)).toMatchObject({ verdict: 'ok', detail: 'v2 /sys/fs/cgroup: cpuset cpu io memory hugetlb pids rdma misc' });
  });
  test('hybrid: info, v1 controllers listed, v2 without controllers', () => {
    const sim = modernHost();
    sim.files['/proc/self/mountinfo'] = HYBRID_MOUNTINFO;
    sim.files['/sys/fs/cgroup/unified/cgroup.controllers'] = '\n';
    const c = check(checkCgroupLayout, sim);
    expect(c).toMatchObject({ verdict: 'info', detail: 'hybrid: 5 v1 hierarchies under /sys/fs/cgroup, v2 at /sys/fs/cgroup/unified' });
    expect(c.fix).toMatch(/systemd.unified_cgroup_hierarchy=1/);
    expect(check(checkCgroupControllers, sim)).toMatchObject({
      verdict: 'ok',
      detail: 'v1: cpu, cpuacct, memory, pids, devices, name=systemd; v2 /sys/fs/cgroup/unified: none (they are bound to v1)',
    });
  });
  test('v1 only: info; nothing mounted: warn', () => {
    const sim = modernHost();
    sim.files['/proc/self/mountinfo'] = V1_MOUNTINFO;
    expect(check(checkCgroupLayout, sim)).toMatchObject({ verdict: 'info', detail: expect.stringMatching(/^v1 only: 5 hierarchies/) });
    sim.files['/proc/self/mountinfo'] = V2_MOUNTINFO.split('\n').filter((l) => !l.includes('cgroup')).join('\n');
    expect(check(checkCgroupLayout, sim)).toMatchObject({ verdict: 'warn', fix: 'mount -t cgroup2 none /sys/fs/cgroup' });
    expect(check(checkCgroupControllers, sim).verdict).toBe('info');
  });
  test('no controllers anywhere: info', () => {
    const sim = modernHost();
    sim.files['/sys/fs/cgroup/cgroup.controllers'] = '\n';
    expect(check(checkCgroupControllers, sim).verdict).toBe('info');
  });
  test('delegation: a writable own cgroup is ok', () => {
    expect(check(checkCgroupDelegation, modernHost())).toMatchObject({ verdict: 'ok', detail: `delegated to alice (uid 1000): ${OWN_DIR} (cgroup.procs, cgroup.subtree_control writable)` });
  });
  test('delegation: not writable warns, with systemd-run', () => {
    const sim = modernHost();
    sim.writable = [];
    const c = check(checkCgroupDelegation, sim);
    expect(c.verdict).toBe('warn');
    expect(c.detail).toContain(`${OWN_DIR}/cgroup.procs`);
    expect(c.fix).toMatch(/^systemd-run --user --scope -p Delegate=yes/);
  });
  test('delegation: in the root cgroup the fix makes a child, never chowns the root', () => {
    const sim = modernHost();
    sim.files['/proc/self/cgroup'] = '0::/\n';
    const c = check(checkCgroupDelegation, sim);
    expect(c.verdict).toBe('warn');
    expect(c.fix).toMatch(/^as root: mkdir \/sys\/fs\/cgroup\/alice && chown -R alice \/sys\/fs\/cgroup\/alice/);
  });
  test('delegation: root ok; no v2 info', () => {
    expect(check(checkCgroupDelegation, asRoot(modernHost())).verdict).toBe('ok');
    const sim = modernHost();
    sim.files['/proc/self/mountinfo'] = V1_MOUNTINFO;
    expect(check(checkCgroupDelegation, sim).verdict).toBe('info');
  });
  test('a cgroup namespace root in mountinfo is taken off the path', () => {
    const sim = modernHost();
    sim.files['/proc/self/mountinfo'] = V2_MOUNTINFO.replace('0:23 / /sys/fs/cgroup', '0:23 /user.slice /sys/fs/cgroup');
    sim.files['/proc/self/cgroup'] = '0::/user.slice/x.scope\n';
    sim.writable = ['/sys/fs/cgroup/x.scope', '/sys/fs/cgroup/x.scope/cgroup.procs', '/sys/fs/cgroup/x.scope/cgroup.subtree_control'];
    expect(check(checkCgroupDelegation, sim).detail).toContain('/sys/fs/cgroup/x.scope (');
  });
});

describe('terminals', () => {
  test('devpts: a new instance mounts empty in a throwaway namespace: ok', () => {
    const sim = modernHost();
    const c = check(checkDevpts, sim);
    expect(c).toMatchObject({ verdict: 'ok', detail: 'devpts on /dev/pts (mode=620,ptmxmode=000,gid=5); a new instance mounts, empty (sandboxes get their own)' });
    expect(sim.ran.find((r) => r.startsWith('unshare -U -r -m --propagation private sh -c mount -t devpts -o newinstance'))).toBeDefined();
    const root = asRoot(modernHost());
    check(checkDevpts, root);
    expect(root.ran.find((r) => r.startsWith('unshare -m --propagation private sh'))).toBeDefined();
  });
  test('devpts: stacked mounts are reported', () => {
    const sim = modernHost();
    sim.files['/proc/self/mountinfo'] = HYBRID_MOUNTINFO + '\n29 27 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000';
    expect(check(checkDevpts, sim).detail).toContain('(mode=600,ptmxmode=000, 2 mounts stacked there)');
  });
  test('devpts: a fresh mount showing the host\'s ptys is a shared instance (warn)', () => {
    const sim = answer(modernHost(), (c, a) => c === 'unshare' && a.includes('sh'), ok('0\n1\nptmx\n'));
    expect(check(checkDevpts, sim)).toMatchObject({ verdict: 'warn', fix: expect.stringMatching(/4\.7/) });
  });
  test('devpts: the mount refused warns; with no user namespace it is unknown', () => {
    const sim = answer(asRoot(modernHost()), (c, a) => c === 'unshare' && a.includes('sh'), failed('mount: /dev/pts: permission denied.', 32));
    expect(check(checkDevpts, sim)).toMatchObject({ verdict: 'warn', detail: expect.stringContaining('mounting a new instance failed: mount: /dev/pts: permission denied.') });
    const nouserns = answer(modernHost(), (c) => c === 'unshare', failed('unshare: unshare failed: Operation not permitted'));
    expect(check(checkDevpts, nouserns).verdict).toBe('info');
  });
  test('devpts: nothing on /dev/pts warns with the mount line', () => {
    const sim = modernHost();
    sim.files['/proc/self/mountinfo'] = V2_MOUNTINFO.split('\n').filter((l) => !l.includes('devpts')).join('\n');
    expect(check(checkDevpts, sim)).toMatchObject({ verdict: 'warn', fix: 'mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts' });
  });
  test('/dev/ptmx: the 5:2 device ok; a symlink into a ptmxmode=000 devpts warns; missing warns', () => {
    expect(check(checkPtmx, modernHost()).detail).toBe('character device 5:2, mode 0666 (opens the devpts at /dev/pts)');
    const sim = modernHost();
    delete sim.stats['/dev/ptmx'];
    sim.links['/dev/ptmx'] = 'pts/ptmx';
    expect(check(checkPtmx, sim)).toMatchObject({ verdict: 'warn', fix: 'mount -o remount,ptmxmode=0666 /dev/pts' });
    sim.files['/proc/self/mountinfo'] = V2_MOUNTINFO.replace('ptmxmode=000', 'ptmxmode=666');
    expect(check(checkPtmx, sim)).toMatchObject({ verdict: 'ok', detail: 'symlink to pts/ptmx (ptmxmode=666)' });
    delete sim.links['/dev/ptmx'];
    expect(check(checkPtmx, sim)).toMatchObject({ verdict: 'warn', detail: expect.stringMatching(/^missing/) });
  });
  test('/dev/ptmx: mode 0600 is fine for root only', () => {
    const sim = modernHost();
    sim.stats['/dev/ptmx'].mode = 0o600;
    expect(check(checkPtmx, sim)).toMatchObject({ verdict: 'warn', fix: 'chmod 666 /dev/ptmx' });
    expect(check(checkPtmx, asRoot(sim)).verdict).toBe('info');
  });
});

describe('whole hosts', () => {
  test('user namespaces disabled: the probe and the sysctl fail, exit 1', () => {
    const sim = answer(modernHost(), (c, a) => c === 'unshare', failed('unshare: unshare failed: No space left on device'));
    sim.files['/proc/sys/user/max_user_namespaces'] = '0\n';
    const checks = byId(runChecks(envOf(sim)));
    expect(checks['max-userns'].verdict).toBe('fail');
    expect(checks['userns-probe']).toMatchObject({ verdict: 'fail', detail: 'user.max_user_namespaces is 0' });
    expect(checks.devpts.verdict).toBe('info');
    expect(doctorExitCode(Object.values(checks))).toBe(1);
  });
  test('Ubuntu 24.04 with the AppArmor restriction, run by a user', () => {
    const sim = answer(modernHost(), (c) => c === 'unshare', failed('unshare: write failed /proc/self/uid_map: Operation not permitted'));
    sim.files['/proc/sys/kernel/apparmor_restrict_unprivileged_userns'] = '1\n';
    const checks = byId(runChecks(envOf(sim)));
    expect(checks['apparmor-userns'].verdict).toBe('fail');
    expect(checks['userns-probe']).toMatchObject({ verdict: 'fail', detail: 'AppArmor restricts unprivileged user namespaces' });
  });
  test('inside Docker with its default seccomp profile', () => {
    const sim = withProbe(asRoot(modernHost()), { clone3: ENOSYS });
    sim.files['/.dockerenv'] = '';
    sim.files['/proc/self/status'] = 'Seccomp:\t2\nSeccomp_filters:\t1\n';
    sim.links['/proc/self/ns/pid'] = 'pid:[4026532300]';
    sim.files['/proc/self/cgroup'] = '0::/\n';
    answer(sim, (c) => c === 'unshare' || c === 'setpriv', failed('unshare: unshare failed: Operation not permitted'));
    const checks = byId(runChecks(envOf(sim)));
    expect(checks.container.verdict).toBe('warn');
    expect(checks.seccomp.verdict).toBe('warn');
    expect(checks.clone3.verdict).toBe('info');
    expect(checks['userns-probe']).toMatchObject({ verdict: 'fail', detail: 'even root cannot create one: a seccomp filter blocks it', fix: expect.stringContaining('seccomp=unconfined') });
    expect(checks.devpts.verdict).toBe('warn');
  });
  test('a user without subordinate ids on a v2 host with delegation', () => {
    const sim = modernHost();
    sim.files['/etc/subuid'] = '';
    sim.files['/etc/subgid'] = '';
    const checks = byId(runChecks(envOf(sim)));
    expect(checks.subids.verdict).toBe('warn');
    expect(checks['cgroup-layout'].verdict).toBe('ok');
    expect(checks['cgroup-delegation'].verdict).toBe('ok');
    expect(doctorExitCode(Object.values(checks))).toBe(0);
  });
  test('a check that throws becomes unknown instead of ending the run', () => {
    const env = envOf(modernHost());
    env.readlink = () => {
      throw new Error('boom');
    };
    const checks = byId(runChecks(env));
    expect(checks.container).toMatchObject({ verdict: 'info', detail: 'unknown: the check itself failed (boom)' });
  });
});

describe('output', () => {
  const sample: Check[] = [
    { id: 'pidfd-open', title: 'pidfd_open', verdict: 'ok', detail: 'supported (kernel 5.3+)' },
    { id: 'userns-probe', title: 'userns (unprivileged)', verdict: 'fail', detail: 'user.max_user_namespaces is 0', fix: 'sysctl -w user.max_user_namespaces=15000' },
    { id: 'cgroup-layout', title: 'cgroup layout', verdict: 'info', detail: 'hybrid', fix: 'boot with X' },
    { id: 'subids', title: 'subuid/subgid', verdict: 'warn', detail: 'no entry' },
  ];
  test('one aligned line per check, the fix after a dash, then a summary', () => {
    expect(formatDoctor(sample)).toEqual([
      'ok    pidfd_open            supported (kernel 5.3+)',
      'fail  userns (unprivileged) user.max_user_namespaces is 0 — fix: sysctl -w user.max_user_namespaces=15000',
      'info  cgroup layout         hybrid — fix: boot with X',
      'warn  subuid/subgid         no entry',
      '4 checks: 1 ok, 1 warn, 1 fail, 1 info; 1 failed: nsrun cannot work fully here until they are fixed',
    ]);
    expect(formatDoctor(sample.filter((c) => c.verdict !== 'fail')).pop()).toBe('3 checks: 1 ok, 1 warn, 0 fail, 1 info; nothing fails');
  });
  test('exit status: 1 only when something fails', () => {
    expect(doctorExitCode(sample)).toBe(1);
    expect(doctorExitCode(sample.filter((c) => c.verdict !== 'fail'))).toBe(0);
  });
  test('every non-ok verdict on the simulated hosts carries a fix; ok ones carry none', () => {
    const sims = [modernHost(), asRoot(modernHost())];
    const bad = modernHost();
    bad.files['/proc/sys/kernel/osrelease'] = '4.19.0\n';
    bad.files['/proc/self/mountinfo'] = V1_MOUNTINFO;
    bad.files['/proc/self/status'] = 'Seccomp:\t2\n';
    bad.files['/etc/subuid'] = '';
    bad.writable = [];
    withProbe(bad, { pidfd_open: ENOSYS, setns_pidfd: undefined, clone3: ENOSYS, openat2: ENOSYS, close_range: ENOSYS, close_range_cloexec: ENOSYS, open_tree: ENOSYS });
    delete bad.links['/proc/self/ns/time'];
    delete bad.bins.newuidmap;
    sims.push(bad);
    for (const sim of sims) {
      for (const c of runChecks(envOf(sim))) {
        if (c.verdict === 'ok') expect(c.fix, c.id).toBeUndefined();
        else expect(c.fix, `${c.id}: ${c.detail}`).toBeTruthy();
      }
    }
  });
  test('JSON: {id, title, verdict, detail, fix?}', () => {
    const parsed = JSON.parse(JSON.stringify(sample)) as Record<string, unknown>[];
    expect(Object.keys(parsed[0])).toEqual(['id', 'title', 'verdict', 'detail']);
    expect(Object.keys(parsed[1])).toEqual(['id', 'title', 'verdict', 'detail', 'fix']);
  });
});

test('mountinfo: escaped paths and optional fields', () => {
  const [m] = parseMountinfo('36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue');
  expect(m).toMatchObject({ id: 36, parent: 35, root: '/mnt1', mountPoint: '/mnt/with space', fstype: 'ext3', source: '/dev/root', superOptions: 'rw,errors=continue' });
});
