// Resource limits with the cgroup v2 driver, for real: run by `npm run test:cgroup2` inside a VM
// with a pure v2 hierarchy (cpuset cpu io memory hugetlb pids; /dev/vda is 254:0). On a host
// that is not pure v2 every test skips with the stated reason. Timeouts allow for TCG (~15x).
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { cgroupInfo } from '../../src/cgroup/sandbox-cgroup';
import { pause, ps, resume, run, spawn, type Sandbox } from '../../src/index';
import { isRoot, NOBODY } from '../helpers/caps';
import { CGROUP2_ROOT, CGROUP2_SKIP_REASON, delegate, enableControllers, inCgroup, makeTestCgroup, onCgroup2Host, type TestCgroup } from '../helpers/cgroup2';
import { NSRUN, nsrun, setprivPrefix } from '../helpers/cli';
import { poll } from '../helpers/wait';

const ok = onCgroup2Host && isRoot;
const reason = onCgroup2Host ? 'needs root' : CGROUP2_SKIP_REASON;
const title = (t: string) => (ok ? t : `${t} (skipped: ${reason})`);
const T = 240_000;
const tag = `cg2t${process.pid}`;

const made: TestCgroup[] = [];
const started: (ChildProcess | Sandbox)[] = [];
afterEach(() => {
  for (const c of started.splice(0)) c.kill('SIGKILL');
  while (made.length) made.pop()!.remove();
});

/** nsrun-* cgroups of this test file, anywhere under the root (two levels deep). */
function leftovers(): string[] {
  if (!ok) return [];
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name.startsWith(`nsrun-${tag}`) || (e.name.startsWith('nsrun-') && dir !== CGROUP2_ROOT)) out.push(path.join(dir, e.name));
      if (depth > 0) walk(path.join(dir, e.name), depth - 1);
    }
  };
  walk(CGROUP2_ROOT, 1);
  return out.filter((d) => !d.includes('/nsrun-test-') || path.basename(d).startsWith('nsrun-') && !path.basename(d).startsWith('nsrun-test-'));
}
afterAll(() => expect(leftovers()).toEqual([]));

const waitFor = (pred: () => boolean, ms = 60_000): Promise<true> => poll(pred, 'condition', ms, 50);

const read = (f: string) => fs.readFileSync(f, 'utf8').trim();
function alive(pid: number): boolean {
  try {
    return !/^Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]);
  } catch {
    return false;
  }
}

describe.skipIf(!ok)(title('cgroup v2 limits (root)'), () => {
  test('each limit is in its file, the command starts inside, the cgroup goes at exit', { timeout: T }, async () => {
    const sb = await spawn({
      command: ['sh', '-c', 'cat /proc/self/cgroup; grep Cpus_allowed_list /proc/self/status; exec sleep 300'],
      name: `${tag}-files`,
      limits: { memory: '64m', memorySwap: '96m', cpus: 0.5, cpuWeight: 200, cpuset: '0', pids: 20, ioMax: [{ device: '/dev/vda', rbps: '1m', wbps: 2097152, riops: 100, wiops: 200 }] },
    });
    started.push(sb);
    let out = '';
    sb.stdout!.on('data', (d) => (out += d));
    await waitFor(() => out.includes('Cpus_allowed_list'));
    const info = cgroupInfo(sb.pid)!;
    expect(info).toMatchObject({ version: 2, name: `nsrun-${tag}-files`, dirs: [`${CGROUP2_ROOT}/nsrun-${tag}-files`] });
    expect(info.files).toMatchObject({
      'cpu.max': '50000 100000',
      'cpu.weight': '200',
      'cpuset.cpus': '0',
      'memory.max': '67108864',
      'memory.swap.max': '33554432',
      'memory.oom.group': '1',
      'pids.max': '20',
      'io.max': '254:0 rbps=1048576 wbps=2097152 riops=100 wiops=200',
    });
    expect(out).toContain(`0::/nsrun-${tag}-files\n`);
    expect(out).toMatch(/Cpus_allowed_list:\s+0\n/);
    sb.kill('SIGTERM');
    await sb.exited;
    expect(fs.existsSync(info.dirs[0])).toBe(false);
  });

  test('--cpu-shares is converted to cpu.weight as runc does; --explain shows enable, mkdir, writes, attach', { timeout: T }, () => {
    const parent = makeTestCgroup('explain');
    made.push(parent);
    const r = nsrun(['--cgroup-parent', parent.rel, '--cpu-shares', '512', '--io-weight', '300', '--explain', '--', 'sh', '-c', 'cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/cpu.weight'], { timeoutMs: T });
    const p = parent.path.replace(/[/.-]/g, (c) => `\\${c}`);
    expect(r.stderr).toMatch(/cgroup v2: the sandbox's own cgroup nsrun-\d+, made before the clone/);
    expect(r.stderr).toMatch(new RegExp(`echo \\+cpu > ${p}/cgroup\\.subtree_control   \\(enable cpu for the children\\)\\n.*echo \\+io > ${p}/cgroup\\.subtree_control`));
    expect(r.stderr).toMatch(new RegExp(`mkdir ${p}/nsrun-\\d+\\n`));
    expect(r.stderr).toMatch(new RegExp(`echo '20' > ${p}/nsrun-\\d+/cpu\\.weight\\n`));
    expect(r.stderr).toMatch(new RegExp(`echo 'default 300' > ${p}/nsrun-\\d+/io\\.weight\\n`));
    expect(r.stderr).toMatch(new RegExp(`attach: echo CHILD_PID > ${p}/nsrun-\\d+/cgroup\\.procs\\n`));
    expect(r.stdout.trim()).toBe('20'); // 1 + (512 - 2) * 9999 / 262142
    expect(r.status).toBe(0);
    expect(parent.read('cgroup.subtree_control').trim()).toBe('cpu io');
    expect(fs.readdirSync(parent.path).filter((e) => e.startsWith('nsrun-'))).toEqual([]);
  });

  test('--cgroup with limits: inside, the sandbox\'s own cgroup is the root', { timeout: T }, async () => {
    const r = await run({ command: ['cat', '/proc/self/cgroup'], namespaces: ['cgroup'], limits: { pids: 10 } });
    expect(r.stdout).toBe('0::/\n');
  });

  test('a memory hog is OOM-killed with the whole sandbox (memory.oom.group): exit 137 and one line', { timeout: T }, () => {
    const r = nsrun(['--memory', '32m', '--pid', '--', 'sh', '-c', 'sleep 300 & tail /dev/zero'], { timeoutMs: T });
    expect(r.status).toBe(137);
    expect(r.stderr).toMatch(/^nsrun: the sandbox was killed by the memory limit \(--memory 32 MiB\): out of memory \(memory\.events: oom_kill [1-9]\d*\)\n$/);
  });

  test('--cpus 0.5 holds a busy loop near 50% of one CPU (cpu.max), measured over 2 s', { timeout: T }, () => {
    // the guest keeps the host's time (tsc=reliable), so CPU time against wall time is meaningful
    // CPU time of the loop alone: python's start-up under emulation costs a good part of a second
    const prog = 'import os,time\nb=os.times()\nt=time.time()\nwhile time.time()-t<2.0: pass\nc=os.times()\nprint(c.user+c.system-b.user-b.system)';
    const r = nsrun(['--cpus', '0.5', '--', 'python3', '-c', prog], { timeoutMs: T });
    expect(r.status).toBe(0);
    const used = Number(r.stdout.trim());
    expect(used).toBeGreaterThan(0.6);
    expect(used).toBeLessThan(1.4);
  });

  test('--pids stops a fork bomb', { timeout: T }, async () => {
    const r = await run({ command: ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 30 & done; kill $(jobs -p) 2>/dev/null; wait'], namespaces: ['pid'], limits: { pids: 4 } });
    expect(r.stderr).toMatch(/Cannot fork|Resource temporarily unavailable/);
  });

  test('pause freezes (cgroup.events frozen 1, no progress), resume continues; ps shows it', { timeout: T }, async () => {
    const counter = `/tmp/nsrun-${tag}-counter`;
    const name = `${tag}-pause`;
    const sb = await spawn({ command: ['sh', '-c', `i=0; while :; do i=$((i+1)); echo $i > ${counter}; sleep 0.05; done`], name, limits: { pids: 50 } });
    started.push(sb);
    await waitFor(() => fs.existsSync(counter) && Number(read(counter)) > 2);
    await pause(name);
    const dir = cgroupInfo(sb.pid)!.dirs[0];
    expect(read(`${dir}/cgroup.events`)).toMatch(/^frozen 1$/m);
    expect(read(`${dir}/cgroup.freeze`)).toBe('1');
    const a = read(counter);
    await new Promise((r) => setTimeout(r, 1500));
    expect(read(counter)).toBe(a);
    expect(ps().find((e) => e.name === name)?.state).toBe('paused');
    await resume(name);
    expect(read(`${dir}/cgroup.events`)).toMatch(/^frozen 0$/m);
    await waitFor(() => Number(read(counter)) > Number(a) + 1);
    sb.kill('SIGKILL');
    await sb.exited;
    fs.rmSync(counter, { force: true });
  });

  test('nsrun kill TARGET KILL goes through cgroup.kill: nothing escapes', { timeout: T }, async () => {
    const name = `${tag}-kill`;
    const sb = await spawn({ command: ['sh', '-c', 'setsid sleep 300 & setsid sleep 300 & wait'], name, limits: { pids: 20 } });
    started.push(sb);
    const dir = cgroupInfo(sb.pid)!.dirs[0];
    await waitFor(() => read(`${dir}/cgroup.procs`).split('\n').length >= 4);
    const pids = read(`${dir}/cgroup.procs`).split('\n').map(Number);
    expect(nsrun(['kill', name, 'KILL'], { timeoutMs: T }).status).toBe(0);
    const r = await sb.exited;
    expect(r.signal === 'SIGKILL' || r.exitCode === 137).toBe(true);
    await waitFor(() => !pids.some(alive), 30_000);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('after SIGKILL of nsrun the cgroup stays; the next run collects it', { timeout: T }, async () => {
    const name = `${tag}-sigkill`;
    const dir = `${CGROUP2_ROOT}/nsrun-${name}`;
    const c = spawnChild(process.execPath, [NSRUN, '--name', name, '--pids', '10', '--', 'sleep', '300'], { stdio: 'ignore' });
    started.push(c);
    await waitFor(() => fs.existsSync(dir) && read(`${dir}/cgroup.procs`) !== '');
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    expect(fs.existsSync(dir)).toBe(true);
    const r = nsrun(['--pids', '10', '--', 'true'], { timeoutMs: T });
    expect(r.status).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('limits that cannot be applied: controller and reason named, nothing left behind', { timeout: T }, () => {
    const noPids = makeTestCgroup('nopids');
    made.push(noPids);
    enableControllers(noPids, ['memory']);
    noPids.child('p');
    const busy = makeTestCgroup('busy');
    made.push(busy);
    const sleeper = spawnChild('sh', ['-c', `echo $$ > ${busy.path}/cgroup.procs; exec sleep 300`], { stdio: 'ignore' });
    started.push(sleeper);
    const cases: [string[], RegExp][] = [
      [['--cpuset', '99'], /^nsrun: cgroup: cpuset \(--cpuset\): CPU 99 is not available: \/sys\/fs\/cgroup allows 0-\d+\n$/],
      [['--io-max', `/dev/nsrun-missing:wbps=1m`], /^nsrun: cgroup: io \(--io-max\): \/dev\/nsrun-missing: no such device\n$/],
      [
        ['--cgroup-parent', `${noPids.rel}/p`, '--pids', '5'],
        /^nsrun: cgroup: pids \(--pids\): the pids controller is not available in \/sys\/fs\/cgroup\/nsrun-test-\d+-nopids\/p: it is not enabled in the parent's subtree_control \(\/sys\/fs\/cgroup\/nsrun-test-\d+-nopids\/cgroup.subtree_control\)\nhint: as root: echo \+pids > \/sys\/fs\/cgroup\/nsrun-test-\d+-nopids\/cgroup.subtree_control\n$/,
      ],
      [
        ['--cgroup-parent', busy.rel, '--memory', '64m'],
        /^nsrun: cgroup: memory \(--memory\): \/sys\/fs\/cgroup\/nsrun-test-\d+-busy has processes of its own \(\d+\), so memory cannot be enabled in its subtree_control\nhint: cgroup v2 allows controllers only in cgroups without processes of their own/,
      ],
    ];
    return (async () => {
      await waitFor(() => read(`${busy.path}/cgroup.procs`) !== '');
      for (const [args, re] of cases) {
        const r = nsrun([...args, '--', 'true'], { timeoutMs: T });
        expect(r.status, args.join(' ')).toBe(125);
        expect(r.stderr, args.join(' ')).toMatch(re);
      }
      expect(fs.readdirSync(`${noPids.path}/p`).filter((e) => e.startsWith('nsrun-'))).toEqual([]);
      expect(fs.readdirSync(busy.path).filter((e) => e.startsWith('nsrun-'))).toEqual([]);
      expect(read(`${busy.path}/cgroup.subtree_control`)).toBe('');
    })();
  });
});

describe.skipIf(!ok)(title('cgroup v2 rootless'), () => {
  test('not delegated: the error says so, exit 125', { timeout: T }, () => {
    const r = nsrun(['--pids', '5', '--', 'true'], { asUser: NOBODY, timeoutMs: T });
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/^nsrun: cgroup: pids \(--pids\): \/sys\/fs\/cgroup\S* is not writable by uid 65534: it is not delegated to you\nhint: run nsrun in a cgroup subtree delegated to you: systemd-run --user --scope -p Delegate=yes nsrun \.\.\., or have root chown a cgroup to you and start nsrun from a shell in a child of it \(see nsrun doctor\)\n$/);
  });

  test('in a delegated subtree (chowned to nobody): nsrun enables pids there, limits apply, the cgroup is made next to ours and removed', { timeout: T }, () => {
    const deleg = makeTestCgroup('deleg');
    made.push(deleg);
    enableControllers(deleg, ['memory']); // pids: nsrun enables it itself, as the subtree's owner
    const shell = deleg.child('shell');
    delegate(deleg, NOBODY);
    const xdg = fs.mkdtempSync(path.join(os.tmpdir(), `nsrun-${tag}-xdg-`));
    fs.chownSync(xdg, NOBODY.uid, NOBODY.gid);
    fs.chmodSync(xdg, 0o700);
    try {
      const script = 'cat /proc/self/cgroup; d=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); cat $d/pids.max $d/memory.max';
      const argv = [...inCgroup(shell), ...setprivPrefix(NOBODY), 'env', `XDG_RUNTIME_DIR=${xdg}`, process.execPath, NSRUN, '--pids', '7', '--memory', '48m', '--', 'sh', '-c', script];
      const r = require('node:child_process').spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: T, cwd: '/' });
      expect(r.stderr).toBe('');
      const [cg, pids, mem] = r.stdout.trim().split('\n');
      expect(cg).toMatch(new RegExp(`^0::${deleg.rel}/nsrun-\\d+$`));
      expect(pids).toBe('7');
      expect(mem).toBe(String(48 * 1024 * 1024));
      expect(r.status).toBe(0);
      expect(deleg.read('cgroup.subtree_control').trim()).toBe('memory pids');
      expect(fs.readdirSync(deleg.path).filter((e) => e.startsWith('nsrun-'))).toEqual([]);
      expect(fs.readdirSync(path.join(xdg, 'nsrun', 'cgroups'))).toEqual([]);
    } finally {
      fs.rmSync(xdg, { recursive: true, force: true });
    }
  });
});
