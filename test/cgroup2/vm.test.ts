// The cgroup v2 test environment itself (npm run test:cgroup2 boots it): a pure v2 hierarchy with
// the controllers nsrun limits, nsrun working in it as root and rootless, and a sandbox made by
// nsrun confined by a v2 memory limit through the cgroup filesystem alone. On a host that is not
// pure v2 (ours and CI are hybrid v1) every test skips with CGROUP2_SKIP_REASON.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { hasNewuidmap, isRoot, NOBODY, subidUser } from '../helpers/caps';
import { CGROUP2_ROOT, CGROUP2_SKIP_REASON, delegate, enableControllers, inCgroup, inCgroup2Vm, makeTestCgroup, onCgroup2Host, rootControllers, type TestCgroup } from '../helpers/cgroup2';
import { NSRUN, nsrun, ROOT, setprivPrefix } from '../helpers/cli';
import { poll } from '../helpers/wait';

const ok = onCgroup2Host && isRoot;
const reason = onCgroup2Host ? 'needs root' : CGROUP2_SKIP_REASON;
const title = (t: string) => (ok ? t : `${t} (skipped: ${reason})`);

const made: TestCgroup[] = [];
afterEach(() => {
  while (made.length) made.pop()!.remove();
});

/** PIDs (as the host sees them) of the processes in the PID namespace whose init is `init`. */
function pidsInNamespaceOf(init: number): number[] {
  const ns = fs.readlinkSync(`/proc/${init}/ns/pid`);
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/pid`) === ns) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}

function childrenOf(pid: number): number[] {
  return fs
    .readdirSync(`/proc/${pid}/task`)
    .flatMap((t) => fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/))
    .filter(Boolean)
    .map(Number);
}

const waitFor = <T>(what: string, probe: () => T | undefined, ms = 60_000): Promise<T> => poll(probe, what, ms, 50);

describe.skipIf(!ok)(title('cgroup v2 test VM'), () => {
  test('the hierarchy is pure v2: cgroup2 at /sys/fs/cgroup, no v1 hierarchy, every controller on v2', () => {
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((l) => {
      const f = l.split(' ');
      return { dir: f[4], fstype: f[f.indexOf('-') + 1] };
    });
    expect(mounts.filter((m) => m.fstype === 'cgroup')).toEqual([]);
    expect(mounts.find((m) => m.dir === CGROUP2_ROOT)?.fstype).toBe('cgroup2');
    // /proc/cgroups: "name hierarchy num_cgroups enabled"; hierarchy 0 = on the unified hierarchy.
    const v1 = fs.readFileSync('/proc/cgroups', 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/\s+/)).filter((f) => f[1] !== '0').map((f) => f[0]);
    expect(v1).toEqual([]);
    expect(fs.readFileSync('/proc/self/cgroup', 'utf8')).toMatch(/^0::\//);
  });

  test('the root offers cpuset cpu io memory pids and enables them for its children', () => {
    const want = ['cpuset', 'cpu', 'io', 'memory', 'pids'];
    expect(rootControllers()).toEqual(expect.arrayContaining(want));
    const cg = makeTestCgroup('controllers');
    made.push(cg);
    expect(cg.read('cgroup.controllers').trim().split(' ')).toEqual(expect.arrayContaining(want));
  });

  test('a block device for io.max: /dev/vda', () => {
    expect(fs.statSync('/dev/vda').isBlockDevice()).toBe(true);
  });

  test('nsrun works as root', () => {
    const r = nsrun(['--pid', '--net', '--uts', '--hostname', 'box', '--', 'hostname'], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('box\n');
    expect(r.status).toBe(0);
  });

  test('nsrun works rootless (as nobody)', () => {
    const r = nsrun(['--pid', '--net', '--uts', '--hostname', 'box', '--', 'sh', '-c', 'hostname; cat /proc/self/uid_map'], {
      asUser: NOBODY,
      timeoutMs: 120_000,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toBe('box');
    expect(r.stdout.split('\n')[1].trim().split(/\s+/)).toEqual(['0', '65534', '1']);
    expect(r.status).toBe(0);
  });

  test.skipIf(!subidUser || !hasNewuidmap)(
    `rootless id ranges through newuidmap work (the host's ${subidUser?.name ?? 'nsrun-test'} and /etc/subuid)${subidUser && hasNewuidmap ? '' : ' (skipped: needs the nsrun-test user of .ci/run and uidmap)'}`,
    () => {
      const u = subidUser!;
      const range = `${u.subStart}:1:${u.subCount - 1}`;
      const r = nsrun(['-p', '-r', '--map-users', range, '--map-groups', range, '--', 'cat', '/proc/self/uid_map'], {
        asUser: { uid: u.uid, gid: u.gid },
        timeoutMs: 120_000,
      });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/))).toEqual([
        ['0', String(u.uid), '1'],
        ['1', String(u.subStart), String(u.subCount - 1)],
      ]);
    },
  );

  test.skipIf(!inCgroup2Vm)(`the VM's root is the host's, read-only, with tmpfs scratch${inCgroup2Vm ? '' : ' (skipped: only in the npm run test:cgroup2 VM)'}`, () => {
    expect(() => fs.writeFileSync('/etc/nsrun-vm-probe', '')).toThrow(/EROFS/);
    for (const dir of ['/tmp', '/var/tmp', '/run', '/root', '/dev/shm']) {
      const f = `${dir}/nsrun-vm-probe-${process.pid}`;
      fs.writeFileSync(f, 'x');
      fs.unlinkSync(f);
    }
    // The checkout is writable (vitest keeps its cache in node_modules/.vite).
    const f = `${ROOT}/node_modules/.nsrun-vm-probe-${process.pid}`;
    fs.writeFileSync(f, 'x');
    fs.unlinkSync(f);
  });

  test('a delegated subtree works for nobody: it makes children, enables pids, limits one and moves itself in', () => {
    const cg = makeTestCgroup('delegated');
    made.push(cg);
    enableControllers(cg, ['memory', 'pids']);
    delegate(cg, NOBODY);
    const leaf = cg.child('caller');
    const script = [
      'mkdir "$0/box" "$0/box/inner"',
      'echo +pids > "$0/box/cgroup.subtree_control"',
      'echo 7 > "$0/box/inner/pids.max"',
      'echo $$ > "$0/box/inner/cgroup.procs"',
      'cat /proc/self/cgroup',
    ].join(' && ');
    const argv = [...inCgroup(leaf), ...setprivPrefix(NOBODY), 'sh', '-c', script, cg.path];
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`0::${cg.rel}/box/inner\n`);
    expect(r.status).toBe(0);
    expect(cg.read('box/inner/pids.max')).toBe('7\n');
  });

  test('an nsrun sandbox moved into a cgroup through cgroup.procs is held to its memory.max (OOM kill)', async () => {
    const cg = makeTestCgroup('oom');
    made.push(cg);
    cg.write('memory.max', 16 << 20);
    cg.write('memory.swap.max', 0);
    // The command waits for a line on stdin before it allocates, so that it is in the cgroup first;
    // `tail /dev/zero` never sees a newline and buffers without bound.
    const child = spawn(process.execPath, [NSRUN, '--pid', '--', 'sh', '-c', 'read go; exec tail /dev/zero'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // nsrun -> nsrun-init (PID 1 of the sandbox) -> sh
    const init = await waitFor('nsrun-init', () => childrenOf(child.pid!)[0]);
    await waitFor('the command under nsrun-init', () => (childrenOf(init).length ? true : undefined));
    const pids = pidsInNamespaceOf(init);
    expect(pids.length).toBe(2);
    for (const pid of pids) cg.write('cgroup.procs', pid);
    expect(cg.read('cgroup.procs').trim().split('\n').map(Number).sort()).toEqual([...pids].sort());
    for (const pid of pids) expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toBe(`0::${cg.rel}\n`);

    child.stdin.end('go\n');
    const status = await exited;
    expect(stderr).toBe('');
    expect(status).toBe(137); // tail got SIGKILL from the OOM killer
    expect(cg.keyed('memory.events').oom_kill).toBe(1);
    expect(cg.keyed('memory.events').max).toBeGreaterThan(0);
  });
});
