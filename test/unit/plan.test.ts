import { describe, expect, test } from 'vitest';
import type { SandboxOptions } from '../../src/options';
import type { HostFacts } from '../../src/parent/host';
import { parseSubIds } from '../../src/parent/host';
import { buildPlan } from '../../src/plan/build';
import { compilePlan } from '../../src/plan/compile';
import { explainPlan, mapText } from '../../src/plan/explain';
import { checkRanges } from '../../src/plan/validate';
import { nsrunError } from '../helpers/errors';

const ALL = ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup', 'time'] as const;
const rootFacts: HostFacts = {
  euid: 0, egid: 0, userName: 'root', supported: [...ALL], subuid: [], subgid: [],
  newuidmap: '/usr/bin/newuidmap', newgidmap: '/usr/bin/newgidmap', stdinTty: false, stdoutTty: false, stderrTty: false,
};
const userFacts: HostFacts = { ...rootFacts, euid: 1000, egid: 1000, userName: 'alice', subuid: [{ start: 100000, count: 65536 }], subgid: [{ start: 100000, count: 65536 }] };

function usage(fn: () => unknown): string {
  const e = nsrunError(fn);
  return `${e.message}${e.hint ? ` | ${e.hint}` : ''}`;
}

const plan = (o: Partial<SandboxOptions>, f = rootFacts) => buildPlan({ command: ['true'], stdio: 'inherit', ...o }, f);

describe('namespaces', () => {
  test('root gets exactly what it asks for', () => {
    expect(plan({ namespaces: ['net', 'uts'] }).namespaces).toEqual(['uts', 'net']);
    expect(plan({}).namespaces).toEqual([]);
  });
  test('an unprivileged caller gets a user namespace mapping it to root, and --explain says why', () => {
    const p = plan({ namespaces: ['net'] }, userFacts);
    expect(p.namespaces).toEqual(['user', 'net']);
    expect(p.idMaps).toMatchObject({ uid: [{ outer: 1000, inner: 0, count: 1 }], setgroups: 'deny', uidVia: 'write' });
    expect(explainPlan(p).join('\n')).toContain('added: you are not root (uid 1000)');
  });
  test('no namespaces asked: no user namespace even when unprivileged', () => {
    expect(plan({}, userFacts).namespaces).toEqual([]);
  });
  test('--pid implies a mount namespace and a fresh /proc', () => {
    const p = plan({ namespaces: ['pid'] });
    expect(p.namespaces).toEqual(['pid', 'mnt']);
    expect(p.steps.map((s) => s.kind)).toContain('mount-proc');
    expect(p.implied.mnt).toMatch(/proc/);
  });
  test('--all is every supported type', () => {
    expect(plan({ all: true }, { ...rootFacts, supported: ['user', 'pid', 'mnt', 'net'] }).namespaces).toEqual(['user', 'pid', 'mnt', 'net']);
  });
  test('--net brings lo up; --time unshares in the child (clone cannot take CLONE_NEWTIME)', () => {
    const p = plan({ namespaces: ['uts', 'net', 'time'] });
    expect(p.steps.map((s) => s.kind)).toEqual(expect.arrayContaining(['loopback-up', 'unshare-time']));
    const c = compilePlan(p, { initFd: 9 });
    expect(c.wire.cloneFlags & 0x80).toBe(0);
    const clone = explainPlan(p).find((l) => l.includes(' clone '))!;
    expect(clone).toContain('clone(CLONE_NEWUTS)');
    expect(clone).not.toContain('CLONE_NEWTIME');
  });
  test('--net: the child makes the network namespace itself, after go, before anything uses it', () => {
    const p = plan({ namespaces: ['net', 'uts'], hostname: 'h' });
    const kinds = p.steps.map((s) => s.kind);
    expect(kinds.indexOf('unshare-net')).toBeGreaterThan(-1);
    expect(kinds.indexOf('unshare-net')).toBeLessThan(kinds.indexOf('loopback-up'));
    const c = compilePlan(p, { initFd: 9 });
    expect(c.wire.cloneFlags & 0x40000000).toBe(0); // CLONE_NEWNET
    expect(c.wire.cloneFlags & 0x04000000).toBe(0x04000000); // CLONE_NEWUTS
    expect(c.wire.steps.find((w) => w.op === 2)).toMatchObject({ n1: 0x40000000 });
    const text = explainPlan(p);
    expect(text.find((l) => l.includes(' clone '))).toContain('clone(CLONE_NEWUTS) (net: see unshare-net)');
    expect(text.find((l) => l.includes(' unshare-net '))).toContain('unshare(CLONE_NEWNET)');
    // rootless: after the id maps, in the user namespace that owns it
    const r = plan({ namespaces: ['net'] }, userFacts);
    expect(r.steps.map((s) => s.kind).slice(0, 2)).toEqual(['await-id-maps', 'unshare-net']);
  });
  test('an unsupported namespace type is refused', () => {
    expect(usage(() => plan({ namespaces: ['time'] }, { ...rootFacts, supported: ['pid'] }))).toContain('this kernel has no time namespaces');
  });
});

describe('hostname', () => {
  test('needs --uts, never renames the host', () => {
    expect(usage(() => plan({ hostname: 'box' }))).toBe('options: --hostname: needs a UTS namespace, or it would rename the host | add --uts (-u)');
  });
  test.each([
    ['', 'the hostname is empty'],
    ['x'.repeat(65), "65 bytes is longer than the kernel's limit of 64"],
    ['a\nb', 'contains control characters'],
  ])('%j is refused', (name, why) => {
    expect(usage(() => plan({ namespaces: ['uts'], hostname: name }))).toBe(`options: --hostname: ${why}`);
  });
  test('64 bytes is accepted', () => {
    expect(plan({ namespaces: ['uts'], hostname: 'x'.repeat(64) }).steps).toContainEqual({ kind: 'sethostname', hostname: 'x'.repeat(64) });
  });
});

describe('id maps', () => {
  test('map text is one line per range, inside first', () => {
    expect(mapText([{ outer: 1000, inner: 0, count: 1 }, { outer: 100000, inner: 1, count: 65536 }])).toBe('0 1000 1\n1 100000 65536');
  });
  test('overlaps are refused on either side', () => {
    expect(usage(() => checkRanges([{ outer: 0, inner: 0, count: 10 }, { outer: 5, inner: 100, count: 10 }], 'uid map'))).toContain('ranges 1 and 2 overlap (outer ids 5');
    expect(usage(() => checkRanges([{ outer: 0, inner: 0, count: 10 }, { outer: 100, inner: 9, count: 1 }], 'uid map'))).toContain('overlap (inner ids 9');
  });
  test('ranges past the last id, count 0 and too many lines are refused', () => {
    expect(usage(() => checkRanges([{ outer: 4294967290, inner: 0, count: 10 }], 'm'))).toContain('runs past the largest id');
    expect(usage(() => checkRanges([{ outer: 1, inner: 0, count: 0 }], 'm'))).toContain('count must be at least 1');
    const many = Array.from({ length: 341 }, (_, i) => ({ outer: i, inner: i, count: 1 }));
    expect(usage(() => checkRanges(many, 'm'))).toContain("341 ranges exceed the kernel's limit of 340");
  });
  test('root writes ranges directly and may setgroups', () => {
    const range = { outer: 100000, inner: 0, count: 65536 };
    const p = plan({ mapUsers: [range], mapGroups: [range] });
    expect(p.idMaps).toEqual({ uid: [range], gid: [range], setgroups: 'allow', uidVia: 'write', gidVia: 'write' });
    expect(p.namespaces).toContain('user');
    // root's own uid 0 is not mapped: the command becomes inside root instead of the overflow uid
    expect(p.steps.find((s) => s.kind === 'identity')).toMatchObject({ uid: 0, gid: 0, groups: [] });
    expect(usage(() => plan({ mapUsers: [range] }))).toContain('your uid 0 is not in the uid map, and without a gid map');
    // a caller mapped to itself keeps its identity: no switch
    expect(plan({ mapUsers: [{ outer: 0, inner: 0, count: 10 }], mapGroups: [{ outer: 0, inner: 0, count: 10 }] }).steps.some((s) => s.kind === 'identity')).toBe(false);
  });
  test('unprivileged ranges go through newuidmap, within /etc/subuid', () => {
    const p = plan({ mapRootUser: true, mapUsers: [{ outer: 100000, inner: 1, count: 65536 }], mapGroups: [{ outer: 100000, inner: 1, count: 100 }] }, userFacts);
    expect(p.idMaps).toMatchObject({ uidVia: 'newuidmap', gidVia: 'newgidmap', setgroups: 'allow' });
    expect(usage(() => plan({ mapUsers: [{ outer: 300000, inner: 1, count: 10 }] }, userFacts))).toBe(
      'options: --map-users: outside ids 300000-300009 are not yours: mapping them requires an /etc/subuid entry for alice covering them (or root) | your /etc/subuid ranges: 100000-165535',
    );
    expect(usage(() => plan({ mapUsers: [{ outer: 100000, inner: 1, count: 10 }] }, { ...userFacts, newuidmap: undefined }))).toContain('needs newuidmap, which is not installed');
  });
  test('--uid/--gid/--groups must be mapped', () => {
    expect(usage(() => plan({ namespaces: ['user'], uid: 5 }))).toBe('options: --uid: uid 5 is not mapped in the sandbox | map it with --map-user or --map-users');
    expect(usage(() => plan({ namespaces: ['user'], gid: 5 }))).toContain('gid 5 is not mapped');
    expect(usage(() => plan({ namespaces: ['user'], groups: [7] }))).toContain('--groups: gid 7 is not mapped');
  });
  test('unprivileged --groups needs newgidmap (setgroups is denied otherwise)', () => {
    expect(usage(() => plan({ namespaces: ['user'], groups: [0] }, userFacts))).toContain('an unprivileged gid map must deny setgroups');
  });
  test('--map-root-user with --map-user is contradictory', () => {
    expect(usage(() => plan({ mapRootUser: true, mapUser: 5 }))).toContain('cannot be combined');
  });
  test('/etc/subuid parsing matches by name or uid', () => {
    expect(parseSubIds('alice:100000:65536\n1000:300000:10\nbob:1:2\n', 'alice', 1000)).toEqual([{ start: 100000, count: 65536 }, { start: 300000, count: 10 }]);
  });
});

describe('process and stdio', () => {
  test('steps run in a safe order: maps first, identity after mounts, die-with-parent after identity, seccomp and exec last', () => {
    const kinds = plan({ namespaces: ['pid', 'net', 'uts'], hostname: 'h', mapUsers: [{ outer: 0, inner: 0, count: 65536 }], uid: 1, cwd: '/tmp' }).steps.map((s) => s.kind);
    expect(kinds).toEqual(['await-id-maps', 'unshare-net', 'make-private', 'mount-proc', 'sethostname', 'loopback-up', 'setsid', 'stdio', 'close-fds', 'control-fd', 'cap-bounding', 'identity', 'chdir', 'capabilities', 'die-with-parent', 'no-new-privs', 'seccomp', 'exec']);
  });
  test('stdio auto: a pty only when stdin and stdout are terminals', () => {
    expect(plan({ stdio: 'auto' }, { ...rootFacts, stdinTty: true, stdoutTty: true }).stdio).toBe('pty');
    expect(plan({ stdio: 'auto' }, { ...rootFacts, stdinTty: true, stdoutTty: false }).stdio).toBe('inherit');
  });
  test('a pty in a mount namespace comes from the sandbox\'s own devpts', () => {
    const p = plan({ namespaces: ['pid'], stdio: 'pty' });
    expect(p.steps).toContainEqual({ kind: 'mount-devpts' });
    expect(p.steps).toContainEqual({ kind: 'pty', ptmx: '/dev/pts/ptmx' });
  });
  test('env: inherited, extended, or cleared', () => {
    expect(plan({ env: { A: '1' }, baseEnv: { B: '2' } }).env).toEqual(['B=2', 'A=1']);
    expect(plan({ env: { A: '1' }, clearEnv: true, baseEnv: { B: '2' } }).env).toEqual(['A=1']);
    expect(usage(() => plan({ env: { 'A=B': '1' } }))).toContain("'A=B' is not a valid variable name");
  });
  test('--chdir must be absolute and not under /proc/*/fd (CVE-2024-21626)', () => {
    expect(usage(() => plan({ cwd: 'tmp' }))).toContain("'tmp' is not an absolute path");
    expect(usage(() => plan({ cwd: '/proc/self/fd/7' }))).toContain('under /proc/*/fd');
  });
  test('nsrun-init runs the command unless --as-pid-1', () => {
    const p = plan({ namespaces: ['pid'], command: ['sh', '-c', 'x'] });
    expect(compilePlan(p, { initFd: 9, controlFd: 11 }).wire.argv).toEqual(['nsrun-init', '-c', '11', '--', 'sh', '-c', 'x']);
    const q = plan({ namespaces: ['pid'], command: ['sh'], asPid1: true });
    expect(compilePlan(q, { initFd: -1 }).wire.argv).toEqual(['sh']);
  });
  test('missing and empty commands, NUL bytes and unknown options are refused', () => {
    expect(usage(() => buildPlan({ command: [] }, rootFacts))).toBe('options: no command specified | usage: nsrun [options] -- COMMAND [ARG...]');
    expect(usage(() => plan({ command: [''] }))).toBe('options: command: the command name is empty');
    expect(usage(() => plan({ command: ['a', 'b\0c'] }))).toBe('options: argument 1: contains a NUL byte');
    expect(usage(() => plan({ hostnme: 'x' } as Partial<SandboxOptions>))).toBe('options: hostnme: unknown option');
  });
});

describe('rootfs', () => {
  const probe = { root: '/srv/root', sources: { '/data': 'dir' as const, '/etc/hosts': 'file' as const } };
  const rplan = (o: Partial<SandboxOptions>) => buildPlan({ command: ['sh'], stdio: 'inherit', rootfs: '/srv/root', ...o }, rootFacts, probe);

  test('host sources are captured before pivot_root, everything in the new root is attached after', () => {
    const kinds = rplan({ mounts: [{ type: 'bind', source: '/data', target: '/mnt/data' }] }).steps.map((s) => s.kind);
    const pivot = kinds.indexOf('pivot-root');
    expect(pivot).toBeGreaterThan(0);
    expect(kinds.lastIndexOf('capture')).toBeLessThan(pivot);
    expect(kinds.indexOf('attach')).toBeGreaterThan(pivot);
    expect(kinds.indexOf('make-private')).toBeLessThan(kinds.indexOf('bind-rootfs'));
  });
  test('a rootfs implies a mount namespace; fresh /proc and /sys are mounted before the pivot through an O_NOFOLLOW fd', () => {
    const p = rplan({ namespaces: ['pid', 'net'] });
    expect(rplan({}).implied.mnt).toMatch(/root filesystem/);
    const steps = p.steps;
    const pivot = steps.findIndex((s) => s.kind === 'pivot-root');
    for (const name of ['mount-proc', 'mount-sys']) {
      const i = steps.findIndex((s) => s.kind === 'mount' && s.name === name);
      expect(i).toBeLessThan(pivot);
      expect(steps[i]).toMatchObject({ noFollow: true });
    }
  });
  test('no PID namespace: the host /proc is bound instead of a fresh one', () => {
    const steps = rplan({}).steps;
    expect(steps).toContainEqual({ kind: 'capture', source: '/proc', slot: expect.any(Number), recursive: true });
    expect(steps.some((s) => s.kind === 'mount' && s.name === 'mount-proc')).toBe(false);
  });
  test('--overlay builds the merged root on a tmpfs and pivots into it; --read-only remounts / last', () => {
    const o = rplan({ overlay: true });
    expect(o.steps).toContainEqual(expect.objectContaining({ kind: 'pivot-root', newRoot: '/srv/root/merged' }));
    expect(o.steps).toContainEqual(expect.objectContaining({ kind: 'mount', fstype: 'overlay' }));
    const r = rplan({ readOnly: true }).steps;
    const ro = r.findIndex((s) => s.kind === 'remount-ro' && s.path === '/');
    expect(r.slice(ro + 1).some((s) => s.kind === 'mount' || s.kind === 'attach')).toBe(false);
  });
  test('the working directory is checked after chdir', () => {
    const kinds = rplan({ cwd: '/etc' }).steps.map((s) => s.kind);
    expect(kinds.indexOf('check-cwd')).toBeGreaterThan(kinds.indexOf('chdir'));
  });
});

describe('--explain', () => {
  test('every step line names the system call and its man page', () => {
    const probe = { root: '/srv/root', sources: { '/data': 'dir' as const } };
    const plans = [
      buildPlan({ command: ['sh'], stdio: 'pty', all: true, hostname: 'h', uid: 0, cwd: '/' }, rootFacts),
      buildPlan({ command: ['sh'], stdio: 'inherit', namespaces: ['pid', 'net'], rootfs: '/srv/root', overlay: true, mounts: [{ type: 'bind', source: '/data', target: '/d', readOnly: true }, { type: 'tmpfs', target: '/t' }] }, userFacts, probe),
      buildPlan({ command: ['sh'], stdio: 'inherit', rootfs: '/srv/root', readOnly: true }, rootFacts, probe),
    ];
    for (const p of plans) {
      const numbered = explainPlan(p).filter((l) => /^\s*\d+\. /.test(l));
      expect(numbered.length).toBeGreaterThan(5);
      for (const l of numbered) expect(l, l).toMatch(/\[[^\]]*\(\d\)[^\]]*\]$|\[[^\]]+\]$/);
    }
  });
});
