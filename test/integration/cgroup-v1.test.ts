// Resource limits, pause/resume, kill and cleanup with the cgroup v1 driver, for real, on a
// legacy or hybrid host (this development machine and CI). test/cgroup2/ does the same for v2.
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { detectLayout, pidCgroupDirs } from '../../src/cgroup/layout';
import { cgroupInfo } from '../../src/cgroup/sandbox-cgroup';
import { inspect, kill, pause, ps, resume, run, spawn, type Sandbox } from '../../src/index';
import { gated, isRoot, NOBODY, canSwitchUser } from '../helpers/caps';
import { NSRUN, nsrun } from '../helpers/cli';
import { poll } from '../helpers/wait';

const layout = detectLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8')).layout;
const v1Host = layout === 'v1' || layout === 'hybrid';
const has = (ctl: string) => detectLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8')).v1.some((m) => m.controllers.includes(ctl));
const ok = isRoot && v1Host && ['memory', 'pids', 'cpu', 'freezer', 'cpuset', 'blkio'].every(has);
const why = !isRoot ? 'needs root' : !v1Host ? `the host's cgroups are ${layout}, not v1/hybrid (test/cgroup2 covers v2)` : 'needs the memory, pids, cpu, freezer, cpuset and blkio v1 hierarchies';
const tag = `cgt${process.pid}`;
const hasPython = spawnSync('sh', ['-c', 'command -v python3']).status === 0;

/** Every nsrun-* directory in every v1 hierarchy below our own cgroup and at the top. */
function nsrunDirs(): string[] {
  const own = pidCgroupDirs('self')?.dirs ?? [];
  const out: string[] = [];
  for (const d of own) {
    if (d.version !== 1 || !d.dir || !d.mount) continue;
    for (const base of new Set([d.dir, d.mount.mountPoint])) {
      for (const e of fs.readdirSync(base)) if (e.startsWith(`nsrun-${tag}`)) out.push(path.join(base, e));
    }
  }
  return out;
}

const started: (ChildProcess | Sandbox)[] = [];
afterEach(() => {
  for (const c of started.splice(0)) c.kill('SIGKILL');
});
afterAll(() => expect(nsrunDirs()).toEqual([]));

const waitFor = (pred: () => boolean, ms = 10_000): Promise<true> => poll(pred, 'condition', ms);

const read = (f: string) => fs.readFileSync(f, 'utf8').trim();
/** Running (a zombie waiting for its reaper is dead). */
function alive(pid: number): boolean {
  try {
    return !/^Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]);
  } catch {
    return false;
  }
}

describe.skipIf(!ok)(gated(ok, 'cgroup v1 limits (root)', why), () => {
  test('each limit is written to its file before the command runs, and the cgroup is gone after', async () => {
    const sb = await spawn({
      command: ['sh', '-c', 'cat /proc/self/cgroup; grep Cpus_allowed_list /proc/self/status; sleep 30'],
      name: `${tag}-files`,
      limits: { memory: '64m', memorySwap: '128m', cpus: 0.5, cpuShares: 512, cpuset: '1', pids: 20, ioMax: [{ device: '/dev/vda', rbps: '1m', wbps: 2097152, riops: 100, wiops: 200 }] },
    });
    started.push(sb);
    let out = '';
    sb.stdout!.on('data', (d) => (out += d));
    await waitFor(() => out.includes('Cpus_allowed_list'));
    const info = cgroupInfo(sb.pid)!;
    expect(info.version).toBe(1);
    expect(info.name).toBe(`nsrun-${tag}-files`);
    expect(info.files).toMatchObject({
      'memory.limit_in_bytes': '67108864',
      'memory.memsw.limit_in_bytes': '134217728',
      'cpu.cfs_period_us': '100000',
      'cpu.cfs_quota_us': '50000',
      'cpu.shares': '512',
      'cpuset.cpus': '1',
      'pids.max': '20',
      'blkio.throttle.read_bps_device': '254:0 1048576',
      'blkio.throttle.write_bps_device': '254:0 2097152',
      'blkio.throttle.read_iops_device': '254:0 100',
      'blkio.throttle.write_iops_device': '254:0 200',
    });
    // the command saw itself inside, in every hierarchy used (it never ran outside)
    for (const ctl of ['memory', 'pids', 'freezer', 'cpu', 'cpuset', 'blkio']) expect(out).toMatch(new RegExp(`:${ctl}:.*/nsrun-${tag}-files\\n`));
    expect(out).toMatch(/Cpus_allowed_list:\s+1\n/);
    const dirs = info.dirs;
    expect(dirs.every((d) => fs.existsSync(d))).toBe(true);
    sb.kill('SIGTERM');
    await sb.exited;
    expect(dirs.filter((d) => fs.existsSync(d))).toEqual([]);
  });

  test('--cpu-weight is converted to cpu.shares as runc does; --explain lists every step', () => {
    const r = nsrun(['--cpu-weight', '100', '--pids', '10', '--explain', '--', 'sh', '-c', 'cat /sys/fs/cgroup/cpu$(grep :cpu: /proc/self/cgroup | cut -d: -f3)/cpu.shares']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('2597'); // 2 + (100 - 1) * 262142 / 9999
    expect(r.stderr).toMatch(/cgroup v1: the sandbox's own cgroup nsrun-\d+/);
    expect(r.stderr).toMatch(/mkdir \/sys\/fs\/cgroup\/pids\/.*nsrun-\d+\n/);
    expect(r.stderr).toMatch(/echo '2597' > .*\/cpu.shares/);
    expect(r.stderr).toMatch(/echo '10' > .*\/pids.max/);
    expect(r.stderr).toMatch(/attach: echo CHILD_PID > .*\/cgroup.procs/);
  });

  test('--cgroup with limits: the namespace is made inside the sandbox\'s cgroup, which is its root', () => {
    const r = nsrun(['--cgroup', '--pids', '10', '--', 'cat', '/proc/self/cgroup']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect(l).toMatch(/:\/$/);
  });

  test('a memory hog is OOM-killed: exit 137 and one line saying so', () => {
    const r = nsrun(['--memory', '32m', '--', 'tail', '/dev/zero']);
    expect(r.status).toBe(137);
    expect(r.stderr).toBe('nsrun: the sandbox was killed by the memory limit (--memory 32 MiB): out of memory (memory.oom_control: oom_kill 1)\n');
  });

  test('the library reports the OOM kill in the exit result', async () => {
    const r = await run({ command: ['tail', '/dev/zero'], namespaces: ['pid'], limits: { memory: 32 * 1024 * 1024 } });
    expect(r.exitCode === 137 || r.signal === 'SIGKILL').toBe(true);
    expect(r.oom).toEqual({ kills: expect.any(Number), source: 'memory.oom_control' });
    expect(r.oom!.kills).toBeGreaterThanOrEqual(1);
  });

  test('--pids stops a fork bomb: fork fails at the limit', () => {
    const r = nsrun(['--pids', '5', '--pid', '--', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; echo forked; kill $(jobs -p) 2>/dev/null; wait']);
    expect(r.stderr).toMatch(/Cannot fork|Resource temporarily unavailable/);
  });

  test.skipIf(!hasPython)(gated(hasPython, '--cpus 0.5 holds a busy loop near 50% of one CPU over a second', 'needs python3'), () => {
    const prog = 'import os,time\nt=time.time()\nwhile time.time()-t<1.0: pass\nc=os.times()\nprint(c.user+c.system)';
    const r = nsrun(['--cpus', '0.5', '--', 'python3', '-c', prog]);
    expect(r.status).toBe(0);
    const used = Number(r.stdout.trim());
    expect(used).toBeGreaterThan(0.25);
    expect(used).toBeLessThan(0.7);
  });

  test('pause freezes every process (state D, no progress), resume continues; ps and inspect show it', async () => {
    const counter = `/tmp/nsrun-${tag}-counter`;
    const name = `${tag}-pause`;
    const sb = await spawn({ command: ['sh', '-c', `i=0; while :; do i=$((i+1)); echo $i > ${counter}; sleep 0.02; done`], name, limits: { pids: 50 } });
    started.push(sb);
    await waitFor(() => fs.existsSync(counter) && Number(read(counter)) > 2);
    await pause(name);
    const frozenDir = cgroupInfo(sb.pid)!.dirs.find((d) => d.includes('/freezer/'))!;
    expect(read(path.join(frozenDir, 'freezer.state'))).toBe('FROZEN');
    const pids = read(path.join(frozenDir, 'cgroup.procs')).split('\n').map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    for (const p of pids) expect(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1][0]).toBe('D');
    const a = read(counter);
    await new Promise((r) => setTimeout(r, 300));
    expect(read(counter)).toBe(a);
    expect(ps().find((e) => e.name === name)?.state).toBe('paused');
    const info = await inspect(name);
    expect(info.sandboxCgroup).toMatchObject({ version: 1, name: `nsrun-${name}`, frozen: true });
    expect(nsrun(['ps']).stdout).toMatch(new RegExp(`${name}\\s+${sb.pid}\\s+paused`));
    await resume(name);
    await waitFor(() => Number(read(counter)) > Number(a) + 2);
    expect(ps().find((e) => e.name === name)?.state).toBe('running');
    expect(nsrun(['inspect', name]).stdout).toMatch(/nsrun cgroup \(v1\): .*\n.*pids.max=50\n {2}state: running/);
    sb.kill('SIGKILL');
    await sb.exited;
    fs.rmSync(counter, { force: true });
  });

  test('nsrun kill TARGET KILL kills every process in the cgroup, daemons included', async () => {
    const name = `${tag}-kill`;
    const sb = await spawn({ command: ['sh', '-c', 'setsid sleep 100 & sleep 100 & wait'], name, limits: { pids: 20 } });
    started.push(sb);
    const dir = cgroupInfo(sb.pid)!.dirs[0];
    await waitFor(() => read(path.join(dir, 'cgroup.procs')).split('\n').length >= 4);
    const pids = read(path.join(dir, 'cgroup.procs')).split('\n').map(Number);
    expect(nsrun(['kill', name, 'KILL']).status).toBe(0);
    const r = await sb.exited;
    expect(r.signal === 'SIGKILL' || r.exitCode === 137).toBe(true);
    await waitFor(() => !pids.some(alive), 2000);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('what the command leaves running is killed and the cgroup removed at exit; its status is kept', async () => {
    // (nsrun-supervise cannot simply rmdir the busy cgroup: the status goes through its cleanup)
    const r = nsrun(['--pids', '10', '--', 'sh', '-c', `setsid sleep 77${process.pid % 1000} & echo $!; exit 3`]);
    expect(r.status).toBe(3);
    expect(r.stderr).toBe('');
    const pid = Number(r.stdout.trim());
    expect(pid).toBeGreaterThan(1);
    await waitFor(() => !alive(pid), 2000);
    expect(nsrunDirs()).toEqual([]);
  });

  test('after SIGKILL of nsrun the cgroup stays; the next nsrun run collects it', async () => {
    const name = `${tag}-sigkill`;
    const c = spawnChild(process.execPath, [NSRUN, '--name', name, '--pids', '10', '--', 'sleep', '100'], { stdio: 'ignore' });
    started.push(c);
    let dirs: string[] = [];
    await waitFor(() => (dirs = nsrunDirs().filter((d) => d.endsWith(name))).length === 2 && fs.readdirSync('/run/nsrun/cgroups').includes(`nsrun-${name}.json`));
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
    await new Promise((r) => setTimeout(r, 200));
    expect(dirs.filter((d) => fs.existsSync(d))).toHaveLength(2);
    const r = nsrun(['--', 'true']); // any run, with limits or not
    expect(r.status).toBe(0);
    expect(dirs.filter((d) => fs.existsSync(d))).toEqual([]);
    expect(fs.readdirSync('/run/nsrun/cgroups')).not.toContain(`nsrun-${name}.json`);
  });

  test('a limit that cannot be applied is an error naming the controller and reason; nothing left behind', () => {
    const before = nsrunDirs();
    const cases: [string[], RegExp][] = [
      [['--cpuset', '99'], /^nsrun: cgroup: cpuset \(--cpuset\): CPU 99 is not available: \/sys\/fs\/cgroup\/cpuset.* allows 0-\d+\n$/],
      [['--io-max', `/dev/nsrun-missing-${tag}:wbps=1m`], /^nsrun: cgroup: io \(--io-max\): \/dev\/nsrun-missing-cgt\d+: no such device\n$/],
      [['--io-max', '254:999:rbps=1m'], /^nsrun: cgroup: io \(--io-max\): 254:999: no block device 254:999 on this host \(see lsblk\)\n$/],
      [['--io-max', '/dev/null:rbps=1m'], /^nsrun: cgroup: io \(--io-max\): \/dev\/null is not a block device\n$/],
      [['--cgroup-parent', `/nsrun-missing-${tag}`, '--pids', '5'], /^nsrun: cgroup: pids \(--pids\): --cgroup-parent \/nsrun-missing-cgt\d+: \/sys\/fs\/cgroup\/pids\/nsrun-missing-cgt\d+ does not exist\nhint: create it first/],
    ];
    if (!fs.existsSync('/sys/fs/cgroup/blkio/blkio.weight') && !fs.existsSync('/sys/fs/cgroup/blkio/blkio.bfq.weight'))
      cases.push([['--io-weight', '100'], /^nsrun: cgroup: io \(--io-weight\): .* has no blkio.weight or blkio.bfq.weight: proportional I\/O weights need the BFQ scheduler on cgroup v1\n$/]);
    for (const [args, re] of cases) {
      const r = nsrun([...args, '--', 'true']);
      expect(r.status, args.join(' ')).toBe(125);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
    expect(nsrunDirs()).toEqual(before);
  });

  test('bad values: one line, exit 125, before anything is created', () => {
    for (const [args, line] of [
      [['--memory', '10XB'], "nsrun: options: --memory: '10XB' is not a size"],
      [['--pids', '0'], 'nsrun: options: --pids: 0 is out of range: pids.max is 1-4194304'],
      [['--cpus', '-1'], /^nsrun: options: --cpus: -1 is out of range: 0.01 to \d+/],
      [['--memory', '1k'], 'nsrun: options: --memory: 1k is too small: the minimum is 6m'],
      [['--memory-swap', '1g'], 'nsrun: options: --memory-swap: needs --memory (it is the total of memory and swap)'],
      [['--memory', '64m', '--memory-swap', '32m'], 'nsrun: options: --memory-swap: 32m is less than --memory 64m: it is memory plus swap'],
      [['--cpu-weight', '10', '--cpu-shares', '100'], 'nsrun: options: --cpu-shares: give either --cpu-weight or --cpu-shares, not both'],
      [['--cpuset', '1-0'], "nsrun: options: --cpuset: '1-0': the range is backwards"],
      [['--io-max', '/dev/vda:xbps=1'], "nsrun: options: --io-max: 'xbps=1' is not one of rbps=, wbps=, riops=, wiops="],
    ] as [string[], string | RegExp][]) {
      const r = nsrun([...args, '--', 'true']);
      expect(r.status, args.join(' ')).toBe(125);
      const first = r.stderr.split('\n')[0];
      if (typeof line === 'string') expect(first).toBe(line);
      else expect(first).toMatch(line);
    }
  });

  test('pause of a sandbox without a cgroup of its own says what is needed', async () => {
    const name = `${tag}-nocg`;
    const sb = await spawn({ command: ['sleep', '30'], name });
    started.push(sb);
    const r = nsrun(['pause', name]);
    expect(r.status).toBe(125);
    expect(r.stderr).toBe(
      `nsrun: pause: ${name}: the sandbox has no cgroup of its own to freeze\nhint: only sandboxes started with a limit (e.g. --pids 1000) or --cgroup-parent get a cgroup nsrun can freeze\n`,
    );
    await expect(kill(name, 'KILL')).resolves.toBeUndefined();
    await sb.exited;
  });
});

describe.skipIf(!(canSwitchUser && v1Host))(gated(canSwitchUser && v1Host, 'cgroup v1 rootless', 'needs root to switch to nobody, and a v1/hybrid host'), () => {
  test('a rootless run asking for limits gets the not-delegated error, exit 125', () => {
    const r = nsrun(['--memory', '64m', '--', 'true'], { asUser: NOBODY });
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(
      /^nsrun: cgroup: memory \(--memory\): \/sys\/fs\/cgroup\/memory\S* is not writable by uid 65534: cgroup v1 is not delegated to you\nhint: cgroup v1 is not delegated to unprivileged users: run as root, or use a cgroup v2 host with a delegated user slice \(systemd-run --user --scope -p Delegate=yes\)\n$/,
    );
  });
});
