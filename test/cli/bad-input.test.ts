// Bad input: exactly one `nsrun: ...` line (plus a hint where one applies), exit 125 (126/127 for
// a command that cannot be executed), no stack trace, and nothing left behind.
import * as fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { nsrun } from '../helpers/cli';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';

const long = 'x'.repeat(65);
type Case = [title: string, args: string[], status: number, stderr: string];

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
];

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
    const r = nsrun(args, { asUser: NOBODY });
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
