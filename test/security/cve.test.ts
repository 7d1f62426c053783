// One test per class of container-runtime vulnerability nsrun guards against, named after the CVE
// that made it famous. Each attacks from inside (or races from outside) and checks the host.
import { spawn as spawnChild, spawnSync, type StdioOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { initPath } from '../../src/native/binding';
import { gated, hasPython, hasTmux, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { NSRUN, nsrun, ROOT, setprivPrefix } from '../helpers/cli';
import { BUSYBOX, buildRootfs } from '../helpers/rootfs';
import { TmuxServer } from '../helpers/tmux';

const who = [...(isRoot ? [['root', undefined] as const] : []), ...(unprivilegedUserns ? [['nobody', NOBODY] as const] : [])];
const REASON = 'needs root, or setpriv and unprivileged user namespaces';
const tmp = fs.mkdtempSync(`/tmp/nsrun-cve-${process.pid}-`);
fs.chmodSync(tmp, 0o755);
const rootfsList: string[] = [];
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  rootfsList.forEach((r) => fs.rmSync(r, { recursive: true, force: true }));
});
function rootfs(): string {
  const r = buildRootfs();
  rootfsList.push(r);
  return r;
}
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const mountinfo = () => fs.readFileSync('/proc/self/mountinfo', 'utf8');

function run(args: string[], opts: { user?: { uid: number; gid: number }; fds?: number[]; prefix?: string[] } = {}) {
  const argv = [...(opts.prefix ?? (opts.user ? setprivPrefix(opts.user) : [])), process.execPath, NSRUN, ...args];
  const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', ...(opts.fds ?? [])];
  const r = spawnSync(argv[0], argv.slice(1), { stdio, encoding: 'utf8', timeout: 20_000, cwd: '/' });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe.skipIf(who.length === 0 || !hasPython)(gated(who.length > 0 && hasPython, 'CVE-2019-5736 (/proc/self/exe overwrite)', `${REASON}, and python3`), () => {
  // runc's flaw: a process in the container opened the runtime's binary through /proc/PID/exe and
  // wrote over it on the host. nsrun-init runs from a sealed memfd copy: nothing on the host to reach.
  test.each(who)('as %s: PID 1 is a sealed memfd; opening /proc/1/exe for writing fails; the host binary is unchanged', (_n, user) => {
    const before = sha(initPath());
    const py = [
      'import errno, os',
      'out = [os.readlink("/proc/1/exe")]',
      'for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND):',
      '    try:',
      '        fd = os.open("/proc/1/exe", flags)',
      '        try: os.write(fd, b"pwned"); out.append("WROTE")',
      '        except OSError as e: out.append(errno.errorcode[e.errno])',
      '    except OSError as e: out.append(errno.errorcode[e.errno])',
      'try:',
      '    p = os.open("/proc/1/exe", os.O_PATH)',
      '    os.open("/proc/self/fd/%d" % p, os.O_WRONLY); out.append("REOPENED")',
      'except OSError as e: out.append(errno.errorcode[e.errno])',
      'print(out[0]); print(" ".join(out[1:]))',
    ].join('\n');
    const r = run(['--pid', '--', 'python3', '-c', py], { user });
    expect(r.stderr).toBe('');
    const [link, line] = r.stdout.trim().split('\n');
    const results = line.split(' ');
    expect(link).toBe('/memfd:nsrun-init (deleted)');
    expect(results.filter((x) => x === 'WROTE' || x === 'REOPENED')).toEqual([]);
    expect(results.length).toBe(5);
    expect(sha(initPath())).toBe(before);
  });
});

describe.skipIf(who.length === 0 || !BUSYBOX)(gated(who.length > 0 && !!BUSYBOX, 'CVE-2024-21626 (Leaky Vessels: leaked fd, cwd outside the root)', `${REASON}, and busybox-static`), () => {
  // runc's flaw: an fd to a host directory leaked into the container, and WORKDIR /proc/self/fd/N
  // put the process's cwd on the host. nsrun closes every fd above 2 at exec and checks, after
  // chdir, that the cwd is inside the new root.
  test.each(who)('as %s: an fd to the host / passed to nsrun never reaches the command; a cwd through it is refused', (_n, user) => {
    const r0 = rootfs();
    fs.symlinkSync('/proc/self/fd/3', path.join(r0, 'leak'));
    const hostRoot = fs.openSync('/', fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      // the command's fds are 0-2 and point at pipes or /dev/null only
      const probe = run(['--rootfs', r0, '--pid', '-e', 'PATH=/bin', '--', 'sh', '-c', 'ls -l /proc/$$/fd /proc/1/fd; true'], { user, fds: [hostRoot] });
      expect(probe.stderr).toBe('');
      const targets = [...probe.stdout.matchAll(/ (\d+) -> (.*)$/gm)].map((m) => m[2]);
      expect(targets.length).toBeGreaterThan(0);
      for (const t of targets) expect(t).toMatch(/^((pipe|socket):\[\d+\]|\/dev\/null)$/);
      // a working directory that reaches the host through the leaked fd
      const r = run(['--rootfs', r0, '--pid', '-e', 'PATH=/bin', '--chdir', '/leak', '--', 'sh', '-c', 'pwd; ls'], { user, fds: [hostRoot] });
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('nsrun: check-cwd: Cross-device link not permitted\nhint: the working directory is outside the new root\n');
      expect(r.status).toBe(125);
      // and the direct form is refused before anything starts
      const direct = run(['--rootfs', r0, '--pid', '--chdir', '/proc/self/fd/3', '--', 'true'], { user, fds: [hostRoot] });
      expect(direct.stderr).toBe("nsrun: options: --chdir: '/proc/self/fd/3' is under /proc/*/fd, which can reach outside the sandbox\n");
      expect(direct.status).toBe(125);
    } finally {
      fs.closeSync(hostRoot);
    }
  });
});

describe.skipIf(!isRoot || !BUSYBOX || !hasPython)(gated(isRoot && !!BUSYBOX && hasPython, 'CVE-2021-30465 (symlink-exchange mount target)', 'needs root, busybox-static and python3'), () => {
  // runc's flaw: a mount target inside the rootfs was swapped for a symlink between its check and
  // the mount, and the mount landed on a host path. nsrun mounts user targets after pivot_root
  // (a symlink resolves inside the new root) and the pre-pivot /proc and /sys through an fd opened
  // without following the last component.
  test('a symlinked bind target is refused; under a RENAME_EXCHANGE race, no mount ever lands on the host path', async () => {
    const r0 = rootfs();
    const victim = path.join(tmp, 'victim');
    fs.mkdirSync(victim);
    fs.writeFileSync(path.join(victim, 'untouched'), 'host\n');
    const src = path.join(tmp, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'marker'), 'bound\n');
    // static: the target is a symlink to the host path
    fs.symlinkSync(victim, path.join(r0, 'mnt', 'evil'));
    const s = run(['--rootfs', r0, '--bind', `${src}:/mnt/evil`, '--', '/bin/true']);
    expect(s.stderr).toBe('nsrun: mount-point: /mnt/evil: Not a directory\nhint: the target exists and is not a directory (a file, or a symlink, which is refused): a directory is bound onto a directory\n');
    expect(s.status).toBe(125);

    // racing: /mnt/t and /proc swap places with symlinks to the victim, as fast as possible
    fs.mkdirSync(path.join(r0, 'mnt', 't'));
    fs.symlinkSync(victim, path.join(r0, 'mnt', 'l'));
    fs.symlinkSync(victim, path.join(r0, 'proc-l'));
    const racer = spawnChild('python3', ['-c', [
      'import ctypes, os, sys',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'pairs = [(a.encode(), b.encode()) for a, b in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4]))]',
      'while True:',
      '    for a, b in pairs: libc.renameat2(-100, a, -100, b, 2)',  // RENAME_EXCHANGE
    ].join('\n'), path.join(r0, 'mnt', 't'), path.join(r0, 'mnt', 'l'), path.join(r0, 'proc'), path.join(r0, 'proc-l')], { stdio: 'ignore' });
    const before = mountinfo();
    const outcomes = new Map<string, number>();
    try {
      for (let i = 0; i < 40; i++) {
        // the host's victim directory must never show up inside, at either target
        const r = run(['--rootfs', r0, '--pid', '--bind', `${src}:/mnt/t`, '-e', 'PATH=/bin', '--', 'sh', '-c',
          'cat /mnt/t/marker 2>/dev/null; for d in /mnt/t /mnt/l /proc /proc-l; do test -e $d/untouched && echo VICTIM $d; done; true']);
        const key = r.status === 0 ? `ran: ${r.stdout.trim() || '(nothing at /mnt/t: a symlink there now)'}` : (/^nsrun: ([^:]+: [^:]+): /.exec(r.stderr)?.[1] ?? r.stderr.split('\n')[0]);
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        expect(r.stdout).not.toContain('VICTIM');
        expect([0, 125]).toContain(r.status);
      }
    } finally {
      racer.kill('SIGKILL');
    }
    // each run either worked with the right mounts or was refused; the host saw nothing
    expect(mountinfo()).toBe(before);
    expect(fs.readdirSync(victim)).toEqual(['untouched']);
    expect(fs.readFileSync(path.join(victim, 'untouched'), 'utf8')).toBe('host\n');
    expect([...outcomes.values()].reduce((a, b) => a + b)).toBe(40);
    console.log('CVE-2021-30465 race outcomes:', Object.fromEntries(outcomes));
  }, 120_000);
});

describe.skipIf(!hasTmux || !hasPython || !isRoot)(gated(hasTmux && hasPython && isRoot, 'CVE-2017-5226 (TIOCSTI into the caller\'s terminal)', 'needs tmux, python3 and root'), () => {
  // bubblewrap's flaw: the sandbox shared the caller's terminal, and TIOCSTI pushed a command into
  // the caller's shell. nsrun never hands the caller's terminal to the sandbox: its own pty, or
  // pipes relayed by nsrun. Proved with TIOCSTI allowed (seccomp off where nsrun has one): the
  // injection works on the sandbox's own terminal and never reaches the caller's.
  const seccompOff = nsrun(['--help']).stdout.includes('--seccomp') ? '--seccomp=unconfined ' : '';
  const servers: TmuxServer[] = [];
  afterAll(() => servers.forEach((x) => x.kill()));
  test.each([
    ['its own pty (root, no user namespace: CAP_SYS_ADMIN)', '--pid', ''],
    ['pipes relayed by nsrun (stdout not a terminal)', '--pid', ' | cat'],
    ['its own pty, root in a user namespace', '--user --pid', ''],
  ])('%s', async (_t, options, tail) => {
    const server = new TmuxServer('nsrun-cve');
    servers.push(server);
    const file = path.join(tmp, `injected-${Math.random().toString(36).slice(2)}`);
    const py = `$'import fcntl, termios\\nfor fd in (0, 1, 2):\\n    try:\\n        [fcntl.ioctl(fd, termios.TIOCSTI, c.encode()) for c in "touch ${file}\\\\n"]; print("STI-OK", fd, flush=True)\\n    except OSError as e: print("STI-ERR", fd, e.errno, flush=True)'`;
    const s = server.newSession({ command: 'bash --norc --noprofile', cwd: ROOT });
    try {
      s.type("PS1='[h]$ '");
      await s.waitFor(/^\[h\]\$$/m);
      s.type(`./bin/nsrun.cjs ${seccompOff}${options} -- python3 -c ${py}${tail}; echo "done""-$?"`);
      const m = await s.waitFor(/^done-(\d+)$/m);
      s.type('echo "sync""-point"');
      await s.waitFor(/^sync-point$/m);
      expect(m[1]).toBe('0');
      const pane = s.capture();
      if (!tail) expect(pane).toMatch(/STI-OK 0/); // TIOCSTI itself works: on the sandbox's own terminal
      else expect(pane).toMatch(/STI-ERR 0 25/); // a pipe is no terminal (ENOTTY)
      expect(fs.existsSync(file), 'the injected command ran in the caller\'s shell').toBe(false);
    } finally {
      s.kill();
    }
  }, 60_000);
});

describe.skipIf(!isRoot || !unprivilegedUserns || !hasPython)(gated(isRoot && unprivilegedUserns && hasPython, 'CVE-2014-8989 (setgroups before gid_map)', 'needs root (to set up the groups), setpriv, unprivileged user namespaces and python3'), () => {
  // The kernel flaw: root in an unprivileged user namespace could drop supplementary groups and so
  // escape "group may not read" permissions. nsrun writes "deny" to /proc/PID/setgroups before an
  // unprivileged gid_map, so setgroups() fails inside and the group keeps applying.
  test('a rootless sandbox sees setgroups=deny, cannot drop its groups, and a group-denied file stays denied', () => {
    const gid = 40000 + (process.pid % 20000);
    const secret = path.join(tmp, 'group-denied');
    fs.writeFileSync(secret, 'others may read, that group may not\n');
    fs.chownSync(secret, 0, gid);
    fs.chmodSync(secret, 0o604);
    const py = [
      'import errno, os',
      'print(open("/proc/self/setgroups").read().strip(), os.getuid(), len(os.getgroups()))',
      'try: os.setgroups([]); print("DROPPED")',
      'except OSError as e: print(errno.errorcode[e.errno])',
      `try: open("${secret}").read(); print("READ")`,
      'except OSError as e: print(errno.errorcode[e.errno])',
    ].join('\n');
    const r = run(['--pid', '--map-root-user', '--', 'python3', '-c', py], { prefix: ['setpriv', `--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, `--groups=${gid}`, '--'] });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('deny 0 1\nEPERM\nEACCES\n');
    // the control: without that group, nobody reads it
    const control = spawnSync('setpriv', [...setprivPrefix(NOBODY), 'cat', secret], { encoding: 'utf8' });
    expect(control.stdout).toBe('others may read, that group may not\n');
  });
});

describe.skipIf(who.length === 0 || !BUSYBOX)(gated(who.length > 0 && !!BUSYBOX, 'CVE-2019-19921 (symlinked /proc in a rootfs)', `${REASON}, and busybox-static`), () => {
  // runc's flaw: /proc in the image was a symlink, so the runtime's writes to /proc/self/attr went
  // elsewhere. nsrun refuses a rootfs whose /proc, /sys or /dev is a symlink, dangling or not.
  test.each(who)('as %s: /proc, /sys or /dev as a symlink is refused before anything starts', (_n, user) => {
    for (const d of ['proc', 'sys', 'dev']) {
      const r0 = rootfs();
      fs.rmSync(path.join(r0, d), { recursive: true });
      fs.symlinkSync(d === 'dev' ? '/nonexistent' : path.join(tmp), path.join(r0, d));
      const before = mountinfo();
      const r = run(['--rootfs', r0, '--pid', '--net', '--', '/bin/true'], { user });
      expect(r.stderr).toBe(
        `nsrun: options: --rootfs: ${r0}/${d} is a symlink: /${d} must be an ordinary directory\n` +
          'hint: a symlinked /proc, /sys or /dev could redirect mounts (runc CVE-2019-19921); remove the link\n',
      );
      expect(r.status).toBe(125);
      expect(mountinfo()).toBe(before);
    }
  });
});
