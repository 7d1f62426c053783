// The v2 driver's placement and checks against a simulated hierarchy (plain files in a temporary
// directory): where the sandbox's cgroup goes, which controllers it enables, and the errors for
// the no-internal-processes rule and controllers the parent lacks. The real kernel runs the same
// cases in test/cgroup2 (npm run test:cgroup2).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { detectLayout, resolveCgroupDirs } from '../../src/cgroup/layout';
import { resolveLimits } from '../../src/cgroup/limits';
import { V2Driver } from '../../src/cgroup/v2';
import { formatError } from '../../src/errors';
import { nsrunError } from '../helpers/errors';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A fake cgroup2 tree: root (no cgroup.type) -> user -> shell (where "we" are). */
function tree(opts: { rootOffers?: string; userEnabled?: string; userOffers?: string; userProcs?: string } = {}) {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'nsrun-cg2-'));
  dirs.push(mnt);
  const mk = (rel: string, files: Record<string, string>) => {
    fs.mkdirSync(path.join(mnt, rel), { recursive: true });
    for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(mnt, rel, f), v);
  };
  mk('', { 'cgroup.controllers': opts.rootOffers ?? 'cpuset cpu io memory pids', 'cgroup.subtree_control': 'cpu memory pids', 'cgroup.procs': '1\n' });
  mk('user', { 'cgroup.controllers': opts.userOffers ?? 'cpu memory pids', 'cgroup.subtree_control': opts.userEnabled ?? '', 'cgroup.procs': opts.userProcs ?? '', 'cgroup.type': 'domain' });
  mk('user/shell', { 'cgroup.controllers': '', 'cgroup.subtree_control': '', 'cgroup.procs': `${process.pid}\n`, 'cgroup.type': 'domain' });
  const layout = detectLayout(`30 1 0:40 / ${mnt} rw - cgroup2 cgroup2 rw`);
  const self = resolveCgroupDirs(layout, '0::/user/shell\n');
  return { mnt, driver: new V2Driver(layout, self) };
}

const err = (f: () => unknown): string => formatError(nsrunError(f)).join('\n');

describe('V2Driver.prepare', () => {
  test('the sandbox goes next to our cgroup; missing controllers are enabled in the parent first', () => {
    const { mnt, driver } = tree({ userEnabled: 'pids' });
    const s = driver.prepare({ limits: resolveLimits({ memory: '64m', pids: 9, cpus: 0.25 }, 2), name: 'nsrun-t', rootless: false });
    expect(s.dirs).toEqual([`${mnt}/user/nsrun-t`]);
    expect(s.procs).toEqual([`${mnt}/user/nsrun-t/cgroup.procs`]);
    expect(s.ops.map((o) => [o.op, o.path.slice(mnt.length), o.value])).toEqual([
      ['enable', '/user/cgroup.subtree_control', '+cpu'],
      ['enable', '/user/cgroup.subtree_control', '+memory'],
      ['mkdir', '/user/nsrun-t', undefined],
      ['write', '/user/nsrun-t/cpu.max', '25000 100000'],
      ['write', '/user/nsrun-t/memory.max', String(64 * 1024 * 1024)],
      ['write', '/user/nsrun-t/memory.swap.max', String(64 * 1024 * 1024)],
      ['write', '/user/nsrun-t/memory.oom.group', '1'],
      ['write', '/user/nsrun-t/pids.max', '9'],
    ]);
    expect(fs.existsSync(`${mnt}/user/nsrun-t`)).toBe(false); // prepare creates nothing
  });

  test('--cgroup-parent as a path inside the hierarchy or under its mount', () => {
    const { mnt, driver } = tree({ userEnabled: 'pids' });
    const a = driver.prepare({ limits: resolveLimits({ pids: 5 }, 2), parent: '/user', name: 'nsrun-a', rootless: false });
    const b = driver.prepare({ limits: resolveLimits({ pids: 5 }, 2), parent: `${mnt}/user`, name: 'nsrun-b', rootless: false });
    expect([a.dirs, b.dirs]).toEqual([[`${mnt}/user/nsrun-a`], [`${mnt}/user/nsrun-b`]]);
    expect(err(() => driver.prepare({ limits: resolveLimits({ pids: 5 }, 2), parent: '/nope', name: 'nsrun-c', rootless: false }))).toBe(
      `nsrun: cgroup: pids (--pids): --cgroup-parent /nope: ${mnt}/nope is not a cgroup v2 directory\nhint: create it first (mkdir ${mnt}/nope), or leave --cgroup-parent out to use your own cgroup`,
    );
  });

  test('a controller the parent is not offered: not enabled in the grandparent', () => {
    const { mnt, driver } = tree({ userOffers: 'memory pids' });
    expect(err(() => driver.prepare({ limits: resolveLimits({ cpus: 1 }, 2), name: 'nsrun-t', rootless: false }))).toBe(
      `nsrun: cgroup: cpu (--cpus): the cpu controller is not available in ${mnt}/user: it is not enabled in the parent's subtree_control (${mnt}/cgroup.subtree_control)\nhint: as root: echo +cpu > ${mnt}/cgroup.subtree_control`,
    );
  });

  test('no internal processes: a parent with processes cannot enable a controller', () => {
    const { mnt, driver } = tree({ userProcs: '4242\n' });
    expect(err(() => driver.prepare({ limits: resolveLimits({ memory: '64m' }, 2), name: 'nsrun-t', rootless: false }))).toMatch(
      new RegExp(`^nsrun: cgroup: memory \\(--memory\\): ${mnt}/user has processes of its own \\(4242\\), so memory cannot be enabled in its subtree_control\\nhint: cgroup v2 allows controllers only in cgroups without processes of their own`),
    );
    // already enabled: nothing to write, so processes there do not matter
    const ok = tree({ userProcs: '4242\n', userEnabled: 'memory' });
    expect(ok.driver.prepare({ limits: resolveLimits({ memory: '64m' }, 2), name: 'nsrun-t', rootless: false }).ops[0].op).toBe('mkdir');
  });

  test('freeze and kill need no controller: a cgroup without limits (--cgroup-parent alone)', () => {
    const { mnt, driver } = tree();
    const s = driver.prepare({ limits: {}, name: 'nsrun-t', rootless: false });
    expect(s.ops.map((o) => o.op)).toEqual(['mkdir']);
    expect(s.freezer).toBe(`${mnt}/user/nsrun-t`);
  });

  test('a CPU outside the parent\'s cpuset', () => {
    const { mnt, driver } = tree({ userOffers: 'cpuset', userEnabled: 'cpuset' });
    fs.writeFileSync(`${mnt}/user/cpuset.cpus.effective`, '0-1\n');
    expect(err(() => driver.prepare({ limits: resolveLimits({ cpuset: '1,7' }, 2), name: 'nsrun-t', rootless: false }))).toBe(
      `nsrun: cgroup: cpuset (--cpuset): CPU 7 is not available: ${mnt}/user allows 0-1`,
    );
  });
});
