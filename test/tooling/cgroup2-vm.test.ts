// The runner of npm run test:cgroup2 (scripts/cgroup2-vm/run.js) on the host: the command's exit
// status comes back, a hung boot becomes 125 instead of a hung CI, and no VM outlives a runner that
// is stopped (SIGTERM) or killed (SIGKILL). Three real boots (TCG, a few seconds each). The overall
// NSRUN_VM_TIMEOUT uses the same watchdog as the boot timeout and is not booted for here.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ROOT } from '../helpers/cli';

const RUNNER = path.join(ROOT, 'scripts', 'cgroup2-vm', 'run.js');
const hasQemu = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64']).status === 0;
const reason = 'needs qemu-system-x86_64 (apt-get install --no-install-recommends qemu-system-x86)';
const T = 180_000;

interface Started {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  closed: Promise<number | null>;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): Started {
  // One emulated CPU: the rest of the suite runs beside these VMs on the same cores.
  const vmEnv = { ...process.env, NSRUN_VM_CPUS: '1', ...env };
  const child = spawn(process.execPath, [RUNNER, ...args], { env: vmEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return { child, out: () => out, err: () => err, closed };
}

async function until(what: string, ok: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The runner's qemu: its only child (setpriv has exec'd it). */
function qemuOf(runner: number): number | undefined {
  const kids = fs.readFileSync(`/proc/${runner}/task/${runner}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return kids.find((k) => {
    try {
      return fs.readFileSync(`/proc/${k}/comm`, 'utf8').startsWith('qemu-system');
    } catch {
      return false;
    }
  });
}

/** Gone, or a zombie nobody has reaped yet: either way no VM is running. */
function dead(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').startsWith('Z');
  } catch {
    return true;
  }
}

describe.skipIf(!hasQemu)(hasQemu ? 'cgroup2 VM runner' : `cgroup2 VM runner (skipped: ${reason})`, () => {
  test("a command's output streams without CRs and its exit status is the runner's", { timeout: T }, async () => {
    const r = start(['-c', 'printf "one\\ntwo\\n"; cat /proc/self/cgroup; exit 7']);
    expect(await r.closed).toBe(7);
    expect(r.out()).toBe('one\ntwo\n0::/\n');
    expect(r.err()).toMatch(/cgroup2-vm: exit status 7 \(/);
  });

  test('a boot that does not reach /init in time is reported, retried as asked, and ends in 125', { timeout: T }, async () => {
    const r = start(['-c', 'true'], { NSRUN_VM_BOOT_TIMEOUT: '0.5', NSRUN_VM_BOOT_RETRIES: '1' });
    expect(await r.closed).toBe(125);
    expect(r.err().match(/did not reach \/init within 0.5 s \(hung boot\)/g)).toHaveLength(2);
    expect(r.err()).toMatch(/booting again/);
  });

  test.each([
    ['SIGTERM', 143],
    ['SIGKILL', -1],
  ] as const)('%s to the runner: its VM goes too', { timeout: T }, async (sig, status) => {
    const r = start(['-c', 'echo ready; sleep 600']);
    await until('the guest command', () => r.out().includes('ready\n'));
    const qemu = qemuOf(r.child.pid!);
    expect(qemu).toBeDefined();
    r.child.kill(sig);
    expect(await r.closed).toBe(status);
    // SIGTERM: the runner waits for qemu; SIGKILL: qemu runs under --pdeathsig KILL.
    await until('qemu to die', () => dead(qemu!), sig === 'SIGTERM' ? 0 : 10_000);
  });
});
