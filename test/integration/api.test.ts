// The library API against the real kernel: run(), spawn() with pipes and a pty, kill, stops,
// typed errors, and no fds or processes left behind.
import * as fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { isNsrunError, NsrunError, run, spawn } from '../../src/index';
import { gated, isRoot, unprivilegedUserns } from '../helpers/caps';

const canRun = isRoot || unprivilegedUserns || process.geteuid?.() !== 0;

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

function childPids(): number[] {
  try {
    return fs.readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function rejection(p: Promise<unknown>): Promise<NsrunError> {
  try {
    await p;
  } catch (e) {
    if (isNsrunError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!canRun)(gated(canRun, 'library API', 'needs namespaces'), () => {
  test('run() collects stdout, stderr and the exit code', async () => {
    const r = await run({ command: ['sh', '-c', 'hostname; echo err >&2; cat; exit 4'], namespaces: ['uts', 'pid'], hostname: 'api-box', input: 'in\n' });
    expect(r).toEqual({ exitCode: 4, signal: null, stdout: 'api-box\nin\n', stderr: 'err\n' });
  });

  test('spawn() gives the pid, streams, kill and an exit promise', async () => {
    const sb = await spawn({ command: ['sh', '-c', 'echo ready; read line; echo "got $line"; sleep 100'], namespaces: ['pid'] });
    expect(sb.pid).toBeGreaterThan(1);
    expect(fs.readFileSync(`/proc/${sb.pid}/comm`, 'utf8').trim()).toBe('nsrun-init');
    let out = '';
    sb.stdout!.on('data', (d) => (out += d));
    sb.stdin!.write('hello\n');
    await new Promise<void>((r) => {
      const t = setInterval(() => out.includes('got hello') && (clearInterval(t), r()), 10);
    });
    expect(sb.kill('SIGTERM')).toBe(true);
    expect(await sb.exited).toEqual({ exitCode: null, signal: 'SIGTERM' });
    expect(sb.kill('SIGTERM')).toBe(false);
  });

  test('a pty sandbox has its own terminal with the requested size', async () => {
    const sb = await spawn({ command: ['sh', '-c', 'tty; stty size'], namespaces: ['pid'], stdio: 'pty' }, { winsize: { rows: 33, cols: 77 } });
    let out = '';
    sb.terminal!.on('data', (d: Buffer) => (out += d));
    expect(await sb.exited).toEqual({ exitCode: 0, signal: null });
    expect(out.replace(/\r/g, '')).toMatch(/^\/dev\/pts\/\d+\n33 77\n$/);
  });

  test('a job-control stop is reported, and resume() continues the command', async () => {
    const sb = await spawn({ command: ['sh', '-c', 'kill -TSTP $$; echo resumed'], namespaces: ['pid'] });
    let out = '';
    sb.stdout!.on('data', (d) => (out += d));
    await new Promise<void>((r) => sb.once('stop', r));
    expect(out).toBe('');
    sb.resume();
    expect(await sb.exited).toEqual({ exitCode: 0, signal: null });
    expect(out).toBe('resumed\n');
  });

  test('--step: the child waits before each step; a stepper sees each step take effect, and can stop it', async () => {
    const { spawnSync } = await import('node:child_process');
    const seen: string[] = [];
    const hostnames: Record<string, string> = {};
    const netns: Record<string, string> = {};
    const stepper = {
      async pause(info: { name: string; pid: number; index: number; total: number; look: string[] }) {
        seen.push(info.name);
        expect(info.look.length).toBeGreaterThan(0);
        if (info.name === 'sethostname' || info.name === 'loopback-up')
          hostnames[info.name] = spawnSync('nsenter', ['-t', String(info.pid), '-u', 'hostname'], { encoding: 'utf8' }).stdout.trim();
        if (info.name === 'unshare-net' || info.name === 'exec') netns[info.name] = fs.readlinkSync(`/proc/${info.pid}/ns/net`);
      },
    };
    const sb = await spawn({ command: ['hostname'], namespaces: ['uts', 'net', 'pid'], hostname: 'stepped', step: true }, { stepper });
    let out = '';
    sb.stdout!.on('data', (d) => (out += d));
    await sb.exited;
    expect(out).toBe('stepped\n');
    expect(seen.slice(0, 6)).toEqual(['clone', 'unshare-net', 'make-private', 'mount-proc', 'sethostname', 'loopback-up']);
    // the child makes its network namespace itself, at the unshare-net step
    expect(netns['unshare-net']).toBe(fs.readlinkSync('/proc/self/ns/net'));
    // (looked at steps later: a step's effect shows once the child has run it, which it does
    // after the pause ends, while the parent already waits at the next one)
    expect(netns.exec).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
    expect(seen[seen.length - 1]).toBe('exec');
    // before the sethostname step the child still has the host's name; after it, its own
    expect(hostnames.sethostname).toBe(require('node:os').hostname());
    expect(hostnames['loopback-up']).toBe('stepped');

    const stopping = { pause: async (info: { name: string }) => { if (info.name === 'mount-proc') throw new Error('stop here'); } };
    await expect(spawn({ command: ['true'], namespaces: ['pid'], step: true }, { stepper: stopping })).rejects.toThrow('stop here');
    expect(childPids()).toEqual([]);
  });

  test('errors are typed: usage, child step, exec via nsrun-init and as PID 1', async () => {
    const u = await rejection(run({ command: ['true'], hostname: 'x' }));
    expect(u).toBeInstanceOf(NsrunError);
    expect(u).toMatchObject({ code: 'ERR_NSRUN_USAGE', step: 'options', object: '--hostname', exitCode: 125 });

    const c = await rejection(run({ command: ['true'], namespaces: ['pid'], cwd: '/nonexistent' }));
    expect(c).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'chdir', step: 'chdir', object: '/nonexistent', side: 'child', exitCode: 125 });
    expect(c.hint).toBeTruthy();

    const e = await rejection(run({ command: ['no-such-command-xyz'], namespaces: ['pid'] }));
    expect(e).toMatchObject({ code: 'ENOENT', syscall: 'execve', step: 'exec', side: 'init', exitCode: 127 });

    const p = await rejection(run({ command: ['no-such-command-xyz'], namespaces: ['pid'], asPid1: true }));
    expect(p).toMatchObject({ code: 'ENOENT', step: 'exec', side: 'child', exitCode: 127 });
  });

  test('nothing leaks: fds and child processes are back to where they were after 30 sandboxes, failures included', async () => {
    await run({ command: ['true'], namespaces: ['pid'] }); // warm up lazily created handles
    const fds = fdCount();
    for (let i = 0; i < 10; i++) {
      await run({ command: ['true'], namespaces: ['pid', 'net', 'uts'] });
      await rejection(run({ command: ['no-such-command-xyz'], namespaces: ['pid'] }));
      await rejection(run({ command: ['true'], namespaces: ['pid'], cwd: '/nonexistent' }));
    }
    expect(fdCount()).toBe(fds);
    expect(childPids()).toEqual([]);
  });
});
