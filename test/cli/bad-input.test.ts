// Bad input: exactly one `nsrun: ...` line (plus a hint where one applies), exit 125 (126/127 for
// a command that cannot be executed), no stack trace, and nothing left behind. Every command
// (run, exec, ps, inspect, kill, doctor) and option is in the table; it runs as root and as nobody.
import * as fs from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { nsrun } from '../helpers/cli';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';

const long = 'x'.repeat(65);
type Case = [title: string, args: string[], status: number, stderr: string];

// An empty directory for --rootfs cases that fail on their other options.
const dir = fs.mkdtempSync(`/tmp/nsrun-badinput-${process.pid}-`);
fs.chmodSync(dir, 0o755);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const ownHardNofile = /^Max open files\s+\S+\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))![1];
const noSuch = `nosuchbox${process.pid}`;
const notRunning = `nsrun: target: ${noSuch}: no running sandbox by that name\nhint: nsrun ps lists the running named sandboxes; a PID or --net=/run/netns/NAME works too\n`;
const execUsage = 'hint: usage: nsrun exec TARGET [options] -- COMMAND [ARG...]\n';

const CASES: Case[] = [
  ['unknown flag', ['--frobnicate', '--', 'true'], 125, 'nsrun: options: --frobnicate: unknown option\nhint: see nsrun --help\n'],
  ['unknown short flag', ['-Z', '--', 'true'], 125, 'nsrun: options: -Z: unknown option\nhint: see nsrun --help\n'],
  ['flag missing its value', ['--hostname'], 125, 'nsrun: options: --hostname: needs a value\nhint: see nsrun --help\n'],
  ['missing command', ['--pid'], 125, 'nsrun: options: no command specified\nhint: usage: nsrun [options] -- COMMAND [ARG...]\n'],
  ['nothing at all', [], 125, 'nsrun: options: no command specified\nhint: usage: nsrun [options] -- COMMAND [ARG...]\n'],
  ['empty command', ['--', ''], 125, 'nsrun: options: command: the command name is empty\n'],
  ['hostname without --uts', ['--hostname', 'box', '--', 'true'], 125, 'nsrun: options: --hostname: needs a UTS namespace, or it would rename the host\nhint: add --uts (-u)\n'],
  ['hostname too long', ['-u', '--hostname', long, '--', 'true'], 125, "nsrun: options: --hostname: 65 bytes is longer than the kernel's limit of 64\n"],
  ['hostname with control characters', ['-u', '--hostname', 'a\tb', '--', 'true'], 125, 'nsrun: options: --hostname: contains control characters\n'],
  ['hostname empty', ['-u', '--hostname', '', '--', 'true'], 125, 'nsrun: options: --hostname: the hostname is empty\n'],
  ['hostname twice', ['-u', '--hostname', 'a', '--hostname', 'b', '--', 'true'], 125, 'nsrun: options: --hostname: given more than once\n'],
  ['malformed range', ['--map-users', '0:1000', '--', 'true'], 125, "nsrun: options: --map-users: '0:1000' is not OUTER:INNER:COUNT (three decimal numbers)\n"],
  ['range count 0', ['--map-users', '100000:0:0', '--', 'true'], 125, "nsrun: options: --map-users: '100000:0:0': count must be at least 1\n"],
  ['range past the last id', ['--map-users', '4294967290:0:10', '--', 'true'], 125, 'nsrun: options: --map-users: range 1 (4294967290:0:10) runs past the largest id 4294967294\n'],
  ['overlapping ranges (outside)', ['--map-users', '100000:0:10', '--map-users', '100005:100:10', '--', 'true'], 125, 'nsrun: options: --map-users: ranges 1 and 2 overlap (outer ids 100005...)\n'],
  ['overlapping ranges (inside)', ['--map-groups', '100000:0:10', '--map-groups', '200000:5:10', '--', 'true'], 125, 'nsrun: options: --map-groups: ranges 1 and 2 overlap (inner ids 5...)\n'],
  ['unmapped --uid', ['-U', '--uid', '5', '--', 'true'], 125, 'nsrun: options: --uid: uid 5 is not mapped in the sandbox\nhint: map it with --map-user or --map-users\n'],
  ['unmapped --gid', ['-U', '--gid', '5', '--', 'true'], 125, 'nsrun: options: --gid: gid 5 is not mapped in the sandbox\nhint: map it with --map-group or --map-groups\n'],
  ['non-numeric uid', ['--uid', '12abc', '--', 'true'], 125, "nsrun: options: --uid: '12abc' is not a valid user name or id\n"],
  ['uid too large', ['--uid', '4294967295', '--', 'true'], 125, 'nsrun: options: --uid: 4294967295 is larger than the largest id 4294967294\n'],
  ['-r with --map-user', ['-r', '--map-user', '5', '--', 'true'], 125, 'nsrun: options: --map-root-user: cannot be combined with --map-user or --map-group (it means --map-user=0 --map-group=0)\n'],
  ['relative --chdir', ['--chdir', 'tmp', '--', 'true'], 125, "nsrun: options: --chdir: 'tmp' is not an absolute path\n"],
  ['--chdir under /proc/*/fd', ['--chdir', '/proc/self/fd/3', '--', 'true'], 125, "nsrun: options: --chdir: '/proc/self/fd/3' is under /proc/*/fd, which can reach outside the sandbox\n"],
  ['missing --chdir', ['--pid', '--chdir', '/nonexistent-dir', '--', 'true'], 125, 'nsrun: chdir: /nonexistent-dir: No such file or directory\nhint: the directory must exist inside the sandbox\n'],
  ['bad --env', ['--env', 'NOEQUALS', '--', 'true'], 125, "nsrun: options: --env: 'NOEQUALS' is not KEY=VALUE\n"],
  ['command not found', ['--pid', '--', 'no-such-command-xyz'], 127, 'nsrun: exec: no-such-command-xyz: No such file or directory\nhint: check the command name and the PATH inside the sandbox\n'],
  ['command is a directory', ['--pid', '--', '/tmp'], 126, 'nsrun: exec: /tmp: Permission denied\nhint: the file is not executable, is a directory, or sits on a noexec mount\n'],
  ['option-like word after -- is the command', ['--', '--help'], 127, 'nsrun: exec: --help: No such file or directory\nhint: check the command name and the PATH inside the sandbox\n'],
  // run: names, root filesystems, mounts
  ['--name without a value', ['--name'], 125, 'nsrun: options: --name: needs a value\nhint: see nsrun --help\n'],
  ['--name with a space', ['--name', 'bad name', '--', 'true'], 125, "nsrun: options: --name: 'bad name' is not a valid name (letters, digits, '_', '.', '-'; up to 63; starting with a letter or digit)\n"],
  ['--rootfs missing', ['--rootfs', '/nonexistent-nsrun-rootfs', '--', 'true'], 125, 'nsrun: options: --rootfs: /nonexistent-nsrun-rootfs: No such file or directory\n'],
  ['--rootfs a file', ['--rootfs', '/etc/hostname', '--', 'true'], 125, 'nsrun: options: --rootfs: /etc/hostname: Not a directory\n'],
  ['--rootfs /', ['--rootfs', '/', '--', 'true'], 125, "nsrun: options: --rootfs: the host's own / cannot be a rootfs\nhint: give a directory holding a root filesystem (docs/rootfs.md)\n"],
  ['--bind without --rootfs', ['--bind', '/tmp', '--', 'true'], 125, "nsrun: options: --bind: needs --rootfs\nhint: mounts go into the sandbox's own root filesystem: add --rootfs DIR\n"],
  ['--read-only without --rootfs', ['--read-only', '--', 'true'], 125, 'nsrun: options: --read-only: needs --rootfs\n'],
  ['--overlay with --read-only', ['--rootfs', dir, '--overlay', '--read-only', '--', 'true'], 125, 'nsrun: options: --overlay: cannot be combined with --read-only (the overlay exists to make the root writable)\n'],
  ['--bind source missing', ['--rootfs', dir, '--bind', '/nonexistent-nsrun-src:/x', '--', 'true'], 125, "nsrun: options: --bind: can't find source path /nonexistent-nsrun-src: No such file or directory\n"],
  ['--bind relative target', ['--rootfs', dir, '--bind', '/tmp:rel', '--', 'true'], 125, "nsrun: options: --bind: target 'rel' is not an absolute path\n"],
  ['--ro-bind target with ..', ['--rootfs', dir, '--ro-bind', '/tmp:/../x', '--', 'true'], 125, "nsrun: options: --ro-bind: target '/../x' contains '..': mount targets must stay inside the rootfs\n"],
  ['--tmpfs bad size', ['--rootfs', dir, '--tmpfs', '/x:size=lots', '--', 'true'], 125, "nsrun: options: --tmpfs: size 'lots' is not a number of bytes with an optional k, m or g, or a percentage of memory\n"],
  // run: ids and environment
  ['--map-groups with two fields', ['--map-groups', '1:2', '--', 'true'], 125, "nsrun: options: --map-groups: '1:2' is not OUTER:INNER:COUNT (three decimal numbers)\n"],
  ['--env with an empty name', ['--env', '=x', '--', 'true'], 125, "nsrun: options: --env: '=x' is not KEY=VALUE\n"],
  ['--groups not a group', ['--groups', 'nosuchgroupxyz', '--', 'true'], 125, "nsrun: options: --groups: 'nosuchgroupxyz' is not a valid group name or id\n"],
  ['--map-user not a user', ['--map-user', 'nosuchuserxyz', '--', 'true'], 125, "nsrun: options: --map-user: 'nosuchuserxyz' is not a valid user name or id\n"],
  ['--step without a terminal', ['--step', '--', 'true'], 125, 'nsrun: options: --step: needs a terminal to read Enter from (no /dev/tty)\n'],
  // run: --preserve-fds
  ['--preserve-fds negative', ['--preserve-fds', '-1', '--', 'true'], 125, "nsrun: options: --preserve-fds: '-1' is not a number of fds\n"],
  ['--preserve-fds not a number', ['--preserve-fds', 'two', '--', 'true'], 125, "nsrun: options: --preserve-fds: 'two' is not a number of fds\n"],
  ['--preserve-fds too many', ['--preserve-fds', '5000', '--', 'true'], 125, 'nsrun: options: --preserve-fds: 5000 is not a number of fds (0-1024)\n'],
  ['--preserve-fds twice', ['--preserve-fds', '1', '--preserve-fds', '2', '--', 'true'], 125, 'nsrun: options: --preserve-fds: given more than once\n'],
  // run: --rlimit
  ['--rlimit without =', ['--rlimit', 'nofile', '--', 'true'], 125, "nsrun: options: --rlimit: 'nofile' is not NAME=SOFT[:HARD] (e.g. nofile=1024:4096)\n"],
  ['--rlimit unknown name', ['--rlimit', 'bogus=1', '--', 'true'], 125, "nsrun: options: --rlimit: 'bogus' is not a resource limit (one of: as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)\n"],
  ['--rlimit not a number', ['--rlimit', 'nofile=abc', '--', 'true'], 125, "nsrun: options: --rlimit: nofile: 'abc' is not a number (open files) or unlimited\n"],
  ['--rlimit size suffix on a count', ['--rlimit', 'nofile=1M', '--', 'true'], 125, "nsrun: options: --rlimit: nofile: '1M' is not a number (open files) or unlimited\n"],
  ['--rlimit bad size', ['--rlimit', 'as=1X', '--', 'true'], 125, "nsrun: options: --rlimit: as: '1X' is not a number of bytes (suffix k, m, g or t allowed) or unlimited\n"],
  ['--rlimit soft above hard', ['--rlimit', 'nofile=10:5', '--', 'true'], 125, 'nsrun: options: --rlimit: nofile: the soft limit 10 is above the hard limit 5\n'],
  ['--rlimit soft missing', ['--rlimit', 'nofile=:5', '--', 'true'], 125, 'nsrun: options: --rlimit: nofile: the soft limit is missing\n'],
  ['--rlimit hard missing', ['--rlimit', 'core=5:', '--', 'true'], 125, "nsrun: options: --rlimit: core: the hard limit is missing after ':'\n"],
  ['--rlimit too large', ['--rlimit', 'as=99999999999999999999', '--', 'true'], 125, "nsrun: options: --rlimit: as: '99999999999999999999' is too large (at most 9007199254740991, or unlimited)\n"],
  ['--rlimit twice', ['--rlimit', 'nofile=1', '--rlimit', 'NOFILE=2', '--', 'true'], 125, 'nsrun: options: --rlimit: nofile is given more than once\n'],
  ['--rlimit raising the hard limit in a user namespace', ['-U', '--pid', '--rlimit', `nofile=10:${Number(ownHardNofile) + 1}`, '--', 'true'], 125,
    `nsrun: rlimit: nofile=10:${Number(ownHardNofile) + 1}: Operation not permitted\nhint: raising a hard limit (nsrun's own hard limit is ${ownHardNofile}) needs CAP_SYS_RESOURCE outside any user namespace (root inside one does not count): ask for a lower hard limit, or run as root without a user namespace\n`],
  // exec
  ['exec without a target', ['exec'], 125, `nsrun: options: TARGET: no target given\n${execUsage}`],
  ['exec without a command', ['exec', '1'], 125, `nsrun: options: no command specified\n${execUsage}`],
  ['exec unknown sandbox', ['exec', noSuch, '--', 'true'], 125, notRunning],
  ['exec PID 0', ['exec', '0', '--', 'true'], 125, 'nsrun: options: TARGET: 0 is not a valid PID\n'],
  ['exec PID that does not exist', ['exec', '999999999', '--', 'true'], 125, 'nsrun: target: 999999999: No such process\nhint: nsrun ps lists the running named sandboxes\n'],
  ['exec unknown option', ['exec', '--frob', '1', '--', 'true'], 125, 'nsrun: options: --frob: unknown option\nhint: see nsrun exec --help\n'],
  ['exec relative --chdir', ['exec', '1', '--chdir', 'rel', '--', 'true'], 125, "nsrun: options: --chdir: 'rel' is not an absolute path\n"],
  ['exec --preserve-fds not a number', ['exec', '--preserve-fds', 'x', '1', '--', 'true'], 125, "nsrun: options: --preserve-fds: 'x' is not a number of fds\n"],
  ['exec namespace file missing', ['exec', '--net=/nonexistent-nsrun-ns', '--', 'true'], 125, 'nsrun: target: /nonexistent-nsrun-ns: No such file or directory\n'],
  ['exec namespace file empty', ['exec', '--net=', '--', 'true'], 125, 'nsrun: options: --net: needs a namespace file after =\n'],
  ['exec namespace file twice', ['exec', '--net=/a', '--net=/b', '--', 'true'], 125, 'nsrun: options: --net: given more than once\n'],
  ['exec not a namespace file', ['exec', '--net=/etc/hostname', '--', 'true'], 125, 'nsrun: options: --net: /etc/hostname is not a namespace file\nhint: give a /proc/PID/ns/TYPE file or a bind mount of one, like /run/netns/NAME\n'],
  ['exec namespace file of the wrong type', ['exec', '--net=/proc/self/ns/uts', '--', 'true'], 125, 'nsrun: options: --net: /proc/self/ns/uts is a uts namespace, expected net\n'],
  ['exec --env-from-target without a target', ['exec', '--env-from-target', '--net=/proc/self/ns/net', '--', 'true'], 125, 'nsrun: options: --env-from-target: needs a TARGET\n'],
  // ps, inspect, kill, doctor
  ['ps with an argument', ['ps', 'extra'], 125, 'nsrun: options: extra: unexpected argument\nhint: see nsrun ps --help\n'],
  ['ps unknown option', ['ps', '--frob'], 125, 'nsrun: options: --frob: unknown option\nhint: see nsrun ps --help\n'],
  ['inspect without a target', ['inspect'], 125, 'nsrun: options: TARGET: no target given\nhint: usage: nsrun inspect TARGET [--json]\n'],
  ['inspect two targets', ['inspect', 'a', 'b'], 125, 'nsrun: options: b: unexpected argument\nhint: usage: nsrun inspect TARGET [--json]\n'],
  ['inspect unknown sandbox', ['inspect', noSuch], 125, notRunning],
  ['inspect PID 0', ['inspect', '0'], 125, 'nsrun: options: TARGET: 0 is not a valid PID\n'],
  ['kill without a target', ['kill'], 125, 'nsrun: options: TARGET: no target given\nhint: usage: nsrun kill TARGET [SIGNAL]\n'],
  ['kill unknown sandbox', ['kill', noSuch], 125, notRunning],
  ['kill unknown signal', ['kill', '999999999', 'SIGFOO'], 125, "nsrun: options: SIGNAL: 'SIGFOO' is not a signal name or number\nhint: e.g. TERM, SIGKILL, 9\n"],
  ['kill signal out of range', ['kill', '999999999', '65'], 125, "nsrun: options: SIGNAL: '65' is not a signal name or number\nhint: e.g. TERM, SIGKILL, 9\n"],
  ['kill extra argument', ['kill', '1', 'TERM', 'extra'], 125, 'nsrun: options: extra: unexpected argument\nhint: usage: nsrun kill TARGET [SIGNAL]\n'],
  ['kill signal given twice', ['kill', '-s', 'TERM', '1', 'KILL'], 125, 'nsrun: options: --signal: the signal is given twice\n'],
  ['kill PID that does not exist', ['kill', '999999999'], 125, 'nsrun: target: 999999999: No such process\nhint: nsrun ps lists the running named sandboxes\n'],
  ['ps unknown negated option', ['ps', '--no-such'], 125, 'nsrun: options: --no-such: unknown option\nhint: see nsrun ps --help\n'],
  ['inspect an invalid name', ['inspect', 'a/b'], 125, "nsrun: options: TARGET: 'a/b' is not a valid name (letters, digits, '_', '.', '-'; up to 63; starting with a letter or digit)\n"],
  ['pause without a target', ['pause'], 125, 'nsrun: options: TARGET: no target given\nhint: usage: nsrun pause TARGET\n'],
  ['pause two targets', ['pause', '1', '2'], 125, 'nsrun: options: 2: unexpected argument\nhint: usage: nsrun pause TARGET\n'],
  ['pause unknown sandbox', ['pause', noSuch], 125, notRunning],
  ['resume unknown sandbox', ['resume', noSuch], 125, notRunning],
  ['stats unknown sandbox', ['stats', noSuch, '--no-stream'], 125, notRunning],
  ['stats PID that does not exist', ['stats', '999999999', '--no-stream'], 125, 'nsrun: target: 999999999: No such process\nhint: nsrun ps lists the running named sandboxes\n'],
  ['doctor with an argument', ['doctor', 'extra'], 125, 'nsrun: options: extra: unexpected argument\nhint: see nsrun doctor --help\n'],
  ['doctor unknown option', ['doctor', '--frob'], 125, 'nsrun: options: --frob: unknown option\nhint: see nsrun doctor --help\n'],
];

test('the table covers every command with at least 40 cases', () => {
  expect(CASES.length).toBeGreaterThanOrEqual(40);
  const commands = new Set(CASES.map(([, args]) => (['exec', 'ps', 'inspect', 'kill', 'pause', 'resume', 'stats', 'doctor'].includes(args[0]) ? args[0] : 'run')));
  expect([...commands].sort()).toEqual(['doctor', 'exec', 'inspect', 'kill', 'pause', 'ps', 'resume', 'run', 'stats']);
  expect(new Set(CASES.map(([t]) => t)).size).toBe(CASES.length);
});

function hostState() {
  return {
    mounts: fs.readFileSync('/proc/self/mountinfo', 'utf8'),
    hostname: fs.readFileSync('/proc/sys/kernel/hostname', 'utf8'),
  };
}

describe.skipIf(!isRoot)(gated(isRoot, 'bad input as root', 'needs root'), () => {
  test.each(CASES)('%s', (_t, args, status, stderr) => {
    const before = hostState();
    const r = nsrun(args);
    expect(r.stderr).toBe(stderr);
    expect(r.status).toBe(status);
    expect(r.stdout).toBe('');
    expect(hostState()).toEqual(before);
  });
});

describe.skipIf(!unprivilegedUserns)(gated(unprivilegedUserns, 'bad input rootless', 'needs setpriv and unprivileged user namespaces'), () => {
  test.each(CASES)('%s', (_t, args, status, stderr) => {
    // nobody has no session runtime directory: named sandboxes are simply not there
    const r = nsrun(args, { asUser: NOBODY, env: { ...process.env, XDG_RUNTIME_DIR: '' } });
    expect(r.stderr).toBe(stderr);
    expect(r.status).toBe(status);
  });
  test('ranges without an /etc/subuid entry', () => {
    const r = nsrun(['--pid', '--map-users', '100000:1:10', '--', 'true'], { asUser: NOBODY });
    expect(r.status).toBe(125);
    expect(r.stderr).toBe(
      'nsrun: options: --map-users: outside ids 100000-100009 are not yours: mapping them requires an /etc/subuid entry for nobody covering them (or root)\n' +
        'hint: add one, e.g. as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 nobody\n',
    );
  });
  test('--groups without newgidmap ranges', () => {
    const r = nsrun(['--pid', '--groups', '0', '--', 'true'], { asUser: NOBODY });
    expect(r.stderr).toBe(
      'nsrun: options: --groups: supplementary groups cannot be set: an unprivileged gid map must deny setgroups\n' +
        'hint: map groups with --map-groups (newgidmap and /etc/subgid allow setgroups)\n',
    );
  });
});
