// nsrun run against the real kernel: hostname, lo, PID 1, id maps, identity, process options,
// exit statuses and signals, as root and as an unprivileged user.
import { spawn as spawnChild } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { NSRUN, nsrun } from '../helpers/cli';
import { gated, hasNewuidmap, isRoot, NOBODY, subidUser, unprivilegedUserns } from '../helpers/caps';
import { poll } from '../helpers/wait';

// Fixtures readable by everyone: a file without x bits, and an executable that is no program.
const fixtureDir = fs.mkdtempSync('/tmp/nsrun-test-');
fs.chmodSync(fixtureDir, 0o755);
const notExecutable = `${fixtureDir}/not-executable`;
fs.writeFileSync(notExecutable, 'data', { mode: 0o644 });
const badFormat = `${fixtureDir}/bad-format`;
fs.writeFileSync(badFormat, '\x7fELF garbage', { mode: 0o755 });
afterAll(() => fs.rmSync(fixtureDir, { recursive: true, force: true }));

const asRoot = isRoot ? [undefined] : [];
const asNobody = unprivilegedUserns ? [NOBODY] : [];
const who = [...asRoot.map((u) => ['root', u] as const), ...asNobody.map((u) => ['nobody', u] as const)];

const ROOTLESS_REASON = 'needs root, or setpriv and unprivileged user namespaces';
describe.skipIf(who.length === 0)(gated(who.length > 0, 'the box', ROOTLESS_REASON), () => {
  test.each(who)('as %s: hostname, only lo and up, PID 1 is nsrun-init, ps shows only the sandbox', (_name, user) => {
    const r = nsrun(['--pid', '--net', '--uts', '--hostname', 'box', '--', 'sh', '-c',
      'hostname; echo pid=$$; ps -e -o pid=,comm=; tail -n +3 /proc/net/dev | cut -d: -f1; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags'], { asUser: user });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim());
    expect(lines[0]).toBe('box');
    expect(lines[1]).toBe('pid=2');
    expect(lines.slice(2, 5)).toEqual(['1 nsrun-init', '2 sh', expect.stringMatching(/^\d+ ps$/)]);
    expect(lines[5]).toBe('lo');
    // IFF_UP (0x1) is set on lo
    expect(parseInt(lines[lines.length - 1], 16) & 1).toBe(1);
    expect(fs.readFileSync('/proc/sys/kernel/hostname', 'utf8').trim()).not.toBe('box');
  });

  test.each(who)('as %s: --as-pid-1 runs the command as PID 1', (_name, user) => {
    const r = nsrun(['--pid', '--as-pid-1', '--', 'sh', '-c', 'echo $$; ps -e -o pid=,comm='], { asUser: user });
    expect(r.stdout.trim().split('\n').map((l) => l.trim())).toEqual(['1', '1 sh', expect.stringMatching(/ps$/)]);
  });

  test.each(who)('as %s: default user namespace maps the caller to root', (_name, user) => {
    const r = nsrun(['--user', '--', 'sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map'], { asUser: user });
    const outer = user ? user.uid : 0;
    expect(r.stdout.split('\n').slice(0, 4).map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['0', '0', `0 ${outer} 1`, `0 ${user ? user.gid : 0} 1`]);
  });

  test.each(who)('as %s: --map-user/--map-group choose the inside ids', (_name, user) => {
    const r = nsrun(['--map-user', '1234', '--map-group', '4321', '--', 'sh', '-c', 'id -u; id -g'], { asUser: user });
    expect(r.stdout).toBe('1234\n4321\n');
  });

  test.each(who)('as %s: unprivileged gid maps deny setgroups (CVE-2014-8989)', (name, user) => {
    const r = nsrun(['-r', '--', 'cat', '/proc/self/setgroups'], { asUser: user });
    expect(r.stdout.trim()).toBe(name === 'root' ? 'allow' : 'deny');
  });

  test.each(who)('as %s: environment, --env, --clear-env, --chdir', (_name, user) => {
    const env = { ...process.env, NSRUN_TEST_VAR: 'kept' };
    expect(nsrun(['--', 'sh', '-c', 'echo $NSRUN_TEST_VAR'], { asUser: user, env }).stdout).toBe('kept\n');
    expect(nsrun(['-e', 'A=1', '--env', 'B=x=y', '--', 'sh', '-c', 'echo $A $B $NSRUN_TEST_VAR'], { asUser: user, env }).stdout).toBe('1 x=y kept\n');
    expect(nsrun(['--clear-env', '-e', 'A=1', '--', '/usr/bin/env'], { asUser: user, env }).stdout).toBe('A=1\n');
    expect(nsrun(['--chdir', '/tmp', '--', 'pwd'], { asUser: user }).stdout).toBe('/tmp\n');
  });

  test.each(who)('as %s: the command gets only fds 0-2', (_name, user) => {
    const r = nsrun(['--pid', '--', 'sh', '-c', 'ls /proc/self/fd'], { asUser: user });
    // 0,1,2 and the fd ls opens to read the directory
    expect(r.stdout.trim().split('\n').map(Number).filter((n) => n > 2).length).toBeLessThanOrEqual(1);
  });

  test.each(who)('as %s: exit statuses: own code, 128+signal, 127, 126', (_name, user) => {
    expect(nsrun(['--pid', '--', 'sh', '-c', 'exit 42'], { asUser: user }).status).toBe(42);
    expect(nsrun(['--pid', '--', 'sh', '-c', 'kill -KILL $$'], { asUser: user }).status).toBe(137);
    expect(nsrun(['--', 'sh', '-c', 'kill -TERM $$'], { asUser: user }).status).toBe(143);
    expect(nsrun(['--pid', '--as-pid-1', '--', 'sh', '-c', 'exit 3'], { asUser: user }).status).toBe(3);
    const nf = nsrun(['--pid', '--', 'no-such-command-xyz'], { asUser: user });
    expect([nf.status, nf.stderr]).toEqual([127, 'nsrun: exec: no-such-command-xyz: No such file or directory\nhint: check the command name and the PATH inside the sandbox\n']);
    const ne = nsrun(['--pid', '--', notExecutable], { asUser: user });
    expect([ne.status, ne.stderr.split('\n')[0]]).toEqual([126, `nsrun: exec: ${notExecutable}: Permission denied`]);
    const nx = nsrun(['--pid', '--', badFormat], { asUser: user });
    expect([nx.status, nx.stderr.split('\n')[0]]).toEqual([126, `nsrun: exec: ${badFormat}: Exec format error`]);
    const ne1 = nsrun(['--pid', '--as-pid-1', '--', 'no-such-command-xyz'], { asUser: user });
    expect([ne1.status, ne1.stderr.split('\n')[0]]).toEqual([127, 'nsrun: exec: no-such-command-xyz: No such file or directory']);
  });

  test.each(who)('as %s: stdin, stdout and stderr pass straight through', (_name, user) => {
    const r = nsrun(['--pid', '--', 'sh', '-c', 'cat; echo to-err >&2'], { asUser: user, input: 'from-stdin\n' });
    expect(r.stdout).toBe('from-stdin\n');
    expect(r.stderr).toBe('to-err\n');
  });
});

describe.skipIf(!isRoot)(gated(isRoot, 'identity and ranges as root', 'needs root'), () => {
  test('--map-users/--map-groups ranges with --uid/--gid/--groups', () => {
    const r = nsrun(['--map-users', '100000:0:65536', '--map-groups', '100000:0:65536', '--uid', '1000', '--gid', '1001', '--groups', '5,6', '--',
      'sh', '-c', 'id -u; id -g; id -G; cat /proc/self/uid_map'], {});
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').slice(0, 4).map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['1000', '1001', '1001 5 6', '0 100000 65536']);
  });
  test('several ranges in one map', () => {
    const r = nsrun(['--map-users', '100000:0:1000', '--map-users', '200000:1000:10', '--map-groups', '100000:0:1000', '--', 'cat', '/proc/self/uid_map'], {});
    expect(r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['0 100000 1000', '1000 200000 10']);
  });
  test('a creator whose own ids are not mapped becomes a mapped id (never the overflow uid with host root\'s file access)', () => {
    const file = path.join(os.tmpdir(), `nsrun-rootfile-${process.pid}`);
    fs.writeFileSync(file, '', { mode: 0o664 });
    try {
      const r = nsrun(['--map-users', '100000:0:65536', '--map-groups', '100000:0:65536', '--', 'sh', '-c', `id -u; id -g; id -G; echo x >> ${file} || echo denied`], {});
      expect(r.stdout.split('\n').slice(0, 4)).toEqual(['0', '0', '0', 'denied']);
      expect(fs.readFileSync(file, 'utf8')).toBe('');
      const noZero = nsrun(['--map-users', '100000:5:10', '--map-groups', '100000:7:10', '--', 'sh', '-c', 'id -u; id -g'], {});
      expect(noZero.stdout).toBe('5\n7\n');
      const noGroups = nsrun(['--map-users', '100000:0:10', '--', 'true'], {});
      expect(noGroups.status).toBe(125);
      expect(noGroups.stderr.split('\n')[0]).toBe('nsrun: options: --map-users: your uid 0 is not in the uid map, and without a gid map your host groups (gid 0) would stay yours inside');
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
  test('--uid without a user namespace switches the host identity', () => {
    expect(nsrun(['--uid', '65534', '--gid', '65534', '--groups', '', '--', 'id', '-u'], {}).stdout).toBe('65534\n');
  });
});

const subids = !!(isRoot && subidUser && hasNewuidmap);
describe.skipIf(!subids)(gated(subids, 'ranges without root via newuidmap', 'needs the nsrun-test user with /etc/subuid entries (created by .ci/run) and newuidmap'), () => {
  test('root inside plus a subordinate range, and setgroups allowed by newgidmap', () => {
    const u = subidUser!;
    const r = nsrun(['-p', '-r', '--map-users', `${u.subStart}:1:1000`, '--map-groups', `${u.subStart}:1:1000`, '--groups', '5', '--',
      'sh', '-c', 'id -G; cat /proc/self/uid_map; cat /proc/self/setgroups'], { asUser: u });
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines).toEqual(['0 5', `0 ${u.uid} 1`, `1 ${u.subStart} 1000`, 'allow']);
  });
  test('a range outside /etc/subuid is refused before anything is created', () => {
    const u = subidUser!;
    const r = nsrun(['-p', '--map-users', '1:1:10', '--', 'true'], { asUser: u });
    expect(r.status).toBe(125);
    expect(r.stderr.split('\n')[0]).toBe(`nsrun: options: --map-users: outside ids 1-10 are not yours: mapping them requires an /etc/subuid entry for ${u.name} covering them (or root)`);
  });
});

const waitFor = (pred: () => boolean, ms = 5000, what = 'condition'): Promise<true> => poll(pred, what, ms);

function pidsWithMarker(marker: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

describe.skipIf(who.length === 0)(gated(who.length > 0, 'signals and die-with-parent', ROOTLESS_REASON), () => {
  test.each(who.flatMap(([n, u]) => ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'].map((s) => [n, s, u] as const)))(
    'as %s: %s sent to nsrun reaches the command',
    async (_n, sig, user) => {
      const prefix = user ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--'] : [];
      const argv = [...prefix, process.execPath, NSRUN, '--pid', '--', 'sh', '-c', `trap 'echo got-${sig}; exit 9' ${sig.slice(3)}; echo ready; while :; do sleep 0.05; done`];
      const child = spawnChild(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      await waitFor(() => out.includes('ready'));
      // setpriv execs node, so the pid is nsrun's
      process.kill(child.pid!, sig);
      // a lost signal leaves the loop running: end it (nsrun's SIGKILL takes the sandbox down)
      const lost = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      clearTimeout(lost);
      expect(out).toContain(`got-${sig}`);
      expect(code).toBe(9);
    },
  );

  test.each(who)('as %s: SIGKILL to nsrun takes the whole sandbox down', async (_n, user) => {
    const marker = `nsrun-dwp-${process.pid}-${Date.now()}`;
    // unique sleep arguments, so other test files' sleeps never match
    const t1 = `1000.${process.pid}1`;
    const t2 = `1000.${process.pid}2`;
    const prefix = user ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--'] : [];
    const argv = [...prefix, process.execPath, NSRUN, '--pid', '--', 'sh', '-c', `sleep ${t1} & sleep ${t2} & echo ready; wait; : ${marker}`];
    const child = spawnChild(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await waitFor(() => out.includes('ready'));
    const sleeping = (t: string) => pidsWithMarker(`sleep\0${t}\0`).length;
    await waitFor(() => sleeping(t1) === 1 && sleeping(t2) === 1, 5000, 'both sleeps to start');
    expect(pidsWithMarker(marker).length).toBeGreaterThan(0);
    process.kill(child.pid!, 'SIGKILL');
    await waitFor(() => pidsWithMarker(marker).length === 0 && sleeping(t1) === 0 && sleeping(t2) === 0, 5000,
      'every sandbox process to be gone');
  });
});
