// cgroup layout detection and per-PID directories, from simulated /proc files.
import { describe, expect, test } from 'vitest';
import { detectLayout, dirFor, parseProcCgroup, pidCgroupDirs, resolveCgroupDirs } from '../../src/cgroup/layout';

// this host: hybrid, separate cpu and cpuacct, a named systemd hierarchy, an empty cgroup2
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;
const HYBRID_SELF = `9:name=systemd:/
8:pids:/
6:freezer:/
4:memory:/process_api/9afb
2:cpuacct:/
1:cpu:/
0::/`;

// a systemd v1 host: cpu and cpuacct co-mounted, net_cls,net_prio too
const V1 = `25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,net_cls,net_prio
32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory`;
const V1_SELF = `7:memory:/user.slice/user-1000.slice/session-2.scope
5:net_cls,net_prio:/
3:cpu,cpuacct:/user.slice`;

const V2 = `26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

describe('detectLayout', () => {
  test('hybrid: v1 hierarchies and a cgroup2 mount', () => {
    const l = detectLayout(HYBRID);
    expect(l.layout).toBe('hybrid');
    expect(l.v1.map((m) => m.controllers.join(','))).toEqual(['cpu', 'cpuacct', 'memory', 'freezer', 'pids', 'name=systemd']);
    expect(l.v2.map((m) => m.mountPoint)).toEqual(['/sys/fs/cgroup/unified']);
  });
  test('v1 only, co-mounted controllers', () => {
    const l = detectLayout(V1);
    expect(l.layout).toBe('v1');
    expect(l.v1.map((m) => m.controllers)).toEqual([['cpu', 'cpuacct'], ['net_cls', 'net_prio'], ['memory']]);
  });
  test('v2 only', () => expect(detectLayout(V2).layout).toBe('v2'));
  test('none', () => expect(detectLayout('22 1 0:5 / /proc rw - proc proc rw').layout).toBe('none'));
});

describe('resolveCgroupDirs', () => {
  test('hybrid: each controller in its own hierarchy; the v2 line goes to the cgroup2 mount', () => {
    const dirs = resolveCgroupDirs(detectLayout(HYBRID), HYBRID_SELF);
    expect(dirFor(dirs, 'memory')?.dir).toBe('/sys/fs/cgroup/memory/process_api/9afb');
    expect(dirFor(dirs, 'cpu')?.dir).toBe('/sys/fs/cgroup/cpu');
    expect(dirFor(dirs, 'cpuacct')?.dir).toBe('/sys/fs/cgroup/cpuacct');
    expect(dirFor(dirs, 'unified')?.dir).toBe('/sys/fs/cgroup/unified');
    expect(dirFor(dirs, 'name=systemd')?.dir).toBe('/sys/fs/cgroup/systemd');
    // a controller no v1 hierarchy has falls back to the unified directory (which may lack it)
    expect(dirFor(dirs, 'io')?.version).toBe(2);
  });
  test('v1 co-mounts: cpu and cpuacct share a directory', () => {
    const dirs = resolveCgroupDirs(detectLayout(V1), V1_SELF);
    expect(dirFor(dirs, 'cpu')?.dir).toBe('/sys/fs/cgroup/cpu,cpuacct/user.slice');
    expect(dirFor(dirs, 'cpuacct')?.dir).toBe('/sys/fs/cgroup/cpu,cpuacct/user.slice');
    expect(dirFor(dirs, 'net_prio')?.dir).toBe('/sys/fs/cgroup/net_cls,net_prio');
    expect(dirFor(dirs, 'memory')?.dir).toBe('/sys/fs/cgroup/memory/user.slice/user-1000.slice/session-2.scope');
    expect(dirFor(dirs, 'pids')).toBeUndefined();
  });
  test('v2: the path joins the mount point', () => {
    const dirs = resolveCgroupDirs(detectLayout(V2), '0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope\n');
    expect(dirs).toHaveLength(1);
    expect(dirs[0].dir).toBe('/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope');
  });
  test('a mount whose root is not /: only the part below it is appended', () => {
    // a container without a cgroup namespace: its own cgroup bound onto /sys/fs/cgroup
    const mi = '900 800 0:23 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw';
    const l = detectLayout(mi);
    expect(resolveCgroupDirs(l, '0::/docker/abc')[0].dir).toBe('/sys/fs/cgroup');
    expect(resolveCgroupDirs(l, '0::/docker/abc/sub')[0].dir).toBe('/sys/fs/cgroup/sub');
    // outside the mount's root: unreachable through it (not /sys/fs/cgroup/../..)
    expect(resolveCgroupDirs(l, '0::/docker/abcdef')[0].dir).toBeUndefined();
    expect(resolveCgroupDirs(l, '0::/system.slice')[0].dir).toBeUndefined();
  });
  test('cgroup namespace: a path above the reader\'s namespace root is unreachable', () => {
    const l = detectLayout(V2);
    expect(resolveCgroupDirs(l, '0::/../../system.slice/other.service')[0].dir).toBeUndefined();
    expect(resolveCgroupDirs(l, '0::/')[0].dir).toBe('/sys/fs/cgroup');
  });
  test('the closest mount wins; a writable one over a read-only bind of the same root', () => {
    const mi = `26 22 0:23 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw
27 22 0:23 / /mnt/cg rw - cgroup2 cgroup2 rw
28 22 0:23 /a/b /srv/ab rw - cgroup2 cgroup2 rw`;
    const l = detectLayout(mi);
    expect(resolveCgroupDirs(l, '0::/x')[0].dir).toBe('/mnt/cg/x');
    expect(resolveCgroupDirs(l, '0::/a/b/c')[0].dir).toBe('/srv/ab/c');
  });
  test('escaped mount points', () => {
    const l = detectLayout('26 22 0:23 / /mnt/with\\040space rw - cgroup2 cgroup2 rw');
    expect(resolveCgroupDirs(l, '0::/s')[0].dir).toBe('/mnt/with space/s');
  });
});

test('parseProcCgroup keeps colons in paths and reads co-mounted controller lists', () => {
  expect(parseProcCgroup('3:cpu,cpuacct:/a:b\n0::/\n')).toEqual([
    { id: 3, controllers: ['cpu', 'cpuacct'], path: '/a:b' },
    { id: 0, controllers: [], path: '/' },
  ]);
});

test('pidCgroupDirs reads /proc through the given reader; a gone pid is undefined', () => {
  const files: Record<string, string> = { '/proc/self/mountinfo': V2, '/proc/42/cgroup': '0::/a\n' };
  const r = pidCgroupDirs(42, (f) => files[f]);
  expect(r?.layout.layout).toBe('v2');
  expect(r?.dirs[0].dir).toBe('/sys/fs/cgroup/a');
  expect(pidCgroupDirs(43, (f) => files[f])).toBeUndefined();
});

test('this host: our own memory directory exists', () => {
  const r = pidCgroupDirs('self');
  expect(r).toBeDefined();
  for (const d of r!.dirs.filter((x) => x.dir)) expect(require('node:fs').existsSync(d.dir!)).toBe(true);
});
