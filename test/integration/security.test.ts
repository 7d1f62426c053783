// Capabilities, no_new_privs, seccomp and --disable-userns against the real kernel, as root and as
// nobody: a probe inside reads /proc/self/status, perl's syscall() makes the raw calls.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { NSRUN, nsrun, setprivPrefix, type CliOptions } from '../helpers/cli';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { syscallsX86_64 } from '../../src/security/syscall-table';

const asRoot = isRoot ? [undefined] : [];
const asNobody = unprivilegedUserns ? [NOBODY] : [];
const who = [...asRoot.map((u) => ['root', u] as const), ...asNobody.map((u) => ['nobody', u] as const)];
const ROOTLESS_REASON = 'needs root, or setpriv and unprivileged user namespaces';
const x86 = process.arch === 'x64';
const hasPerl = fs.existsSync('/usr/bin/perl');
const PODMAN_PROFILE = '/usr/share/containers/seccomp.json';

/** Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP */
const DEFAULT_MASK = '00000000a80425fb';
const CAP_NET_ADMIN = '0000000000001000';

const dir = fs.mkdtempSync('/tmp/nsrun-security-');
fs.chmodSync(dir, 0o755);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
function profileFile(name: string, profile: unknown): string {
  const file = `${dir}/${name}-${process.pid}.json`;
  fs.writeFileSync(file, JSON.stringify(profile), { mode: 0o644 });
  return file;
}

const PROBE = 'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status';

/** What the command sees: its capability sets, NoNewPrivs and Seccomp mode. */
function probe(args: string[], user?: CliOptions['asUser']): Record<string, string> {
  const r = nsrun([...args, '--', 'sh', '-c', PROBE], { asUser: user });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/) as [string, string]));
}

/** Runs perl code inside; `$|=1` so that output survives a kill by SIGSYS. */
function perl(args: string[], code: string, user?: CliOptions['asUser']) {
  return nsrun([...args, '--', 'perl', '-e', `$|=1; ${code}`], { asUser: user });
}

/** perl: call syscall NAME with ARGS and print "NAME=errno text" or "NAME=ok". */
const call = (name: string, ...args: (number | string)[]) =>
  `{ my $r = syscall(${syscallsX86_64()[name]}${args.map((a) => `, ${a}`).join('')}); print "${name}=", ($r == -1 ? 0+$! : "ok"), "\\n"; }`;

describe.skipIf(who.length === 0)(gated(who.length > 0, 'capabilities and no_new_privs', ROOTLESS_REASON), () => {
  test.each(who)("as %s in a user namespace: Docker's default set, bounding = effective, no inheritable or ambient, NoNewPrivs, a filter", (_n, user) => {
    expect(probe(['-U'], user)).toEqual({
      CapInh: '0000000000000000', CapPrm: DEFAULT_MASK, CapEff: DEFAULT_MASK, CapBnd: DEFAULT_MASK, CapAmb: '0000000000000000', NoNewPrivs: '1', Seccomp: '2',
    });
  });

  test.each(who)('as %s: --cap-drop ALL leaves nothing, --cap-add adds (names in any spelling)', (_n, user) => {
    expect(probe(['-U', '--cap-drop', 'ALL'], user)).toMatchObject({ CapEff: '0000000000000000', CapBnd: '0000000000000000' });
    expect(probe(['-U', '--cap-drop', 'all', '--cap-add', 'cap_net_admin'], user)).toMatchObject({ CapEff: CAP_NET_ADMIN, CapBnd: CAP_NET_ADMIN });
    const added = probe(['-U', '--cap-add', 'Net_Admin', '--cap-drop', 'CAP_KILL,mknod'], user);
    expect(BigInt(`0x${added.CapEff}`)).toBe((BigInt(`0x${DEFAULT_MASK}`) | 0x1000n) & ~(1n << 5n) & ~(1n << 27n));
  });

  test.each(who)('as %s: a non-root uid inside gets no capabilities, or only the added ones as ambient', (_n, user) => {
    // the caller mapped to 1000: the command runs as 1000 from the start, in a user namespace it owns
    const plain = probe(['-U', '--map-user', '1000'], user);
    expect(plain).toMatchObject({ CapEff: '0000000000000000', CapPrm: '0000000000000000', CapBnd: DEFAULT_MASK, CapAmb: '0000000000000000' });
    const added = probe(['-U', '--map-user', '1000', '--cap-add', 'NET_ADMIN'], user);
    expect(added).toMatchObject({ CapEff: CAP_NET_ADMIN, CapAmb: CAP_NET_ADMIN, CapInh: CAP_NET_ADMIN });
  });

  test.each(who)('as %s: --allow-new-privs leaves NoNewPrivs off and still installs the filter', (_n, user) => {
    expect(probe(['-U', '--allow-new-privs'], user)).toMatchObject({ NoNewPrivs: '0', Seccomp: '2', CapEff: DEFAULT_MASK });
  });

  test.each(who)('as %s: --seccomp=unconfined installs no filter', (_n, user) => {
    expect(probe(['-U', '--seccomp=unconfined'], user)).toMatchObject({ Seccomp: '0', NoNewPrivs: '1' });
  });

  test.skipIf(!isRoot)(gated(isRoot, 'as root without a user namespace: the host root is limited the same way', 'needs root'), () => {
    expect(probe(['--pid'])).toMatchObject({ CapEff: DEFAULT_MASK, CapBnd: DEFAULT_MASK, CapInh: '0000000000000000', NoNewPrivs: '1', Seccomp: '2' });
  });

  test.skipIf(!isRoot)(gated(isRoot, 'as root: --uid 1000 without a user namespace keeps only --cap-add capabilities (PR_SET_KEEPCAPS across setresuid)', 'needs root'), () => {
    expect(probe(['--pid', '--uid', '1000'])).toMatchObject({ CapEff: '0000000000000000', CapPrm: '0000000000000000', CapBnd: DEFAULT_MASK });
    const r = nsrun(['--pid', '--uid', '1000', '--cap-add', 'NET_ADMIN', '--', 'sh', '-c', `id -u; ${PROBE}`]);
    expect(r.stdout).toMatch(/^1000\n/);
    expect(r.stdout).toMatch(/CapEff:\s+0000000000001000/);
    expect(r.stdout).toMatch(/CapAmb:\s+0000000000001000/);
  });

  test.skipIf(!unprivilegedUserns)(gated(unprivilegedUserns, 'as nobody without namespaces: no capabilities to drop, still NoNewPrivs and the filter; --cap-add is refused', ROOTLESS_REASON), () => {
    expect(probe([], NOBODY)).toMatchObject({ CapEff: '0000000000000000', NoNewPrivs: '1', Seccomp: '2' });
    const r = nsrun(['--cap-add', 'NET_ADMIN', '--', 'true'], { asUser: NOBODY });
    expect(r.status).toBe(125);
    expect(r.stderr.split('\n')[0]).toBe('nsrun: options: --cap-add: cannot add capabilities: you are not root and the sandbox has no user namespace');
    const a = nsrun(['--allow-new-privs', '--', 'true'], { asUser: NOBODY });
    expect(a.status).toBe(125);
    expect(a.stderr).toContain('a seccomp filter without no_new_privs needs CAP_SYS_ADMIN');
  });

  test.each(who)('as %s: mounting needs --cap-add SYS_ADMIN (the capability and the filter both say no)', (_n, user) => {
    const without = nsrun(['-U', '-m', '--', 'sh', '-c', 'mount -t tmpfs none /mnt'], { asUser: user });
    expect(without.status).not.toBe(0);
    const withCap = nsrun(['-U', '-m', '--cap-add', 'SYS_ADMIN', '--', 'sh', '-c', 'mount -t tmpfs none /mnt && findmnt -n -o FSTYPE /mnt'], { asUser: user });
    expect(withCap.stdout.trim()).toBe('tmpfs');
    expect(withCap.status).toBe(0);
  });
});

describe.skipIf(who.length === 0 || !x86 || !hasPerl)(gated(who.length > 0 && x86 && hasPerl, 'the default seccomp filter', `${ROOTLESS_REASON}; x86_64 and perl`), () => {
  test.each(who)('as %s: denied calls get EPERM, allowed ones work', (_n, user) => {
    const r = perl(['-U'], [call('keyctl', 0, 0), call('add_key', 0, 0, 0, 0, 0), call('bpf', 0, 0, 0), call('perf_event_open', 0, 0, 0, 0, 0), call('open_by_handle_at', 0, 0, 0), call('userfaultfd', 0), call('kexec_load', 0, 0, 0, 0), call('init_module', 0, 0, 0), call('clock_settime', 0, 0), call('getpid')].join(' '), user);
    expect(r.stdout.trim().split('\n')).toEqual(['keyctl=1', 'add_key=1', 'bpf=1', 'perf_event_open=1', 'open_by_handle_at=1', 'userfaultfd=1', 'kexec_load=1', 'init_module=1', 'clock_settime=1', 'getpid=ok']);
    expect(r.status).toBe(0);
  });

  test.each(who)('as %s: unconfined, the same calls reach the kernel (and fail there for other reasons)', (_n, user) => {
    const r = perl(['-U', '--seccomp=unconfined'], call('keyctl', 0, 0), user);
    // KEYCTL_GET_KEYRING_ID of keyring 0: ENOKEY (126) or EINVAL, never the filter's EPERM
    expect(r.stdout.trim()).not.toBe('keyctl=1');
  });

  test.each(who)('as %s: TIOCSTI and TIOCLINUX are refused by the filter (EPERM, not ENOTTY), with high bits set too (CVE-2019-10063)', (_n, user) => {
    const code = [call('ioctl', 0, '0x5412', 0), call('ioctl', 0, '0x100005412', 0), call('ioctl', 0, '0x541C', 0), call('ioctl', 0, '0x5413', 0)].join(' ');
    expect(perl(['-U'], code, user).stdout.trim().split('\n')).toEqual(['ioctl=1', 'ioctl=1', 'ioctl=1', 'ioctl=25']);
    expect(perl(['-U', '--seccomp=unconfined'], code, user).stdout.trim().split('\n')).toEqual(['ioctl=25', 'ioctl=25', 'ioctl=25', 'ioctl=25']);
  });

  test.each(who)('as %s: personality: the query and PER_LINUX work, ADDR_NO_RANDOMIZE is refused', (_n, user) => {
    const r = perl(['-U'], [call('personality', '0xffffffff'), call('personality', '0x0040000')].join(' '), user);
    expect(r.stdout.trim().split('\n')).toEqual(['personality=ok', 'personality=1']);
  });

  test.each(who)('as %s: the x32 ABI is killed (SIGSYS)', (_n, user) => {
    const r = perl(['-U'], `print "before\\n"; syscall(0x40000000 + ${syscallsX86_64().getpid}); print "after\\n";`, user);
    expect(r.stdout).toBe('before\n');
    expect(r.status).toBe(128 + 31);
  });

  test.each(who)('as %s: a Docker-format JSON profile: errnoRet, args, and the default action', (_n, user) => {
    const file = profileFile('custom', {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['getpriority'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
        { names: ['not_a_real_syscall'], action: 'SCMP_ACT_ERRNO' },
      ],
    });
    const r = nsrun(['-U', '--seccomp', file, '--', 'sh', '-c', `mkdir ${dir}/x 2>&1; perl -e '$|=1; ${call('getpriority', 1, 0)} ${call('getpriority', 0, 0)} ${call('keyctl', 0, 0)}'`], { asUser: user });
    expect(r.stdout).toContain('Permission denied');
    // getpriority(PRIO_PGRP) refused by the rule, PRIO_PROCESS allowed; keyctl is allowed by this profile
    expect(r.stdout).toMatch(/getpriority=1\ngetpriority=ok\nkeyctl=(?!1\n)\d+\n/);
  });

  test.each(who)('as %s: --disable-userns: nested user namespaces cannot be created; without it they can', (_n, user) => {
    const on = nsrun(['-U', '--disable-userns', '--', 'sh', '-c', 'unshare -U true; echo unshare=$?; perl -e \'' + call('clone3', 0, 0) + "'"], { asUser: user });
    expect(on.stdout).toContain('unshare=1');
    expect(on.stdout).toContain('clone3=38'); // ENOSYS: libc falls back to clone
    expect(on.stderr).toBe('unshare: unshare failed: Operation not permitted\n');
    const off = nsrun(['-U', '--', 'sh', '-c', 'unshare -U true; echo unshare=$?'], { asUser: user });
    expect(off.stdout).toBe('unshare=0\n');
    // also with --seccomp=unconfined: the userns rules alone
    const alone = nsrun(['-U', '--seccomp=unconfined', '--disable-userns', '--', 'sh', '-c', 'unshare -U true; echo unshare=$?; grep Seccomp: /proc/self/status'], { asUser: user });
    expect(alone.stdout).toMatch(/unshare=1\nSeccomp:\s+2/);
  });

  test.skipIf(!fs.existsSync(PODMAN_PROFILE))(gated(fs.existsSync(PODMAN_PROFILE), `the containers-common profile (${PODMAN_PROFILE}, an allow list in Docker's format) runs a shell; add_key, which it does not list, gets its defaultErrnoRet`, 'golang-github-containers-common not installed'), () => {
    const user = who[0][1];
    const r = nsrun(['-U', '--seccomp', PODMAN_PROFILE, '--', 'sh', '-c', `ls / >/dev/null && echo ls-ok; perl -e '${call('add_key', 0, 0, 0, 0, 0)} ${call('bpf', 0, 0, 0)}'`], { asUser: user });
    expect(r.stderr).toBe('');
    // bpf: the profile's own rule for a sandbox without CAP_SYS_ADMIN (EPERM)
    expect(r.stdout).toBe('ls-ok\nadd_key=38\nbpf=1\n');
  });
});

describe.skipIf(who.length === 0)(gated(who.length > 0, 'nsrun exec', ROOTLESS_REASON), () => {
  // named sandboxes of an unprivileged user live in its XDG_RUNTIME_DIR
  const runtime = fs.mkdtempSync(`${dir}/xdg-`);
  fs.chownSync(runtime, NOBODY.uid, NOBODY.gid);
  fs.chmodSync(runtime, 0o700);
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime };

  test.each(who)('as %s: exec into a running sandbox gets its restrictions (the default set and filter); --cap-drop and --seccomp work on exec', async (_n, user) => {
    const name = `sec${process.pid}${user ? 'n' : 'r'}`;
    const opts: CliOptions = { asUser: user, env };
    const argv = [...(user ? setprivPrefix(user) : []), process.execPath, NSRUN, '--name', name, '-U', '--pid', '--', 'sleep', '60'];
    const bg = spawn(argv[0], argv.slice(1), { stdio: 'ignore', env });
    const exited = new Promise((res) => bg.once('exit', res));
    try {
      for (let i = 0; i < 100 && !nsrun(['ps'], opts).stdout.includes(name); i++) await new Promise((res) => setTimeout(res, 50));
      const r = nsrun(['exec', name, '--', 'sh', '-c', PROBE], opts);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`CapEff:\\s+${DEFAULT_MASK}`));
      expect(r.stdout).toMatch(/NoNewPrivs:\s+1/);
      expect(r.stdout).toMatch(/Seccomp:\s+2/);
      const dropped = nsrun(['exec', '--cap-drop', 'ALL', '--seccomp=unconfined', name, '--', 'sh', '-c', PROBE], opts);
      expect(dropped.stdout).toMatch(/CapEff:\s+0000000000000000/);
      expect(dropped.stdout).toMatch(/Seccomp:\s+0/);
      const insp = nsrun(['inspect', name], opts);
      expect(insp.stdout).toContain('capabilities: CAP_CHOWN, CAP_DAC_OVERRIDE');
      expect(insp.stdout).toContain('no_new_privs: 1, seccomp: filter');
    } finally {
      nsrun(['kill', name, 'KILL'], opts);
      bg.kill('SIGKILL');
      await exited;
    }
  });

  test.each(who)('as %s: like docker exec, exec applies what the named sandbox was started with (--cap-add, --seccomp FILE, --disable-userns)', async (_n, user) => {
    const name = `seci${process.pid}${user ? 'n' : 'r'}`;
    const opts: CliOptions = { asUser: user, env };
    const file = profileFile(`inherit${user ? 'n' : 'r'}`, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 30 }] });
    const argv = [...(user ? setprivPrefix(user) : []), process.execPath, NSRUN, '--name', name, '-U', '--pid', '-m', '--cap-add', 'SYS_ADMIN', '--seccomp', file, '--disable-userns', '--', 'sleep', '60'];
    const bg = spawn(argv[0], argv.slice(1), { stdio: 'ignore', env });
    const exited = new Promise((res) => bg.once('exit', res));
    try {
      for (let i = 0; i < 100 && !nsrun(['ps'], opts).stdout.includes(name); i++) await new Promise((res) => setTimeout(res, 50));
      fs.rmSync(file); // exec uses the profile the sandbox started with, not the file now
      const r = nsrun(['exec', name, '--', 'sh', '-c', `${PROBE}; mkdir /tmp/x 2>&1; unshare -U true 2>/dev/null; echo unshare=$?`], opts);
      expect(r.stderr).toBe('');
      expect(BigInt(`0x${/CapEff:\s+(\w+)/.exec(r.stdout)![1]}`) & (1n << 21n)).toBe(1n << 21n);
      expect(r.stdout).toContain('Read-only file system');
      expect(r.stdout).toContain('unshare=1');
      const own = nsrun(['exec', '--cap-drop', 'ALL', name, '--', 'sh', '-c', PROBE], opts);
      expect(own.stdout).toMatch(/CapEff:\s+0000000000000000/);
    } finally {
      nsrun(['kill', name, 'KILL'], opts);
      bg.kill('SIGKILL');
      await exited;
    }
  });
});

describe('bad input', () => {
  test.each([
    [['--cap-add', 'FLY', '--', 'true'], "nsrun: options: --cap-add: unknown capability 'FLY'"],
    [['--cap-drop', 'CAP_', '--', 'true'], "nsrun: options: --cap-drop: unknown capability 'CAP_'"],
    [['-U', '--cap-add', 'KILL', '--cap-drop', 'kill', '--', 'true'], 'nsrun: options: --cap-add: CAP_KILL is both added and dropped'],
    [['--seccomp', '/nonexistent/p.json', '--', 'true'], 'nsrun: options: --seccomp: /nonexistent/p.json: cannot read the profile (ENOENT)'],
    [['--seccomp', '/etc/hostname', '--', 'true'], 'nsrun: options: --seccomp: /etc/hostname: not valid JSON'],
    [['--seccomp=', '--', 'true'], "nsrun: options: --seccomp: needs 'unconfined' or a profile file"],
  ])('%j', (args, first) => {
    const r = nsrun(args);
    expect(r.status).toBe(125);
    expect(r.stderr.split('\n')[0].startsWith(first)).toBe(true);
    expect(r.stdout).toBe('');
  });
  test('a profile that denies exec: the hint names seccomp', () => {
    const file = profileFile('noexec', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['execve'], action: 'SCMP_ACT_ERRNO' }] });
    const r = nsrun(['--seccomp', file, '--', 'true'], isRoot ? {} : { asUser: NOBODY });
    expect(r.status).toBe(126);
    expect(r.stderr).toMatch(/^nsrun: exec: true: Operation not permitted\nhint: .*seccomp/);
  });
});

describe.skipIf(!isRoot)(gated(isRoot, 'library API', 'needs root (the API runs as the test process)'), () => {
  test('run() takes capDrop, a profile object and disableUserns; bad names reject before anything starts', async () => {
    const { run, isNsrunError } = await import('../../src/index');
    const r = await run({
      command: ['sh', '-c', `${PROBE}; mkdir ${dir}/api-${process.pid} 2>&1; unshare -U true 2>/dev/null; echo unshare=$?`],
      namespaces: ['user'],
      capDrop: ['ALL'],
      disableUserns: true,
      seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 30 }] },
    });
    expect(r.stdout).toMatch(/CapEff:\s+0000000000000000/);
    expect(r.stdout).toContain('Read-only file system');
    expect(r.stdout).toContain('unshare=1');
    await expect(run({ command: ['true'], capAdd: ['WIZARD'] })).rejects.toSatisfy((e: unknown) => isNsrunError(e) && e.message === "options: --cap-add: unknown capability 'WIZARD'");
  });
});
