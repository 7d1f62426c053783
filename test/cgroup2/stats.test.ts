// nsrun stats on a pure cgroup v2 host (npm run test:cgroup2 boots one): a named sandbox that
// burns CPU, holds 64 MiB and does direct I/O on the scratch disk, moved into a leaf cgroup
// whose parent carries the memory limit; the numbers checked against cpu.stat, memory.current,
// io.stat and pids.current; a sandbox with its own cgroup from nsrun run --memory, as root and as
// nobody in a delegated subtree. On a host that is not pure v2 every test skips with the reason.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isRoot, NOBODY } from '../helpers/caps';
import { CGROUP2_SKIP_REASON, delegate, enableControllers, inCgroup, makeTestCgroup, onCgroup2Host, type TestCgroup } from '../helpers/cgroup2';
import { NSRUN, nsrun, setprivPrefix, type CliOptions } from '../helpers/cli';
import { poll } from '../helpers/wait';

const ok = onCgroup2Host && isRoot;
const reason = onCgroup2Host ? 'needs root' : CGROUP2_SKIP_REASON;
const title = (t: string) => (ok ? t : `${t} (skipped: ${reason})`);
const MiB = 1024 * 1024;
const name = `st${process.pid}v2`;
// the VM's scratch disk (a sparse file on the host): direct I/O on it is counted in io.stat
const scratch = fs.existsSync('/dev/vda') && fs.statSync('/dev/vda').isBlockDevice() ? '/dev/vda' : undefined;

const waitFor = <T>(what: string, probe: () => T | undefined | false, ms = 120_000): Promise<T> => poll(probe, what, ms, 100);

function tree(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = fs.readdirSync(`/proc/${pid}/task`).flatMap((t) => fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/)).filter(Boolean).map(Number);
  } catch {
    // gone
  }
  return [pid, ...kids.flatMap(tree)];
}

const keyed = (text: string) => Object.fromEntries(text.trim().split('\n').map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));

describe.skipIf(!ok)(title('nsrun stats on cgroup v2'), { timeout: 180_000 }, () => {
  let parent: TestCgroup;
  let leaf: TestCgroup;
  let supervisor: ChildProcess;
  let pid: number;
  let work = '';

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), `nsrun-stats-v2-${process.pid}-`));
    parent = makeTestCgroup('stats');
    parent.write('memory.max', 256 * MiB);
    enableControllers(parent, ['cpu', 'io', 'memory', 'pids']);
    leaf = parent.child('box');
    spawnSync('mkfifo', [`${work}/go`]);
    const script = [
      `read go < ${work}/go`,
      ...(scratch ? [`dd if=/dev/zero of=${scratch} bs=1M count=8 oflag=direct 2>/dev/null`, `dd if=${scratch} of=/dev/null bs=1M count=8 iflag=direct 2>/dev/null`] : []),
      `( x=$(head -c ${64 * MiB} /dev/zero | tr '\\0' x); : > ${work}/ready; sleep 1000; echo "\${#x}" ) &`,
      'while :; do :; done',
    ].join('\n');
    supervisor = spawn(process.execPath, [NSRUN, '--name', name, '--pid', '--net', '--', 'sh', '-c', script], { stdio: 'ignore' });
    pid = await waitFor('the sandbox in nsrun ps', () => (JSON.parse(nsrun(['ps', '--json']).stdout) as { name: string; pid: number }[]).find((e) => e.name === name)?.pid);
    await waitFor('the sandbox shell', () => tree(pid).length > 1);
    for (const p of tree(pid)) leaf.write('cgroup.procs', p);
    fs.writeFileSync(`${work}/go`, 'go\n');
    await waitFor('the 64 MiB subshell', () => fs.existsSync(`${work}/ready`));
  }, 180_000);

  afterAll(() => {
    supervisor?.kill('SIGKILL');
    parent?.remove(); // cgroup.kill, then rmdir deepest first
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('one JSON line: the v2 cgroup, CPU from cpu.stat, memory against the parent\'s memory.max, io.stat, pids.current', () => {
    const before = keyed(leaf.read('cpu.stat')).usage_usec * 1000;
    const r = nsrun(['stats', name, '--no-stream', '--json'], { timeoutMs: 60_000 });
    const after = keyed(leaf.read('cpu.stat')).usage_usec * 1000;
    expect([r.status, r.stderr]).toEqual([0, '']);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ name, pid, exited: false, cgroup: { version: 2, path: leaf.rel, hostWide: [] } });
    expect(s.cpu.ratio).toBeGreaterThan(0.2);
    expect(s.cpu.usageNs).toBeGreaterThanOrEqual(before);
    expect(s.cpu.usageNs).toBeLessThanOrEqual(after);
    // the leaf has no limit of its own: its parent's binds it
    expect(leaf.read('memory.max').trim()).toBe('max');
    expect(s.memory).toMatchObject({ limit: 256 * MiB, cgroupLimit: 256 * MiB });
    expect(s.memory.usage).toBeGreaterThan(64 * MiB);
    expect(s.memory.usage).toBeLessThanOrEqual(Number(leaf.read('memory.current')) + 8 * MiB);
    expect(s.pids).toBe(Number(leaf.read('pids.current')));
    expect(s.pids).toBe(4); // nsrun-init, the shell, the subshell and its sleep
    expect(s.network).toMatchObject({ namespace: 'own', rxBytes: 0, txBytes: 0 });
  });

  test.skipIf(!scratch)(scratch ? 'block I/O is io.stat\'s rbytes and wbytes' : 'block I/O (skipped: no scratch disk /dev/vda)', () => {
    const sum = (k: string) => leaf.read('io.stat').trim().split('\n').filter(Boolean).reduce((n, l) => n + Number(new RegExp(`${k}=(\\d+)`).exec(l)?.[1] ?? 0), 0);
    const s = JSON.parse(nsrun(['stats', String(pid), '--no-stream', '--json'], { timeoutMs: 60_000 }).stdout);
    expect(s.blockIo).toEqual({ readBytes: sum('rbytes'), writeBytes: sum('wbytes') });
    expect(s.blockIo.writeBytes).toBeGreaterThanOrEqual(8 * MiB);
    expect(s.blockIo.readBytes).toBeGreaterThanOrEqual(8 * MiB);
  });

  test('the table', () => {
    const r = nsrun(['stats', name, '--no-stream'], { timeoutMs: 60_000 });
    const row = r.stdout.split('\n')[1];
    expect(row).toMatch(new RegExp(`^${name}\\s+${pid}\\s+\\d+\\.\\d\\d%\\s+\\d+(\\.\\d+)?MiB / 256MiB\\s+\\d+\\.\\d\\d%\\s+0B / 0B\\s+\\S+ / \\S+\\s+4$`));
  });

  test('a process in the root cgroup: no memory.current there, so memory is --; PIDs counted from cgroup.threads', () => {
    const root = (fs.readFileSync('/proc/1/cgroup', 'utf8').match(/^0::(.*)$/m) ?? [])[1];
    expect(root).toBe('/');
    const s = JSON.parse(nsrun(['stats', '1', '--no-stream', '--json'], { timeoutMs: 60_000 }).stdout);
    expect(s).toMatchObject({ pid: 1, cgroup: { version: 2, path: '/', hostWide: ['cpu', 'memory', 'blockIo', 'pids'] }, memory: { usage: null, ratio: null } });
    expect(s.pids).toBeGreaterThanOrEqual(5);
    expect(nsrun(['stats', '1', '--no-stream'], { timeoutMs: 60_000 }).stdout.split('\n')[1]).toMatch(/^-\s+1\s+\S+\s+--\s+--\s/);
  });

  /** A named sandbox running a busy loop under nsrun run --memory 64m --pids 20; resolves with its pid. */
  async function limited(sbName: string, prefix: string[], opts: CliOptions): Promise<{ child: ChildProcess; pid: number }> {
    const argv = [...prefix, process.execPath, NSRUN, '--name', sbName, '--pid', '--memory', '64m', '--pids', '20', '--', 'sh', '-c', 'while :; do :; done'];
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    const found = await waitFor(`${sbName} in nsrun ps`, () => (JSON.parse(nsrun(['ps', '--json'], opts).stdout || '[]') as { name: string; pid: number }[]).find((e) => e.name === sbName)?.pid);
    return { child, pid: found };
  }

  test('a sandbox with nsrun run --memory has one cgroup of its own: every column is its own', async () => {
    const sb = await limited(`${name}m`, [], {});
    try {
      const s = JSON.parse(nsrun(['stats', `${name}m`, '--no-stream', '--json'], { timeoutMs: 60_000 }).stdout);
      expect(s).toMatchObject({ pid: sb.pid, memory: { limit: 64 * MiB, cgroupLimit: 64 * MiB }, pids: 2 });
      expect(s.cgroup).toEqual({ version: 2, path: expect.stringMatching(new RegExp(`/nsrun-${name}m$`)), hostWide: [] });
      expect(s.cpu.ratio).toBeGreaterThan(0.2);
    } finally {
      // through nsrun, which then removes the sandbox's cgroup
      nsrun(['kill', `${name}m`, 'KILL']);
      await waitFor('nsrun to exit', () => sb.child.exitCode !== null || sb.child.signalCode !== null, 30_000);
    }
  });

  test('rootless in a delegated subtree: nobody watches its own limited sandbox', async () => {
    const deleg = makeTestCgroup('stats-deleg');
    enableControllers(deleg, ['cpu', 'memory', 'pids']);
    const shell = deleg.child('shell');
    delegate(deleg, NOBODY);
    const xdg = fs.mkdtempSync(path.join(os.tmpdir(), `nsrun-stats-xdg-${process.pid}-`));
    fs.chownSync(xdg, NOBODY.uid, NOBODY.gid);
    fs.chmodSync(xdg, 0o700);
    const asNobody: CliOptions = { asUser: NOBODY, env: { ...process.env, XDG_RUNTIME_DIR: xdg }, timeoutMs: 60_000 };
    let sb: { child: ChildProcess; pid: number } | undefined;
    try {
      sb = await limited(`${name}r`, [...inCgroup(shell), ...setprivPrefix(NOBODY), 'env', `XDG_RUNTIME_DIR=${xdg}`], asNobody);
      const r = nsrun(['stats', `${name}r`, '--no-stream', '--json'], asNobody);
      expect([r.status, r.stderr]).toEqual([0, '']);
      const s = JSON.parse(r.stdout);
      expect(s).toMatchObject({ pid: sb.pid, memory: { limit: 64 * MiB }, pids: 2, cgroup: { version: 2, path: expect.stringMatching(new RegExp(`^${deleg.rel}/nsrun-${name}r$`)), hostWide: [] } });
      expect(s.cpu.ratio).toBeGreaterThan(0.2);
    } finally {
      if (sb) nsrun(['kill', `${name}r`, 'KILL'], asNobody);
      await waitFor('the sandbox to end', () => !sb || sb.child.exitCode !== null || sb.child.signalCode !== null, 30_000);
      deleg.remove();
      fs.rmSync(xdg, { recursive: true, force: true });
    }
  });
});
