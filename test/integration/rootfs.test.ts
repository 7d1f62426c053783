// --rootfs against the real kernel, as root and rootless: pivot_root into a busybox fixture, the
// default /proc /dev /sys /tmp, binds, tmpfs, --read-only, --overlay, the masked /proc paths, and
// the bad inputs; the host's mount table is the same after every test, failing ones included.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest';
import { NSRUN, nsrun, type CliOptions } from '../helpers/cli';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { BUSYBOX, buildRootfs, FIXTURE_MARKER, listing } from '../helpers/rootfs';

const canRoot = isRoot && !!BUSYBOX;
const canRootless = unprivilegedUserns && !!BUSYBOX;
const who: [string, CliOptions][] = [
  ...(canRoot ? [['root', {}] as [string, CliOptions]] : []),
  ...(canRootless ? [['nobody', { asUser: NOBODY }] as [string, CliOptions]] : []),
];
const REASON = BUSYBOX ? 'needs root (and setpriv plus unprivileged user namespaces for the rootless half)' : 'busybox-static is not installed';

const root = BUSYBOX ? buildRootfs() : '';
const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'nsrun-bind-'));
fs.chmodSync(shared, 0o777);
afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(shared, { recursive: true, force: true });
});

let mountsBefore = '';
beforeEach(() => {
  mountsBefore = fs.readFileSync('/proc/self/mountinfo', 'utf8');
});
afterEach(() => {
  expect(fs.readFileSync('/proc/self/mountinfo', 'utf8'), 'the host mount table changed').toBe(mountsBefore);
});

const box = (args: string[], script: string, opts: CliOptions = {}) =>
  nsrun(['--rootfs', root, ...args, '-e', 'PATH=/bin', '--', '/bin/sh', '-c', script], opts);

describe.skipIf(who.length === 0)(gated(who.length > 0, '--rootfs', REASON), () => {
  test.each(who)('as %s: / is the fixture, the host is unreachable, /proc shows only the sandbox', (_n, opts) => {
    const r = box(['--pid'], 'cat /etc/nsrun-fixture; echo @; ls /; echo @; ps -o pid,comm; echo @; grep -cE "^[^ ]+ [^ ]+ [^ ]+ [^ ]+ / " /proc/self/mountinfo; ls /proc/1/root/etc/nsrun-fixture', opts);
    expect(r.stderr).toBe('');
    const [marker, ls, ps, rest] = r.stdout.split('@\n').map((part) => part.trim().split('\n').map((l) => l.trim()));
    expect(marker).toEqual([FIXTURE_MARKER]);
    expect(ls).toEqual(['bin', 'dev', 'etc', 'mnt', 'proc', 'root', 'sys', 'tmp']);
    const procs = ps.slice(1).map((l) => l.split(/\s+/));
    expect(procs[0]).toEqual(['1', 'nsrun-init']);
    expect(procs.every(([pid]) => Number(pid) < 20)).toBe(true); // only the sandbox's own PIDs
    expect(rest).toEqual(['1', '/proc/1/root/etc/nsrun-fixture']); // one root mount: the old root is gone
  });

  test.each(who)('as %s: /dev has exactly the minimal devices, they work, and devpts is its own', (_n, opts) => {
    const r = box(['--pid'], 'ls /dev | tr "\\n" " "; echo; head -c 4 /dev/zero | od -An -tx1; echo x > /dev/null && echo null-ok; head -c 8 /dev/urandom | wc -c; ls /dev/pts', opts);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0].trim().split(' ')).toEqual(['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
    expect(lines[1].trim()).toBe('00 00 00 00');
    expect(lines[2]).toBe('null-ok');
    expect(lines[3].trim()).toBe('8');
    expect(lines[4]).toBe('ptmx'); // a fresh devpts instance: none of the host's ptys
  });

  test.each(who)('as %s: tty works in the sandbox\'s own devpts', async (_n, opts) => {
    // a pty sandbox through the library, as the CLI does for a terminal
    if (opts.asUser) return; // the API runs in this (root) process; the CLI cases cover rootless
    const { spawn } = await import('../../src/index');
    const sb = await spawn({ command: ['/bin/sh', '-c', 'tty'], rootfs: root, namespaces: ['pid'], stdio: 'pty', env: { PATH: '/bin' } });
    let out = '';
    sb.terminal!.on('data', (d: Buffer) => (out += d));
    expect(await sb.exited).toEqual({ exitCode: 0, signal: null });
    expect(out.trim()).toBe('/dev/pts/0');
  });

  test.each(who)('as %s: /sys read-only with --net, absent without; /tmp a tmpfs', (_n, opts) => {
    const withNet = box(['--pid', '--net'], 'ls /sys/class/net; touch /sys/x 2>&1 | grep -c "Read-only"; grep " /tmp " /proc/self/mountinfo | grep -c tmpfs', opts);
    expect(withNet.stdout.trim().split('\n')).toEqual(['lo', '1', '1']);
    const without = box(['--pid'], 'ls /sys | wc -l', opts);
    expect(without.stdout.trim()).toBe('0');
  });

  test.each(who)('as %s: sensitive /proc paths are masked or read-only (runc defaults)', (_n, opts) => {
    const r = box(['--pid'], 'wc -c < /proc/keys; echo 1 > /proc/sys/kernel/printk 2>/dev/null || echo sys-ro; echo b > /proc/sysrq-trigger 2>/dev/null || echo sysrq-ro', opts);
    expect(r.stdout.trim().split('\n')).toEqual(['0', 'sys-ro', 'sysrq-ro']);
  });

  test.each(who)('as %s: --bind and --ro-bind; --tmpfs with its size honoured', (_n, opts) => {
    const tag = `${_n}-${Date.now()}`;
    const r = box(['--pid', '--bind', `${shared}:/mnt/rw`, '--ro-bind', `${shared}:/mnt/ro`, '--tmpfs', '/scratch:size=64k'],
      `echo ${tag} > /mnt/rw/f-${tag} && echo rw-ok; echo x > /mnt/ro/g 2>/dev/null || echo ro-refused; cat /mnt/ro/f-${tag}; ` +
        'dd if=/dev/zero of=/scratch/big bs=1k count=128 2>/dev/null || echo tmpfs-full; df -k /scratch | tail -1 | awk "{print \\$2}"', opts);
    expect(r.stdout.trim().split('\n')).toEqual(['rw-ok', 'ro-refused', tag, 'tmpfs-full', '64']);
    expect(fs.readFileSync(path.join(shared, `f-${tag}`), 'utf8')).toBe(`${tag}\n`);
    expect(fs.existsSync(path.join(shared, 'g'))).toBe(false);
  });

  test.each(who)('as %s: --read-only: writes to / fail, /tmp still works', (_n, opts) => {
    const r = box(['--pid', '--read-only'], 'touch /root/x 2>/dev/null || echo root-ro; touch /tmp/x && echo tmp-ok', opts);
    expect(r.stdout.trim().split('\n')).toEqual(['root-ro', 'tmp-ok']);
  });

  test.each(who)('as %s: --overlay: writes inside vanish at exit and the rootfs is unchanged', (_n, opts) => {
    const before = listing(root);
    const r = box(['--pid', '--overlay'], 'mkdir -p /tmp/y && echo hi > /etc/nsrun-fixture 2>/dev/null; rm -f /bin/ls 2>/dev/null; touch /root/new 2>/dev/null; cat /etc/nsrun-fixture; echo done', opts);
    expect(r.stdout.trim().split('\n').pop()).toBe('done');
    if (!opts.asUser) expect(r.stdout.trim().split('\n')).toEqual(['hi', 'done']); // root may write anything in its layer
    expect(listing(root)).toEqual(before);
    expect(fs.readFileSync(path.join(root, 'etc', 'nsrun-fixture'), 'utf8')).toBe(`${FIXTURE_MARKER}\n`);
  });

  test.each(who)('as %s: a symlink in a mount target resolves inside the new root, never on the host', (_n, opts) => {
    // /mnt/escape -> / inside the rootfs: a bind on /mnt/escape/x lands in the rootfs, not in the host's /x
    const link = path.join(root, 'mnt', 'escape');
    const hostTarget = `/nsrun-escape-${process.pid}`;
    fs.symlinkSync('/', link);
    try {
      const r = box(['--pid', '--overlay', '--tmpfs', `/mnt/escape${hostTarget}`], `grep -c " ${hostTarget} " /proc/self/mountinfo`, opts);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('1');
      expect(fs.existsSync(hostTarget)).toBe(false);
    } finally {
      fs.rmSync(link);
    }
  });

  test.each(who)('as %s: the working directory is inside the new root', (_n, opts) => {
    expect(box(['--pid', '--chdir', '/etc'], 'pwd', opts).stdout).toBe('/etc\n');
    expect(box(['--pid'], 'pwd', opts).stdout).toBe('/\n');
  });
});

describe.skipIf(!canRoot)(gated(canRoot, '--rootfs bad input', REASON), () => {
  const file = path.join(os.tmpdir(), `nsrun-notdir-${process.pid}`);
  const symRoot = BUSYBOX ? buildRootfs() : '';
  if (symRoot) {
    fs.rmSync(path.join(symRoot, 'proc'), { recursive: true });
    fs.symlinkSync('/etc', path.join(symRoot, 'proc'));
  }
  fs.writeFileSync(file, 'x');
  afterAll(() => {
    fs.rmSync(file, { force: true });
    if (symRoot) fs.rmSync(symRoot, { recursive: true, force: true });
  });

  test.each([
    ['rootfs missing', ['--rootfs', '/nonexistent-rootfs', '--', 'true'], 'nsrun: options: --rootfs: /nonexistent-rootfs: No such file or directory\n'],
    ['rootfs is a file', ['--rootfs', file, '--', 'true'], `nsrun: options: --rootfs: ${file}: Not a directory\n`],
    ['relative target', () => ['--rootfs', root, '--tmpfs', 'tmp/x', '--', 'true'], "nsrun: options: --tmpfs: target 'tmp/x' is not an absolute path\n"],
    ['escaping target', () => ['--rootfs', root, '--bind', '/etc:/../../etc', '--', 'true'], "nsrun: options: --bind: target '/../../etc' contains '..': mount targets must stay inside the rootfs\n"],
    ['bind source missing', () => ['--rootfs', root, '--bind', '/nonexistent-src:/mnt/x', '--', 'true'], "nsrun: options: --bind: can't find source path /nonexistent-src: No such file or directory\n"],
    ['tmpfs size unparsable', () => ['--rootfs', root, '--tmpfs', '/x:size=10XB', '--', 'true'], "nsrun: options: --tmpfs: size '10XB' is not a number of bytes with an optional k, m or g, or a percentage of memory\n"],
    ['mounts without --rootfs', ['--bind', '/etc:/mnt', '--', 'true'], "nsrun: options: --bind: needs --rootfs\nhint: mounts go into the sandbox's own root filesystem: add --rootfs DIR\n"],
    ['overlay with read-only', () => ['--rootfs', root, '--overlay', '--read-only', '--', 'true'], 'nsrun: options: --overlay: cannot be combined with --read-only (the overlay exists to make the root writable)\n'],
    ['file onto a directory', () => ['--rootfs', root, '--bind', '/etc/hostname:/etc', '--', 'true'], 'nsrun: mount-point: /etc: Illegal operation on a directory\nhint: the target is a directory but the source is a file: a file is bound onto a file\n'],
    ['directory onto a file', () => ['--rootfs', root, '--bind', '/etc:/etc/passwd', '--', 'true'], 'nsrun: mount-point: /etc/passwd: Not a directory\nhint: the target exists and is not a directory (a file, or a symlink, which is refused): a directory is bound onto a directory\n'],
  ] as [string, string[] | (() => string[]), string][])('%s', (_t, args, stderr) => {
    const r = nsrun(typeof args === 'function' ? args() : args);
    expect(r.stderr).toBe(stderr);
    expect(r.status).toBe(125);
  });

  test('a symlinked /proc in the rootfs is refused', () => {
    const r = nsrun(['--rootfs', symRoot, '--pid', '--', '/bin/true']);
    expect(r.stderr).toBe(`nsrun: options: --rootfs: ${symRoot}/proc is a symlink: /proc must be an ordinary directory\nhint: a symlinked /proc, /sys or /dev could redirect mounts (runc CVE-2019-19921); remove the link\n`);
    expect(r.status).toBe(125);
  });

  test('a read-only rootfs lacking a mount point: one clear line', () => {
    // a read-only view of the fixture, made in a throwaway mount namespace
    const ro = fs.mkdtempSync(path.join(os.tmpdir(), 'nsrun-ro-'));
    try {
      const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
        `mount --bind -o ro "${root}" "${ro}" && mount -o remount,bind,ro "${ro}" && exec "${process.execPath}" "${NSRUN}" --rootfs "${ro}" --tmpfs /newdir -- /bin/true`], { encoding: 'utf8' });
      expect(r.stderr).toBe('nsrun: mount-point: /newdir: Read-only file system\nhint: the rootfs is read-only: create the directory in it beforehand, or add --overlay for a writable layer\n');
      expect(r.status).toBe(125);
    } finally {
      fs.rmdirSync(ro);
    }
  });
});
