// nsrun exec / ps / inspect / kill against the real kernel: joining by name, PID and namespace
// file; sandboxes made by util-linux unshare, ip netns and bubblewrap; rootless; bad input.
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { NSRUN, nsrun, setprivPrefix, type CliOptions } from '../helpers/cli';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { BUSYBOX, buildRootfs, FIXTURE_MARKER } from '../helpers/rootfs';
import { isNsrunError } from '../../src/errors';
import { gatherHostFacts } from '../../src/parent/host';
import { prepareJoin } from '../../src/parent/join';
import { spawnPlan } from '../../src/sandbox';
import { poll } from '../helpers/wait';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

const waitFor = (pred: () => boolean, ms = 5000): Promise<true> => poll(pred, 'condition', ms);

function children(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Start a long-running process and wait until `ready` says it is set up. */
async function background(argv: string[], ready: () => boolean, env?: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const c = spawnChild(argv[0], argv.slice(1), { stdio: 'ignore', env: env ?? process.env });
  started.push(c);
  await waitFor(ready);
  return c;
}

/** A named nsrun sandbox running `sleep 1000`, as root or as `user`. */
async function namedSandbox(name: string, args: string[], opts: CliOptions = {}): Promise<ChildProcess> {
  const prefix = opts.asUser ? setprivPrefix(opts.asUser) : [];
  const argv = [...prefix, process.execPath, NSRUN, '--name', name, ...args, '--', 'sleep', '1000'];
  return background(argv, () => nsrun(['ps', '--json'], opts).stdout.includes(`"name": "${name}"`), opts.env);
}

const unique = `t${process.pid}x${Date.now() % 100000}`;

describe.skipIf(!isRoot)(gated(isRoot, 'exec, ps, inspect, kill as root', 'needs root'), () => {
  test('exec by name sees the sandbox: hostname, PID 1, only lo, its /proc; status relayed', async () => {
    await namedSandbox(`${unique}a`, ['--pid', '--net', '--uts', '--hostname', 'inner']);
    const r = nsrun(['exec', `${unique}a`, '--', 'sh', '-c', 'hostname; ps -e -o pid=,comm= | head -2; tail -n +3 /proc/net/dev | cut -d: -f1; exit 7']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(7);
    expect(r.stdout.split('\n').map((l) => l.trim())).toEqual(['inner', '1 nsrun-init', '2 sleep', 'lo', '']);
  });

  test('exec by PID and by namespace file; only the asked namespaces are entered', async () => {
    await namedSandbox(`${unique}b`, ['--pid', '--net', '--uts', '--hostname', 'bypid']);
    const pid = JSON.parse(nsrun(['ps', '--json']).stdout).find((e: { name: string }) => e.name === `${unique}b`).pid;
    expect(nsrun(['exec', String(pid), '--', 'hostname']).stdout).toBe('bypid\n');
    // only uts: the PID namespace stays ours
    const uts = nsrun(['exec', String(pid), '--uts', '--', 'sh', '-c', 'hostname; readlink /proc/self/ns/pid']);
    expect(uts.stdout).toBe(`bypid\n${fs.readlinkSync('/proc/self/ns/pid')}\n`);
    const byPath = nsrun(['exec', `--net=/proc/${pid}/ns/net`, '--', 'sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; hostname']);
    expect(byPath.stdout).toBe(`lo\n${os.hostname()}\n`);
  });

  const timeNs = fs.existsSync('/proc/self/ns/time');
  test.skipIf(!timeNs)(gated(timeNs, 'exec joins a time namespace (setns(CLONE_NEWTIME) needs its own memory: EUSERS otherwise)', 'kernel without time namespaces'), async () => {
    await namedSandbox(`${unique}tm`, ['--pid', '--time']);
    const pid = JSON.parse(nsrun(['ps', '--json']).stdout).find((e: { name: string }) => e.name === `${unique}tm`).pid;
    const theirs = fs.readlinkSync(`/proc/${pid}/ns/time`);
    expect(theirs).not.toBe(fs.readlinkSync('/proc/self/ns/time'));
    const all = nsrun(['exec', `${unique}tm`, '--', 'readlink', '/proc/self/ns/time']);
    expect(all.stderr).toBe('');
    expect(all.stdout).toBe(`${theirs}\n`);
    expect(nsrun(['exec', String(pid), '--time', '--', 'readlink', '/proc/self/ns/time']).stdout).toBe(`${theirs}\n`);
    const byPath = nsrun(['exec', `--time=/proc/${pid}/ns/time`, '--', 'readlink', '/proc/self/ns/time', '/proc/self/ns/pid']);
    expect(byPath.stdout).toBe(`${theirs}\n${fs.readlinkSync('/proc/self/ns/pid')}\n`);
  });

  test.skipIf(!BUSYBOX)('exec into a --rootfs sandbox lands in its root, with its /proc', async () => {
    const fixture = buildRootfs();
    try {
      await namedSandbox(`${unique}rf`, ['--rootfs', fixture, '--pid', '-e', 'PATH=/bin']);
      const r = nsrun(['exec', `${unique}rf`, '-e', 'PATH=/bin', '--', 'sh', '-c', 'cat /etc/nsrun-fixture; pwd; ps -o comm | sed -n 2,3p']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${FIXTURE_MARKER}\n/\nnsrun-init\nsleep\n`);
    } finally {
      for (const c of started.splice(0)) c.kill('SIGKILL');
      fs.rmSync(fixture, { recursive: true, force: true });
    }
  });

  test('ps lists it with namespaces and command; --json for scripts; gone after kill', async () => {
    const c = await namedSandbox(`${unique}c`, ['--pid', '--uts']);
    const text = nsrun(['ps']).stdout.split('\n');
    expect(text[0]).toMatch(/^NAME\s+PID\s+STATE\s+NAMESPACES\s+UPTIME\s+COMMAND$/);
    expect(text.find((l) => l.startsWith(`${unique}c `))).toMatch(new RegExp(`^${unique}c\\s+\\d+\\s+running\\s+pid,mnt,uts\\s+\\d+s\\s+sleep 1000$`));
    const entry = JSON.parse(nsrun(['ps', '--json']).stdout).find((e: { name: string }) => e.name === `${unique}c`);
    expect(entry).toMatchObject({ namespaces: ['pid', 'mnt', 'uts'], command: ['sleep', '1000'] });
    const k = nsrun(['kill', `${unique}c`, 'KILL']);
    expect([k.status, k.stderr]).toEqual([0, '']);
    await waitFor(() => c.exitCode !== null);
    expect(c.exitCode ?? 128 + os.constants.signals.SIGKILL).toBe(137);
    expect(nsrun(['ps']).stdout).not.toContain(`${unique}c`);
  });

  test('kill TERM reaches the command through nsrun-init', async () => {
    const c = await namedSandbox(`${unique}k`, ['--pid']);
    expect(nsrun(['kill', `${unique}k`]).status).toBe(0);
    await waitFor(() => c.exitCode !== null);
    expect(c.exitCode).toBe(143);
  });

  test('inspect: isolated and shared namespaces, maps, hostname, NSpid, network (text and JSON)', async () => {
    await namedSandbox(`${unique}d`, ['--pid', '--net', '--uts', '--hostname', 'look', '-r']);
    const j = JSON.parse(nsrun(['inspect', `${unique}d`, '--json']).stdout);
    const iso = Object.fromEntries(j.namespaces.map((n: { type: string; isolated: boolean }) => [n.type, n.isolated]));
    expect(iso).toMatchObject({ user: true, pid: true, mnt: true, uts: true, net: true, ipc: false });
    expect(j).toMatchObject({ name: `${unique}d`, command: ['sleep', '1000'], hostname: 'look', uidMap: [{ inside: 0, outside: 0, count: 1 }] });
    expect(j.nspid).toEqual([j.pid, 1]);
    expect(j.network.map((n: { name: string }) => n.name)).toEqual(['lo']);
    const text = nsrun(['inspect', `${unique}d`]).stdout;
    expect(text).toMatch(/^net\s+net:\[\d+\]\s+net:\[\d+\]\s+isolated$/m);
    expect(text).toMatch(/^ipc\s+ipc:\[\d+\]\s+ipc:\[\d+\]\s+shared$/m);
    expect(text).toContain('inside uid 0 = outside uid 0');
    expect(text).toContain('hostname: look');
    expect(text).toMatch(/^pid: \d+ on the host, 1 in level 1$/m);
  });

  test('inspect works on any PID, e.g. our own process', () => {
    const j = JSON.parse(nsrun(['inspect', String(process.pid), '--json']).stdout);
    expect(j.namespaces.every((n: { isolated: boolean }) => !n.isolated)).toBe(true);
    expect(j.hostname).toBe(os.hostname());
  });

  test.skipIf(!has('ip'))('joins an ip netns namespace by file', () => {
    const ns = `nsrun-${unique}`;
    expect(spawnSync('ip', ['netns', 'add', ns]).status).toBe(0);
    try {
      const r = nsrun(['exec', `--net=/run/netns/${ns}`, '--', 'sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1; readlink /proc/self/ns/net']);
      expect(r.stderr).toBe('');
      expect(r.stdout.split('\n')[0].trim()).toBe('lo');
      expect(r.stdout.split('\n')[1]).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  });

  test.skipIf(!has('bwrap'))('joins a bubblewrap sandbox by PID', async () => {
    const b = spawnChild('bwrap', ['--unshare-pid', '--unshare-uts', '--unshare-net', '--hostname', 'from-bwrap', '--dev-bind', '/', '/', '--proc', '/proc', '--die-with-parent', 'sleep', '1000'], { stdio: 'ignore' });
    started.push(b);
    let target = 0;
    await waitFor(() => {
      // bwrap -> (bwrap pid 1 in the sandbox) -> sleep
      const leaf = (p: number): number => {
        const c = children(p);
        return c.length ? leaf(c[0]) : p;
      };
      target = leaf(b.pid!);
      return target !== b.pid && fs.readFileSync(`/proc/${target}/comm`, 'utf8').trim() === 'sleep';
    });
    const r = nsrun(['exec', String(target), '--', 'sh', '-c', 'hostname; ps -e -o comm= | head -1']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('from-bwrap\nbwrap\n');
  });

  test('bad input: unknown name, dead PID, wrong namespace type, a regular file, no target', () => {
    const cases: [string[], string][] = [
      [['exec', 'no-such-sandbox', '--', 'true'], 'nsrun: target: no-such-sandbox: no running sandbox by that name\nhint: nsrun ps lists the running named sandboxes; a PID or --net=/run/netns/NAME works too\n'],
      [['exec', '9999999999', '--', 'true'], 'nsrun: options: TARGET: 9999999999 is not a valid PID\n'],
      [['exec', '4194303', '--', 'true'], 'nsrun: target: 4194303: No such process\nhint: nsrun ps lists the running named sandboxes\n'],
      [['exec', '--net=/proc/self/ns/pid', '--', 'true'], 'nsrun: options: --net: /proc/self/ns/pid is a pid namespace, expected net\n'],
      [['exec', '--net=/etc/hostname', '--', 'true'], 'nsrun: options: --net: /etc/hostname is not a namespace file\nhint: give a /proc/PID/ns/TYPE file or a bind mount of one, like /run/netns/NAME\n'],
      [['exec', '--', 'true'], 'nsrun: options: TARGET: no target given\nhint: usage: nsrun exec TARGET [options] -- COMMAND [ARG...]\n'],
      [['inspect', 'no-such-sandbox'], 'nsrun: target: no-such-sandbox: no running sandbox by that name\nhint: nsrun ps lists the running named sandboxes; a PID or --net=/run/netns/NAME works too\n'],
      [['kill', 'no-such-sandbox'], 'nsrun: target: no-such-sandbox: no running sandbox by that name\nhint: nsrun ps lists the running named sandboxes; a PID or --net=/run/netns/NAME works too\n'],
      [['kill', String(process.pid), 'SIGNOPE'], "nsrun: options: SIGNAL: 'SIGNOPE' is not a signal name or number\nhint: e.g. TERM, SIGKILL, 9\n"],
      [['ps', 'extra'], 'nsrun: options: extra: unexpected argument\nhint: see nsrun ps --help\n'],
      [['--name', 'bad/name', '--', 'true'], "nsrun: options: --name: 'bad/name' is not a valid name (letters, digits, '_', '.', '-'; up to 63; starting with a letter or digit)\n"],
    ];
    for (const [args, stderr] of cases) {
      const r = nsrun(args);
      expect(r.stderr, args.join(' ')).toBe(stderr);
      expect(r.status, args.join(' ')).toBe(125);
    }
  });

  test('a target that exits mid-join: the pinned pidfd makes setns fail, nothing is entered or run', async () => {
    const sandbox = await namedSandbox(`${unique}mj`, ['--pid', '--net', '--uts']);
    const marker = path.join(os.tmpdir(), `nsrun-midjoin-${process.pid}`);
    const facts = gatherHostFacts();
    // resolve and pin the target, as nsrun exec does before it clones ...
    const prepared = prepareJoin({ target: `${unique}mj`, command: ['touch', marker] }, facts);
    const pid = JSON.parse(nsrun(['ps', '--json']).stdout).find((e: { name: string }) => e.name === `${unique}mj`)?.pid;
    // ... then the target goes away before the child joins it
    sandbox.kill('SIGKILL');
    await waitFor(() => !fs.existsSync(`/proc/${pid}`));
    const err = await spawnPlan(prepared.plan, facts, { planFds: prepared.fds }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isNsrunError(err)).toBe(true);
    expect(err).toMatchObject({ step: 'setns', code: 'ESRCH', exitCode: 125 });
    expect((err as Error).message).toMatch(/^setns: pid \d+ \(pid,mnt,uts,net\): No such process/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('a second sandbox with the same name fails clearly', async () => {
    await namedSandbox(`${unique}e`, ['--pid']);
    const r = nsrun(['--name', `${unique}e`, '--pid', '--', 'true']);
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(new RegExp(`^nsrun: options: --name: a sandbox named '${unique}e' is already running \\(pid \\d+\\)\\nhint: pick another name, or nsrun kill ${unique}e\\n$`));
  });

  test('a stale entry (nsrun killed with SIGKILL) is collected, never used', async () => {
    const c = await namedSandbox(`${unique}f`, ['--pid']);
    c.kill('SIGKILL');
    await waitFor(() => c.exitCode !== null || c.signalCode !== null);
    // the sandbox died with nsrun; its entry stays on disk until someone looks
    const file = `/run/nsrun/${unique}f.json`;
    expect(fs.existsSync(file)).toBe(true);
    await waitFor(() => !nsrun(['ps']).stdout.includes(`${unique}f`));
    expect(fs.existsSync(file)).toBe(false);
    const r = nsrun(['exec', `${unique}f`, '--', 'true']);
    expect([r.status, r.stderr.split('\n')[0]]).toEqual([125, `nsrun: target: ${unique}f: no running sandbox by that name`]);
    // and the name is free again
    expect(nsrun(['--name', `${unique}f`, '--', 'true']).status).toBe(0);
  });

  test('a state file not written by the caller is ignored', () => {
    const file = `/run/nsrun/${unique}g.json`;
    fs.mkdirSync('/run/nsrun', { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, JSON.stringify({ name: `${unique}g`, pid: 1, startTime: fs.readFileSync('/proc/1/stat', 'utf8').split(') ')[1].split(' ')[19], namespaces: {}, command: ['x'], cgroup: '', createdAt: new Date().toISOString(), uid: 0 }));
    fs.chownSync(file, 65534, 65534);
    try {
      const r = nsrun(['exec', `${unique}g`, '--', 'true']);
      expect(r.status).toBe(125);
      expect(r.stderr.split('\n')[0]).toBe(`nsrun: target: ${unique}g: no running sandbox by that name`);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});

describe.skipIf(!(isRoot && has('unshare')))(gated(isRoot && has('unshare'), 'joining util-linux unshare', 'needs root and unshare'), () => {
  test('joins `unshare --fork --pid --mount-proc --uts --net` by PID', async () => {
    const u = spawnChild('unshare', ['--fork', '--pid', '--mount-proc', '--uts', '--net', 'sh', '-c', 'hostname from-unshare; exec sleep 1000'], { stdio: 'ignore' });
    started.push(u);
    let target = 0;
    await waitFor(() => {
      const c = children(u.pid!);
      target = c[0] ?? 0;
      return target > 0 && fs.readFileSync(`/proc/${target}/comm`, 'utf8').trim() === 'sleep';
    });
    const r = nsrun(['exec', String(target), '--', 'sh', '-c', 'hostname; ps -e -o pid=,comm= | head -1; tail -n +3 /proc/net/dev | cut -d: -f1']);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').map((l) => l.trim())).toEqual(['from-unshare', '1 sleep', 'lo', '']);
  });
});

const rootlessOk = unprivilegedUserns;
describe.skipIf(!rootlessOk)(gated(rootlessOk, 'rootless exec', 'needs setpriv and unprivileged user namespaces'), () => {
  const runtime = fs.mkdtempSync(path.join(os.tmpdir(), 'nsrun-xdg-'));
  fs.chownSync(runtime, NOBODY.uid, NOBODY.gid);
  fs.chmodSync(runtime, 0o700);
  afterAll(() => fs.rmSync(runtime, { recursive: true, force: true }));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
  const asNobody: CliOptions = { asUser: NOBODY, env };

  test('an unprivileged user joins its own rootless sandbox', async () => {
    await namedSandbox(`${unique}r`, ['--pid', '--net', '--uts', '--hostname', 'rootless'], asNobody);
    expect(fs.statSync(path.join(runtime, 'nsrun')).mode & 0o777).toBe(0o700);
    const r = nsrun(['exec', `${unique}r`, '--', 'sh', '-c', 'hostname; id -u; ps -e -o pid=,comm= | head -1'], asNobody);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').map((l) => l.trim())).toEqual(['rootless', '0', '1 nsrun-init', '']);
    const j = JSON.parse(nsrun(['inspect', `${unique}r`, '--json'], asNobody).stdout);
    expect(j).toMatchObject({ hostname: 'rootless', uidMap: [{ inside: 0, outside: NOBODY.uid, count: 1 }] });
  });

  test.skipIf(!isRoot)("joining someone else's process is refused, naming the owner", async () => {
    const c = await background([process.execPath, NSRUN, '--pid', '--', 'sleep', '1000'], () => true);
    await waitFor(() => children(c.pid!).length > 0);
    const init = children(c.pid!)[0];
    const r = nsrun(['exec', String(init), '--', 'true'], asNobody);
    expect(r.status).toBe(125);
    expect(r.stderr).toBe(`nsrun: target: ${init}: permission denied: the process belongs to uid 0\nhint: only your own processes can be joined, inspected, measured or signalled (or be root)\n`);
  });

  test('named sandboxes need XDG_RUNTIME_DIR when not root', () => {
    const { XDG_RUNTIME_DIR: _drop, ...noXdg } = env;
    const r = nsrun(['--name', 'x', '--', 'true'], { asUser: NOBODY, env: noXdg });
    expect(r.status).toBe(125);
    expect(r.stderr.split('\n')[0]).toBe('nsrun: options: --name: XDG_RUNTIME_DIR is not set: named sandboxes need a private runtime directory');
  });
});
