// fd hygiene: the command starts with exactly 0-2 plus what --preserve-fds asked for, whatever
// nsrun or its caller had open (root, rootless, --rootfs, a pty, nsrun exec); every fd nsrun
// itself holds is close-on-exec. An fd the caller leaks on purpose (an O_PATH to the host's /)
// never reaches the sandbox.
import { spawn as spawnChild, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { spawn } from '../../src/index';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { NSRUN, nsrun, setprivPrefix } from '../helpers/cli';
import { BUSYBOX, buildRootfs } from '../helpers/rootfs';

// The shell's own fds, listed by a child so that the listing's directory fd is not among them
// (and without a pipeline or $(...), whose pipes the shell would hold while ls looks).
const PROBE = ['sh', '-c', 'ls -l /proc/$$/fd; true'];
/** `ls -l` of an fd directory -> "0 1 2" */
const fdList = (out: string) => [...out.matchAll(/ (\d+) -> /g)].map((m) => Number(m[1])).sort((a, b) => a - b).join(' ');
/** `ls -l` of an fd directory -> { fd: target } */
const fdTargets = (out: string) => Object.fromEntries([...out.matchAll(/ (\d+) -> (.*)$/gm)].map((m) => [m[1], m[2]]));
const who = [...(isRoot ? [['root', undefined] as const] : []), ...(unprivilegedUserns ? [['nobody', NOBODY] as const] : [])];
const REASON = 'needs root, or setpriv and unprivileged user namespaces';

const extra: number[] = [];
afterAll(() => extra.forEach((fd) => fs.closeSync(fd)));
/** fds a careless caller leaves open without close-on-exec: a file, the host's / (O_PATH), a pipe end. */
function leakyFds(): number[] {
  const file = fs.openSync('/etc/hostname', 'r');
  const root = fs.openSync('/', fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  extra.push(file, root);
  return [file, root];
}

/** Runs bin/nsrun.cjs with fds 3.. set to `fds` (and nothing else above 2). */
function runWithFds(args: string[], fds: number[], asUser?: { uid: number; gid: number }) {
  const argv = [...(asUser ? setprivPrefix(asUser) : []), process.execPath, NSRUN, ...args];
  const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', ...fds];
  const r = spawnSync(argv[0], argv.slice(1), { stdio, encoding: 'utf8', timeout: 20_000, cwd: '/' });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe.skipIf(who.length === 0)(gated(who.length > 0, 'the command gets exactly 0, 1, 2', REASON), () => {
  test.each(who)('as %s, with fds 3 and 4 open in nsrun: still only 0 1 2', (_n, user) => {
    const r = runWithFds(['--pid', '--', ...PROBE], leakyFds(), user);
    expect(r.stderr).toBe('');
    expect(fdList(r.stdout)).toBe('0 1 2');
  });

  test.each(who)('as %s, the probe inside reports Docker\'s capabilities, NoNewPrivs 1, seccomp filter mode 2 and fds 0 1 2', (_n, user) => {
    const r = runWithFds(['--pid', '--', 'sh', '-c', 'grep -E "^(CapEff|CapBnd|CapInh|NoNewPrivs|Seccomp):" /proc/self/status; ls -l /proc/$$/fd; true'], leakyFds(), user);
    expect(r.stderr).toBe('');
    const status = Object.fromEntries([...r.stdout.matchAll(/^(\w+):\s+(\S+)$/gm)].map((m) => [m[1], m[2]]));
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    expect(status).toEqual({ CapInh: '0000000000000000', CapEff: '00000000a80425fb', CapBnd: '00000000a80425fb', NoNewPrivs: '1', Seccomp: '2' });
    expect(fdList(r.stdout)).toBe('0 1 2');
  });

  test.each(who)('as %s, no namespaces, --as-pid-1, --net: only 0 1 2', (_n, user) => {
    for (const args of [[], ['--as-pid-1', '--pid'], ['--net', '--uts', '--ipc']]) {
      const r = runWithFds([...args, '--', ...PROBE], leakyFds(), user);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(fdList(r.stdout), args.join(' ')).toBe('0 1 2');
    }
  });

  test.each(who)('as %s, --preserve-fds 2 passes exactly fds 3 and 4, as they were', (_n, user) => {
    const r = runWithFds(['--pid', '--preserve-fds', '2', '--', ...PROBE], leakyFds(), user);
    expect(r.stderr).toBe('');
    expect(fdList(r.stdout)).toBe('0 1 2 3 4');
    expect(fdTargets(r.stdout)).toMatchObject({ 3: '/etc/hostname', 4: '/' });
  });

  test.each(who)('as %s, --preserve-fds with a gap is refused: Node\'s own fd would fill it', (_n, user) => {
    const r = runWithFds(['--pid', '--preserve-fds', '3', '--', 'true'], leakyFds(), user);
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/^nsrun: options: --preserve-fds: fd 5 was not passed to nsrun \(it is Node's own [^)]+\)\nhint: start nsrun with fds 3..5 open, without gaps\n$/);
  });

  test.skipIf(!BUSYBOX).each(who)('as %s, --rootfs: only 0 1 2, and none points outside the root', (_n, user) => {
    const root = buildRootfs();
    try {
      const r = runWithFds(['--rootfs', root, '--pid', '-e', 'PATH=/bin', '--', ...PROBE], leakyFds(), user);
      expect(r.stderr).toBe('');
      expect(fdList(r.stdout)).toBe('0 1 2');
      for (const t of Object.values(fdTargets(r.stdout))) expect(t).toMatch(/^((pipe|socket):\[\d+\]|\/dev\/null)$/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test.each(who)('as %s, nsrun-init (PID 1) holds only 0-2 and its control pipe', (_n, user) => {
    // nsrun-init reads the command's exec-error pipe until the exec closes it: let it settle
    const settle = 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ $(ls /proc/1/fd | wc -l) -le 4 ] && break; sleep 0.05; done; ls -l /proc/1/fd';
    const r = runWithFds(['--pid', '--', 'sh', '-c', settle], leakyFds(), user);
    expect(r.stderr).toBe('');
    const t = fdTargets(r.stdout);
    expect(Object.keys(t).length).toBe(4);
    const ctl = Object.keys(t).map(Number).find((fd) => fd > 2)!;
    expect(t[ctl]).toMatch(/^pipe:\[\d+\]$/);
  });
});

describe.skipIf(!isRoot)(gated(isRoot, 'a pty sandbox', 'needs root'), () => {
  test('with its own terminal, the command still has only 0 1 2 (the pty slave)', async () => {
    const sb = await spawn({ command: PROBE, namespaces: ['pid'], stdio: 'pty' });
    let out = '';
    sb.terminal!.on('data', (d: Buffer) => (out += d.toString()));
    await sb.exited;
    expect(fdList(out)).toBe('0 1 2');
  });
});

const running: ChildProcess[] = [];
afterEach(() => running.splice(0).forEach((c) => c.kill('SIGKILL')));

async function namedSandbox(name: string, asUser?: { uid: number; gid: number }): Promise<void> {
  const argv = [...(asUser ? setprivPrefix(asUser) : []), process.execPath, NSRUN, '--name', name, '--pid', '--', 'sleep', '1000'];
  const c = spawnChild(argv[0], argv.slice(1), { stdio: 'ignore' });
  running.push(c);
  const env = asUser ? { ...process.env, XDG_RUNTIME_DIR: undefined } : process.env;
  for (let i = 0; i < 250; i++) {
    if (nsrun(['ps', '--json'], { asUser, env }).stdout.includes(`"${name}"`)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`sandbox ${name} did not start`);
}

function cloexecFlags(file: string): number {
  try {
    return parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(file, 'utf8'))![1], 8);
  } catch {
    return 0o2000000;
  }
}

describe.skipIf(!isRoot)(gated(isRoot, 'nsrun exec', 'needs root'), () => {
  test('the joined command gets only 0 1 2 (the pidfd, namespace and root fds stay behind), or what --preserve-fds asked', async () => {
    const name = `fds${process.pid}`;
    await namedSandbox(name);
    const r = runWithFds(['exec', name, '--', ...PROBE], leakyFds());
    expect(r.stderr).toBe('');
    expect(fdList(r.stdout)).toBe('0 1 2');
    const p = runWithFds(['exec', '--preserve-fds', '1', name, '--', ...PROBE], leakyFds());
    expect(p.stderr).toBe('');
    expect(fdList(p.stdout)).toBe('0 1 2 3');
  });

  test('every fd nsrun itself holds while a sandbox runs is close-on-exec', async () => {
    const name = `fdc${process.pid}`;
    await namedSandbox(name);
    const nsrunPid = running[0].pid!;
    const open: string[] = [];
    // fds this test process holds without close-on-exec are inherited by every child, nsrun too
    const inherited = new Set(fs.readdirSync('/proc/self/fdinfo').map(Number).filter((fd) => !(cloexecFlags(`/proc/self/fdinfo/${fd}`) & 0o2000000)));
    for (const fd of fs.readdirSync(`/proc/${nsrunPid}/fdinfo`).map(Number)) {
      if (fd < 3 || inherited.has(fd)) continue;
      let flags: number;
      try {
        flags = parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/${nsrunPid}/fdinfo/${fd}`, 'utf8'))![1], 8);
      } catch {
        continue; // closed meanwhile
      }
      if (!(flags & 0o2000000)) open.push(`${fd} -> ${fs.readlinkSync(`/proc/${nsrunPid}/fd/${fd}`)}`);
    }
    expect(open).toEqual([]);
    expect(fs.readdirSync(`/proc/${nsrunPid}/fd`).length).toBeGreaterThan(5); // it did hold some
  });
});
