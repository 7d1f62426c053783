// The CLI's handoff: once the command runs, nsrun execs nsrun-supervise in place of Node (same
// PID), so what it keeps on the host while a sandbox runs is a small native process. Checked on
// the real process: what it is, what it holds, that it still forwards signals and reports status.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { NSRUN, ROOT, setprivPrefix } from '../helpers/cli';
import { poll } from '../helpers/wait';

const SUPERVISOR = path.join(ROOT, 'build', 'Release', 'nsrun-supervise');
const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) c.kill('SIGKILL');
});

function children(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
const comm = (pid: number) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

/** Start nsrun on `sleep 30`, wait until sleep runs, return nsrun's process and exit. */
async function startSleep(args: string[], opts: { asUser?: typeof NOBODY; env?: NodeJS.ProcessEnv } = {}) {
  const argv = [...(opts.asUser ? setprivPrefix(opts.asUser) : []), process.execPath, NSRUN, ...args, '--', 'sleep', '30'];
  const c = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  started.push(c);
  let stderr = '';
  c.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => c.on('close', (code) => r(code)));
  // setpriv execs in place: the child's pid is nsrun's own
  await poll(() => children(c.pid!).some((init) => children(init).some((p) => comm(p) === 'sleep')), 'sleep running under nsrun-init', 10_000);
  return { c, pid: c.pid!, exited, stderr: () => stderr };
}

function pssKb(pid: number): number {
  const m = /^Pss:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return Number(m![1]);
}

async function expectSupervisor(pid: number, cmdline: string[]): Promise<void> {
  // sleep may run a moment before the exec (and the supervisor's own start) is done
  const link = (f: string) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${f}`);
    } catch {
      return ''; // closed meanwhile (Node's fds go at the exec)
    }
  };
  const hasSignalfd = () => fs.readdirSync(`/proc/${pid}/fd`).some((f) => link(f) === 'anon_inode:[signalfd]');
  await poll(hasSignalfd, 'the supervisor set up', 5000);
  expect(fs.readlinkSync(`/proc/${pid}/exe`)).toBe(SUPERVISOR);
  expect(comm(pid)).toBe('nsrun');
  // ps shows the user's command line, as before the handoff
  expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1)).toEqual(['nsrun', ...cmdline]);
  // 0-2, and what it supervises with: the pidfd, nsrun-init's control pipe, its signalfd
  const fds = fs.readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
  const targets = fds.filter((f) => f > 2).map((f) => fs.readlinkSync(`/proc/${pid}/fd/${f}`).replace(/\[\d+\]$/, ''));
  expect(fds.slice(0, 3)).toEqual([0, 1, 2]);
  expect(targets.sort()).toEqual(['anon_inode:[pidfd]', 'anon_inode:[signalfd]', 'pipe:']);
  // Node alone is over 20 MB here; the supervisor a few hundred KB (shared libc pages split)
  expect(pssKb(pid)).toBeLessThan(2048);
}

const supervisorBuilt = fs.existsSync(SUPERVISOR);

describe.skipIf(!supervisorBuilt)(gated(supervisorBuilt, 'handoff to nsrun-supervise', 'nsrun-supervise is not built'), () => {
  test.skipIf(!isRoot)(gated(isRoot, 'as root: Node is replaced by nsrun-supervise; SIGTERM is forwarded, status 143', 'needs root'), async () => {
    const args = ['--pid', '--net', '--uts'];
    const s = await startSleep(args);
    await expectSupervisor(s.pid, [...args, '--', 'sleep', '30']);
    s.c.kill('SIGTERM');
    expect(await s.exited).toBe(143);
    expect(s.stderr()).toBe('');
  });

  test.skipIf(!unprivilegedUserns)(gated(unprivilegedUserns, 'rootless (nobody): the same, SIGINT gives 130', 'needs setpriv and unprivileged user namespaces'), async () => {
    const s = await startSleep(['--pid'], { asUser: NOBODY });
    await expectSupervisor(s.pid, ['--pid', '--', 'sleep', '30']);
    s.c.kill('SIGINT');
    expect(await s.exited).toBe(130);
  });

  test.skipIf(!isRoot)(gated(isRoot, 'a named sandbox: its registry entry goes when the supervisor sees it exit', 'needs root'), async () => {
    const name = `handoff${process.pid}`;
    const s = await startSleep(['--name', name, '--pid']);
    await poll(() => fs.readlinkSync(`/proc/${s.pid}/exe`) === SUPERVISOR, 'nsrun-supervise running', 5000);
    expect(fs.existsSync(`/run/nsrun/${name}.json`)).toBe(true);
    const sleep = children(children(s.pid)[0])[0];
    process.kill(sleep, 'SIGKILL');
    expect(await s.exited).toBe(137);
    expect(fs.existsSync(`/run/nsrun/${name}.json`)).toBe(false);
  });

  for (const args of [['--pid'], ['--uts']]) {
    test.skipIf(!isRoot)(gated(isRoot, `SIGKILL of the supervisor takes the sandbox with it (${args[0]}: ${args[0] === '--pid' ? 'PID 1 dies' : 'nsrun-init kills what is below it'})`, 'needs root'), async () => {
      const s = await startSleep(args);
      const init = children(s.pid)[0];
      const sleep = children(init)[0];
      s.c.kill('SIGKILL');
      await s.exited;
      const gone = (pid: number) => {
        try {
          return /^Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]);
        } catch {
          return true;
        }
      };
      await poll(() => gone(init) && gone(sleep), 'nsrun-init and sleep gone', 5000);
    });
  }

  test.skipIf(!isRoot)(gated(isRoot, 'NSRUN_SUPERVISOR=node keeps Node supervising', 'needs root'), async () => {
    const s = await startSleep(['--pid'], { env: { ...process.env, NSRUN_SUPERVISOR: 'node' } });
    expect(fs.realpathSync(`/proc/${s.pid}/exe`)).toBe(fs.realpathSync(process.execPath));
    s.c.kill('SIGTERM');
    expect(await s.exited).toBe(143);
  });
});
