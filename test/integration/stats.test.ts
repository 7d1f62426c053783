// nsrun stats against the real kernel (cgroup v1 on this hybrid host): a named sandbox that
// burns CPU, holds 64 MiB and does direct block I/O, placed into memory/cpuacct/blkio/pids
// cgroups this test makes (uniquely named, removed after); numbers checked against the cgroup
// files and /proc; network counters over a veth into the sandbox; the live table on a pipe and a
// terminal; JSON lines and the last line of a target that ends; any PID; bad targets; rootless.
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { NSRUN, nsrun, setprivPrefix, type CliOptions } from '../helpers/cli';
import { stats, watchStats } from '../../src/index';
import { poll } from '../helpers/wait';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const V1 = ['memory', 'cpuacct', 'blkio', 'pids'] as const;
const v1Host = V1.every((c) => fs.existsSync(`/sys/fs/cgroup/${c}/cgroup.procs`));
const unique = `st${process.pid}x${Date.now() % 100000}`;
const MiB = 1024 * 1024;

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const waitFor = <T>(probe: () => T | undefined | false, what: string, ms = 10_000): Promise<T> => poll(probe, what, ms, 50);

function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`))
      out.push(...fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    // gone
  }
  return out;
}

/** pid and all its descendants. */
function tree(pid: number): number[] {
  return [pid, ...children(pid).flatMap(tree)];
}

/** Threads of pid and its descendants, counted from /proc (what pids.current counts). */
function threads(pid: number): number {
  return tree(pid).reduce((n, p) => {
    try {
      return n + Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))![1]);
    } catch {
      return n;
    }
  }, 0);
}

function registryPid(name: string, opts: CliOptions = {}): number | undefined {
  const r = nsrun(['ps', '--json'], opts);
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as { name: string; pid: number }[]).find((e) => e.name === name)?.pid;
}

/** A named sandbox in the background; resolves with its registered pid. */
async function namedSandbox(name: string, args: string[], command: string[], opts: CliOptions = {}): Promise<{ child: ChildProcess; pid: number }> {
  const argv = [...(opts.asUser ? setprivPrefix(opts.asUser) : []), process.execPath, NSRUN, '--name', name, ...args, '--', ...command];
  const child = spawnChild(argv[0], argv.slice(1), { stdio: 'ignore', env: opts.env ?? process.env });
  started.push(child);
  const pid = await waitFor(() => registryPid(name, opts), `sandbox ${name} in nsrun ps`);
  return { child, pid };
}

/** `nsrun stats ...` in the background, its output collected. */
function statsProcess(args: string[], wrap = (argv: string[]) => argv): { child: ChildProcess; out: () => string; done: Promise<number | null> } {
  const full = wrap([process.execPath, NSRUN, 'stats', ...args]);
  const child = spawnChild(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, done };
}

/** The metrics a process has no cgroup of its own for (its v1 line for that controller is the root). */
function hostWideOf(pid: number): string[] {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  const at = (c: string) => new RegExp(`^\\d+:([^:]*,)?${c}(,[^:]*)?:/$`, 'm').test(lines);
  return [['cpu', 'cpuacct'], ['memory', 'memory'], ['blockIo', 'blkio'], ['pids', 'pids']].filter(([, c]) => at(c)).map(([m]) => m);
}

/** The block device (whole disk) that holds `dir`, as MAJ:MIN, if it is on one. */
function diskOf(dir: string): string | undefined {
  const dev = fs.statSync(dir).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  if (major === 0) return undefined; // tmpfs, overlay, ...: no block device
  const sys = `/sys/dev/block/${major}:${minor}`;
  if (!fs.existsSync(sys)) return undefined;
  return fs.existsSync(`${sys}/partition`) ? fs.readFileSync(`${sys}/../dev`, 'utf8').trim() : `${major}:${minor}`;
}

describe.skipIf(!isRoot || !v1Host)(gated(isRoot && v1Host, 'nsrun stats on cgroup v1 as root', !isRoot ? 'needs root' : 'needs the v1 memory, cpuacct, blkio and pids hierarchies under /sys/fs/cgroup'), () => {
  const cg = `nsrun-stats-test-${unique}`;
  const dirs = Object.fromEntries(V1.map((c) => [c, `/sys/fs/cgroup/${c}/${cg}`])) as Record<(typeof V1)[number], string>;
  // made in beforeAll: a describe whose tests are all filtered out runs no hooks
  let work = '';
  const disk = diskOf(os.tmpdir());
  const name = `${unique}box`;
  let box: { child: ChildProcess; pid: number };

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), `nsrun-stats-${unique}-`));
    for (const c of V1) fs.mkdirSync(dirs[c]);
    fs.writeFileSync(`${dirs.memory}/memory.limit_in_bytes`, String(256 * MiB));
    // cgroup v1 counts a cgroup's block I/O on a device only once any throttle rule exists for
    // that device (kernel 6.x): a rule far above any real rate turns the counting on
    if (disk) fs.writeFileSync(`${dirs.blkio}/blkio.throttle.write_bps_device`, `${disk} ${2 ** 50}`);
    spawnSync('mkfifo', [`${work}/go`]);
    // waits for the test to move it into the cgroups, then: 8 MiB direct write + read, a
    // subshell holding 64 MiB, and a busy loop
    const script = [
      `read go < ${work}/go`,
      `dd if=/dev/zero of=${work}/data bs=1M count=8 oflag=direct 2>/dev/null`,
      `dd if=${work}/data of=/dev/null bs=1M iflag=direct 2>/dev/null`,
      `( x=$(head -c ${64 * MiB} /dev/zero | tr '\\0' x); : > ${work}/ready; sleep 1000; echo "\${#x}" ) &`,
      'while :; do :; done',
    ].join('\n');
    box = await namedSandbox(name, ['--pid', '--net'], ['sh', '-c', script]);
    started.splice(started.indexOf(box.child), 1); // lives for the whole file, not one test
    await waitFor(() => children(box.pid).length > 0 && fs.readFileSync(`/proc/${children(box.pid)[0]}/wchan`, 'utf8') !== '', 'the sandbox shell');
    for (const p of tree(box.pid)) for (const c of V1) fs.writeFileSync(`${dirs[c]}/cgroup.procs`, String(p));
    fs.writeFileSync(`${work}/go`, 'go\n');
    await waitFor(() => fs.existsSync(`${work}/ready`), 'the 64 MiB subshell', 20_000);
    await new Promise((r) => setTimeout(r, 300));
  }, 40_000);

  afterAll(async () => {
    for (const c of started.splice(0)) c.kill('SIGKILL');
    if (box) box.child.kill('SIGKILL');
    for (const p of box ? tree(box.pid) : []) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const c of V1) {
      await waitFor(() => !fs.existsSync(`${dirs[c]}/cgroup.procs`) || fs.readFileSync(`${dirs[c]}/cgroup.procs`, 'utf8').trim() === '', `${dirs[c]} empty`).catch(() => {});
      try {
        fs.rmdirSync(dirs[c]);
      } catch {
        // left for the report below
      }
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
    expect(V1.filter((c) => fs.existsSync(dirs[c]))).toEqual([]);
  }, 20_000);

  const cgFile = (c: (typeof V1)[number], f: string) => fs.readFileSync(`${dirs[c]}/${f}`, 'utf8').trim();

  test('--no-stream --json: one line with CPU, memory against the limit, PIDs, block I/O, the cgroup', () => {
    const before = Number(cgFile('cpuacct', 'cpuacct.usage'));
    const r = nsrun(['stats', name, '--no-stream', '--json']);
    const after = Number(cgFile('cpuacct', 'cpuacct.usage'));
    expect([r.status, r.stderr]).toEqual([0, '']);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]);
    expect(s).toMatchObject({ name, pid: box.pid, exited: false, cgroup: { version: 1, path: `/${cg}` } });
    // a busy loop on one core of two, shared with whatever else runs: well above zero, at most 2 cores
    expect(s.cpu.ratio).toBeGreaterThan(0.2);
    expect(s.cpu.ratio).toBeLessThanOrEqual(2.05);
    expect(s.cpu.usageNs).toBeGreaterThanOrEqual(before);
    expect(s.cpu.usageNs).toBeLessThanOrEqual(after);
    expect(s.memory.usage).toBeGreaterThan(64 * MiB);
    expect(s.memory.usage).toBeLessThan(256 * MiB);
    expect(s.memory).toMatchObject({ limit: 256 * MiB, cgroupLimit: 256 * MiB });
    expect(s.memory.ratio).toBeCloseTo(s.memory.usage / (256 * MiB), 10);
    expect(s.pids).toBe(Number(cgFile('pids', 'pids.current')));
    // nsrun-init, the shell, the subshell and its sleep
    expect(s.pids).toBe(threads(box.pid));
    expect(s.pids).toBe(4);
    expect(s.network).toMatchObject({ namespace: 'own', rxBytes: 0, txBytes: 0 });
    expect(s.network.interfaces.map((i: { name: string }) => i.name)).toEqual(['lo']);
    if (disk) {
      expect(s.blockIo.writeBytes).toBeGreaterThanOrEqual(8 * MiB);
      expect(s.blockIo.readBytes).toBeGreaterThanOrEqual(8 * MiB);
    }
  });

  test.skipIf(!disk)(gated(!!disk, 'block I/O matches blkio.throttle.io_service_bytes_recursive', `${os.tmpdir()} is not on a block device`), () => {
    const text = cgFile('blkio', 'blkio.throttle.io_service_bytes_recursive');
    const sum = (op: string) => text.split('\n').filter((l) => new RegExp(`^\\d+:\\d+ ${op} `).test(l)).reduce((n, l) => n + Number(l.split(' ')[2]), 0);
    const s = JSON.parse(nsrun(['stats', name, '--no-stream', '--json']).stdout);
    expect(s.blockIo).toEqual({ readBytes: sum('Read'), writeBytes: sum('Write') });
  });

  test('the table: docker columns, the limit, MiB and kB units', () => {
    const r = nsrun(['stats', name, '--no-stream']);
    expect(r.status).toBe(0);
    const [head, row, ...rest] = r.stdout.trimEnd().split('\n');
    expect(rest).toEqual([]);
    expect(head).toMatch(/^NAME\s+PID\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    expect(row).toMatch(new RegExp(`^${name}\\s+${box.pid}\\s+\\d+\\.\\d\\d%\\s+\\d+(\\.\\d+)?MiB / 256MiB\\s+\\d+\\.\\d\\d%\\s+0B / 0B\\s+(\\S+) / (\\S+)\\s+4$`));
  });

  test('network: lo traffic is left out; traffic over a veth into the sandbox is counted', async () => {
    const netns = `/proc/${box.pid}/ns/net`;
    // inside, over lo: the interfaces show it, the totals do not
    const udpToLo = "const s = require('dgram').createSocket('udp4'); s.send(Buffer.alloc(5000), 9, '127.0.0.1', () => s.close())";
    const lo = spawnSync('nsenter', [`--net=${netns}`, process.execPath, '-e', udpToLo]);
    expect(lo.status).toBe(0);
    const s0 = await stats(name, { intervalMs: 100 });
    expect(s0.network).toMatchObject({ namespace: 'own', rxBytes: 0, txBytes: 0 });
    expect(s0.network!.interfaces.find((i) => i.name === 'lo')!.rxBytes).toBeGreaterThanOrEqual(5000);
    const host = `vst${process.pid % 100000}`;
    const net = `10.${200 + (process.pid % 50)}.${Math.floor(process.pid / 50) % 250}`;
    const ip = (...a: string[]) => spawnSync('ip', a, { encoding: 'utf8' });
    const inside = (...a: string[]) => spawnSync('nsenter', [`--net=${netns}`, 'ip', ...a], { encoding: 'utf8' });
    expect(ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(box.pid)).stderr).toBe('');
    try {
      ip('addr', 'add', `${net}.1/30`, 'dev', host);
      ip('link', 'set', host, 'up');
      inside('addr', 'add', `${net}.2/30`, 'dev', 'eth0');
      expect(inside('link', 'set', 'eth0', 'up').status).toBe(0);
      const s1 = await stats(name, { intervalMs: 100 });
      const sock = dgram.createSocket('udp4');
      for (let i = 0; i < 20; i++) await new Promise((r) => sock.send(Buffer.alloc(1000), 9, `${net}.2`, r));
      sock.close();
      await new Promise((r) => setTimeout(r, 200));
      const s2 = await stats(name, { intervalMs: 100 });
      expect(s2.network!.interfaces.map((i) => i.name).sort()).toEqual(['eth0', 'lo']);
      // 20 datagrams of 1000 bytes (+ headers) arrived on eth0
      expect(s2.network!.rxBytes - s1.network!.rxBytes).toBeGreaterThanOrEqual(20 * 1000);
      const eth0 = s2.network!.interfaces.find((i) => i.name === 'eth0')!;
      expect(s2.network!.rxBytes).toBe(eth0.rxBytes);
      expect(s2.network!.txBytes).toBe(eth0.txBytes);
    } finally {
      ip('link', 'del', host);
    }
  });

  test('the library: stats() and watchStats() agree with the CLI shape; a watch ends with the target', async () => {
    const s = await stats(String(box.pid));
    expect(s).toMatchObject({ name, pid: box.pid, pids: 4, memory: { limit: 256 * MiB } });
    const short = await namedSandbox(`${unique}short`, ['--pid'], ['sleep', '2']);
    const ticks = [];
    for await (const t of watchStats([`${unique}short`, name], { intervalMs: 400 })) {
      ticks.push(t);
      if (t.exited.length) break;
    }
    const last = ticks[ticks.length - 1];
    expect(last.exited).toEqual([{ name: `${unique}short`, pid: short.pid }]);
    expect(last.stats.map((x) => x.name)).toEqual([name]);
    expect(ticks[0].stats.map((x) => x.name)).toEqual([`${unique}short`, name]);
  });

  test('without targets the watch follows the named sandboxes: one started later joins, with CPU from its first tick', async () => {
    const stop = new AbortController();
    let late: { child: ChildProcess; pid: number } | undefined;
    const seen: (number | null)[] = [];
    for await (const t of watchStats([], { intervalMs: 300, signal: stop.signal })) {
      if (!late) {
        expect(t.stats.map((x) => x.name)).toContain(name);
        late = await namedSandbox(`${unique}late`, ['--pid'], ['sh', '-c', 'while :; do :; done']);
        continue;
      }
      const mine = t.stats.find((x) => x.name === `${unique}late`);
      if (mine) seen.push(mine.cpu.ratio);
      if (seen.length === 2) stop.abort();
    }
    expect(seen).toHaveLength(2);
    expect(seen.every((r) => r !== null && r > 0)).toBe(true);
    expect(nsrun(['kill', `${unique}late`, 'KILL']).status).toBe(0);
  });

  test('streaming to a pipe: a table per second until SIGINT, exit 0', async () => {
    const p = statsProcess([name]);
    await waitFor(() => (p.out().match(/^NAME /gm) ?? []).length >= 2, 'two tables', 10_000);
    p.child.kill('SIGINT');
    expect(await p.done).toBe(0);
    const tables = p.out().split('\n\n');
    expect(tables.length).toBeGreaterThanOrEqual(2);
    for (const t of tables.filter(Boolean)) expect(t.trim().split('\n')).toHaveLength(2);
    expect(p.out()).not.toContain('\x1b');
  });

  test.skipIf(!has('script'))('on a terminal the table is redrawn in place (clear once, then home + clear to end)', async () => {
    // util-linux script runs it on a pseudo-terminal
    const p = statsProcess([name], (argv) => ['script', '-qfec', argv.join(' '), '/dev/null']);
    await waitFor(() => (p.out().match(/\x1b\[H/g) ?? []).length >= 2, 'two frames', 10_000);
    p.child.kill('SIGINT');
    await p.done;
    const out = p.out();
    expect(out.match(/\x1b\[2J/g)).toHaveLength(1);
    expect(out).toMatch(/\x1b\[HNAME +PID/);
    expect(out).toContain('\x1b[J');
  });

  test('--json streaming: a line per target per second; a target that ends gets exited: true and the stream ends', async () => {
    const short = await namedSandbox(`${unique}end`, ['--pid'], ['sleep', '1000']);
    const p = statsProcess([`${unique}end`, '--json']);
    await waitFor(() => p.out().split('\n').length > 2, 'two JSON lines', 15_000);
    expect(nsrun(['kill', `${unique}end`, 'KILL']).status).toBe(0);
    expect(await p.done).toBe(0);
    const lines = p.out().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[lines.length - 1]).toEqual({ name: `${unique}end`, pid: short.pid, time: expect.any(String), exited: true });
    for (const l of lines.slice(0, -1)) expect(l).toMatchObject({ name: `${unique}end`, pid: short.pid, exited: false });
  });

  test('no TARGET: every running named sandbox, ours among them', () => {
    const r = nsrun(['stats', '--no-stream', '--json']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).name)).toContain(name);
  });

  test('any PID: its own cgroup, shown as the host network', () => {
    const me = JSON.parse(nsrun(['stats', String(process.pid), '--no-stream', '--json']).stdout);
    const memLine = fs.readFileSync(`/proc/${process.pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:memory:/.test(l))!;
    expect(me).toMatchObject({ pid: process.pid, cgroup: { version: 1, path: memLine.split(':')[2] }, network: { namespace: 'host' } });
    expect(me.name).toBeUndefined();
    expect(me.cgroup.hostWide).toEqual(hostWideOf(process.pid));
    expect(me.memory.usage).toBeGreaterThan(0);
    const row = nsrun(['stats', String(process.pid), '--no-stream']).stdout.split('\n')[1];
    expect(row).toMatch(new RegExp(`^-\\s+${process.pid}\\s.*\\shost\\s`));
  });

  test('a sandbox with nsrun run --memory/--pids: its limit and PIDs from its own cgroup; root-cgroup numbers marked', async () => {
    const limited = await namedSandbox(`${unique}lim`, ['--pid', '--memory', '96m', '--pids', '20'], ['sleep', '1000']);
    const s = JSON.parse(nsrun(['stats', `${unique}lim`, '--no-stream', '--json']).stdout);
    expect(s).toMatchObject({ name: `${unique}lim`, pid: limited.pid, memory: { limit: 96 * MiB, cgroupLimit: 96 * MiB }, pids: 2 });
    expect(s.cgroup.path).toMatch(new RegExp(`/nsrun-${unique}lim$`));
    expect(s.cgroup.hostWide).toEqual(hostWideOf(limited.pid));
    const lines = nsrun(['stats', `${unique}lim`, '--no-stream']).stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(new RegExp(`^${unique}lim\\s+${limited.pid}\\s.*\\s/ 96MiB\\s`));
    if (s.cgroup.hostWide.length) expect(lines[2]).toMatch(/^\* read from a root cgroup/);
    // ended through nsrun (not by killing nsrun), so it removes the sandbox's cgroups
    expect(nsrun(['kill', `${unique}lim`, 'KILL']).status).toBe(0);
    await waitFor(() => limited.child.exitCode !== null || limited.child.signalCode !== null, 'nsrun to exit');
    expect(fs.existsSync(`/sys/fs/cgroup/memory${s.cgroup.path}`)).toBe(false);
  });

  test('bad targets: one line, exit 125, nothing printed on stdout', () => {
    const byName = nsrun(['stats', `${unique}-none`, '--no-stream']);
    expect([byName.status, byName.stdout, byName.stderr.split('\n')[0]]).toEqual([125, '', `nsrun: target: ${unique}-none: no running sandbox by that name`]);
    const byPid = nsrun(['stats', '999999999', '--json']);
    expect([byPid.status, byPid.stdout, byPid.stderr.split('\n')[0]]).toEqual([125, '', 'nsrun: target: 999999999: No such process']);
    // one bad target among good ones fails before any reading
    const mixed = nsrun(['stats', name, `${unique}-none`, '--no-stream']);
    expect([mixed.status, mixed.stdout]).toEqual([125, '']);
  });
});

describe.skipIf(!unprivilegedUserns)(gated(unprivilegedUserns, 'nsrun stats rootless (as nobody)', 'needs root to switch to nobody, and unprivileged user namespaces'), () => {
  let runtime = '';
  let asNobody: CliOptions = {};
  beforeAll(() => {
    runtime = fs.mkdtempSync(path.join(os.tmpdir(), `nsrun-stats-xdg-${unique}-`));
    fs.chownSync(runtime, NOBODY.uid, NOBODY.gid);
    fs.chmodSync(runtime, 0o700);
    asNobody = { asUser: NOBODY, env: { ...process.env, XDG_RUNTIME_DIR: runtime } };
  });
  afterAll(() => {
    if (runtime) fs.rmSync(runtime, { recursive: true, force: true });
  });

  test('with no named sandbox it says so, exit 0, stdout empty', () => {
    const r = nsrun(['stats'], asNobody);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '', 'nsrun stats: no running named sandboxes (start one with nsrun --name NAME -- COMMAND, or give a PID)\n']);
  });

  test('its own rootless sandbox: the numbers of its cgroup and network namespace', async () => {
    const name = `${unique}rl`;
    const sb = await namedSandbox(name, ['--user', '--pid', '--net'], ['sh', '-c', 'while :; do :; done'], asNobody);
    const r = nsrun(['stats', name, '--no-stream', '--json'], asNobody);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ name, pid: sb.pid, network: { namespace: 'own', rxBytes: 0, txBytes: 0 } });
    expect(s.cpu.ratio).toBeGreaterThan(0.2);
    expect(s.memory.usage).toBeGreaterThan(0);
    expect(s.pids).toBeGreaterThanOrEqual(2);
    sb.child.kill('SIGTERM');
  });

  test('someone else\'s process is refused with its owner named', () => {
    const r = nsrun(['stats', '1', '--no-stream'], asNobody);
    expect([r.status, r.stdout, r.stderr.split('\n')[0]]).toEqual([125, '', 'nsrun: target: 1: permission denied: the process belongs to uid 0']);
  });
});
