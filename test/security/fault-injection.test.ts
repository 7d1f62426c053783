// Fault injection: nsrun is SIGKILLed at every named point of a sandbox's setup (NSRUN_FAULT, see
// src/parent/fault.ts), for several kinds of sandbox, as root and rootless, and for nsrun exec.
// After each death nothing may be left: no process of the sandbox (found by a marker unique to
// the run in its command line), no new host mount, no state file (after the next `nsrun ps`), no
// nsrun cgroup, no fd in this process. The points come from a trace run of the same options, so
// a new step is covered without touching this file.
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { NSRUN, setprivPrefix } from '../helpers/cli';
import { BUSYBOX, buildRootfs } from '../helpers/rootfs';

const UNBUNDLED = path.join(__dirname, '..', 'helpers', 'nsrun-unbundled.js');
const tag = `flt${process.pid}`;
type User = { uid: number; gid: number } | undefined;

const rootfs = BUSYBOX ? buildRootfs() : undefined;
// nobody's private runtime directory, for --name
const xdg = fs.mkdtempSync(`/tmp/nsrun-fault-xdg-${process.pid}-`);
if (isRoot) fs.chownSync(xdg, NOBODY.uid, NOBODY.gid);
fs.chmodSync(xdg, 0o700);
afterAll(() => {
  if (rootfs) fs.rmSync(rootfs, { recursive: true, force: true });
  fs.rmSync(xdg, { recursive: true, force: true });
});

function env(fault: string | undefined, user: User): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: user ? xdg : process.env.XDG_RUNTIME_DIR };
  if (fault) e.NSRUN_FAULT = fault;
  else delete e.NSRUN_FAULT;
  return e;
}

function argv(user: User, args: string[]): string[] {
  return [...(user ? setprivPrefix(user) : []), process.execPath, UNBUNDLED, ...args];
}

/** Every fault point the options pass through, in order ('mount#3'), from a trace run. */
function tracePoints(args: string[], user: User): string[] {
  const a = argv(user, [...args, '--', 'true']);
  const r = spawnSync(a[0], a.slice(1), { env: env('trace', user), encoding: 'utf8', timeout: 20_000, cwd: '/', stdio: ['ignore', 'ignore', 'pipe'] });
  const points = [...r.stderr.matchAll(/^nsrun-fault: (\S+)$/gm)].map((m) => m[1]);
  if (r.status !== 0 || points.length < 5) throw new Error(`trace run failed (${r.status}): ${r.stderr}`);
  return points;
}

function markedProcesses(marker: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.includes(marker)) out.push(`${e}: ${cmd.replace(/\0/g, ' ')}`);
    } catch {
      // gone
    }
  }
  return out;
}

// Mount points nsrun mounts on (or under the rootfs): a new host mount there would be a leak.
function hostMounts(): Set<string> {
  const watched = /^\d+ \d+ \S+ \S+ (\/|\/proc|\/dev|\/dev\/pts|\/sys|\/tmp)( |$)/;
  return new Set(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => watched.test(l) || (rootfs && l.includes(rootfs))));
}

function nsrunCgroups(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (/nsrun/.test(e.name)) out.add(p);
      if (depth < 3) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return out;
}

function stateFiles(user: User, name: string): string[] {
  const dir = user ? path.join(xdg, 'nsrun') : '/run/nsrun';
  try {
    return fs.readdirSync(dir).filter((f) => f === `${name}.json` || f.startsWith(`.${name}.`));
  } catch {
    return [];
  }
}

async function waitGone(marker: string): Promise<string[]> {
  for (let i = 0; i < 250; i++) {
    const left = markedProcesses(marker);
    if (left.length === 0) return [];
    await new Promise((r) => setTimeout(r, 20));
  }
  return markedProcesses(marker);
}

/** Runs nsrun with NSRUN_FAULT=point and checks that nothing of the sandbox is left. */
async function killAt(point: string, args: string[], user: User, name?: string): Promise<void> {
  const marker = `${tag}-${point.replace(/[#:]/g, '-')}-${Math.random().toString(36).slice(2, 8)}`;
  const mounts = hostMounts();
  const cgroups = nsrunCgroups();
  const ourFds = fs.readdirSync('/proc/self/fd').length;
  const a = argv(user, [...args, '--', 'sh', '-c', `sleep 1000; : ${marker}`]);
  // stdio ignored: the run ends when nsrun dies, not when the last holder of a pipe does
  const r = spawnSync(a[0], a.slice(1), { env: env(point, user), stdio: 'ignore', timeout: 20_000, cwd: '/' });
  expect(r.signal, `nsrun was killed at ${point} (status ${r.status}, ${r.error})`).toBe('SIGKILL');

  expect(await waitGone(marker), `processes left after a kill at ${point}`).toEqual([]);
  const newMounts = [...hostMounts()].filter((l) => !mounts.has(l));
  expect(newMounts, `host mounts after a kill at ${point}`).toEqual([]);
  // other test files make nsrun cgroups meanwhile: only ones named after this run count
  const ours = (c: string) => [String(r.pid), marker, ...(name ? [name] : [])].some((id) => new RegExp(`\\b${id}\\b`).test(path.basename(c)));
  let newCgroups = [...nsrunCgroups()].filter((c) => !cgroups.has(c) && ours(c));
  if (newCgroups.length) {
    // a cgroup a killed nsrun made is collected by the next run (its owner is gone)
    const next = argv(user, ['--', 'true']);
    expect(spawnSync(next[0], next.slice(1), { env: env(undefined, user), stdio: 'ignore', cwd: '/' }).status).toBe(0);
    newCgroups = [...nsrunCgroups()].filter((c) => !cgroups.has(c) && ours(c));
  }
  expect(newCgroups, `cgroups after a kill at ${point} and the next run`).toEqual([]);
  if (name) {
    // a state file may stay until the next nsrun ps notices its process is gone (a process still
    // on its way out, its memory gone but not yet a zombie, may take a moment)
    const ps = argv(user, ['ps', '--json']);
    let listed = '';
    for (let i = 0; i < 20; i++) {
      const r2 = spawnSync(ps[0], ps.slice(1), { env: env(undefined, user), encoding: 'utf8', cwd: '/' });
      expect(r2.status).toBe(0);
      listed = r2.stdout;
      if (!listed.includes(`"${name}"`)) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(listed).not.toContain(`"${name}"`);
    expect(stateFiles(user, name), `state files after a kill at ${point}`).toEqual([]);
  }
  expect(fs.readdirSync('/proc/self/fd').length).toBe(ourFds);
}

interface Config {
  title: string;
  args: string[];
  user: User;
  name?: string;
  /** also kill while each child step runs (':after') */
  after?: boolean;
  /** only the first pass of each point (mount-point#1, not #2..#20: the same code again) */
  firstOnly?: boolean;
}

const configs: Config[] = [];
if (isRoot) {
  configs.push({ title: 'root --name --pid --net --uts --ipc', args: ['--name', `${tag}r1`, '--pid', '--net', '--uts', '--hostname', 'f', '--ipc'], user: undefined, name: `${tag}r1`, after: true });
  configs.push({ title: 'root, no namespaces', args: [], user: undefined });
  configs.push({ title: 'root --name --pid with cgroup limits (--memory, --pids)', args: ['--name', `${tag}c1`, '--pid', '--memory', '64m', '--pids', '64'], user: undefined, name: `${tag}c1` });
  configs.push({ title: 'root --user --mount (id maps written by the parent)', args: ['--user', '--mount', '--map-users', '100000:1:1000', '--map-groups', '100000:1:1000'], user: undefined });
  if (rootfs) {
    configs.push({ title: 'root --rootfs --pid --net --bind --read-only', args: ['--rootfs', rootfs, '--pid', '--net', '--bind', `${rootfs}/etc:/mnt`, '--read-only', '-e', 'PATH=/bin'], user: undefined });
    configs.push({ title: 'root --rootfs --overlay --pid --name', args: ['--name', `${tag}r2`, '--rootfs', rootfs, '--overlay', '--pid', '-e', 'PATH=/bin'], user: undefined, name: `${tag}r2`, firstOnly: true });
  }
}
if (unprivilegedUserns) {
  configs.push({ title: 'rootless --name --pid --net', args: ['--name', `${tag}n1`, '--pid', '--net'], user: NOBODY, name: `${tag}n1`, after: true });
  if (rootfs) configs.push({ title: 'rootless --rootfs --overlay --pid --net', args: ['--rootfs', rootfs, '--overlay', '--pid', '--net', '-e', 'PATH=/bin'], user: NOBODY, firstOnly: true });
}

const REASON = 'needs root, or setpriv and unprivileged user namespaces';
describe.skipIf(configs.length === 0)(gated(configs.length > 0, 'nsrun killed at every setup point leaves nothing', REASON), () => {
  for (const c of configs) {
    const all = tracePoints(c.args, c.user);
    const points = c.firstOnly ? all.filter((p) => p.endsWith('#1')) : all;
    describe(`${c.title} (${points.length} of ${all.length} points)`, () => {
      test('the trace names the parent phases and the child steps', () => {
        expect(points[0]).toBe('clone#1');
        expect(points).toContain('exec#1');
        expect(points).toContain('started#1');
        if (c.name) expect(points.slice(-2)).toEqual(['registry-link#1', 'registry#1']);
      });
      test.each(points)('killed at %s', (p) => killAt(p, c.args, c.user, c.name), 60_000);
      if (c.after) {
        const childSteps = points.filter((p) => !/^(clone|id-map|started|registry|registry-link)#/.test(p));
        test.each(childSteps)('killed while %s runs', (p) => killAt(`${p}:after`, c.args, c.user, c.name), 60_000);
      }
    });
  }
});

// nsrun exec: killed at every point of a join, the joined command goes and the target stays.
const running: ChildProcess[] = [];
afterAll(() => running.forEach((c) => c.kill('SIGKILL')));

describe.skipIf(!isRoot)(gated(isRoot, 'nsrun exec killed at every point leaves nothing, and the target runs on', 'needs root'), () => {
  const target = `${tag}t`;
  const joinArgs = ['exec', target];
  test('the target starts', async () => {
    const c = spawnChild(process.execPath, [NSRUN, '--name', target, '--pid', '--net', '--', 'sleep', '1000'], { stdio: 'ignore' });
    running.push(c);
    for (let i = 0; i < 250 && !fs.existsSync(`/run/nsrun/${target}.json`); i++) await new Promise((r) => setTimeout(r, 20));
    expect(fs.existsSync(`/run/nsrun/${target}.json`)).toBe(true);
    const points = tracePoints(joinArgs, undefined);
    expect(points).toContain('fork#1');
    for (const p of points) {
      await killAt(p, joinArgs, undefined);
      expect(running[0].exitCode, `the target died with nsrun exec killed at ${p}`).toBe(null);
    }
  }, 120_000);
});

describe('the hook is compiled out of the bundled CLI', () => {
  test('dist/nsrun.js and dist/nsrun-full.js never read NSRUN_FAULT, and ignore it', () => {
    for (const file of ['nsrun.js', 'nsrun-full.js']) {
      const bundle = fs.readFileSync(path.join(__dirname, '..', '..', 'dist', file), 'utf8');
      expect(bundle, file).not.toContain('NSRUN_FAULT');
      expect(bundle, file).not.toContain('SIGKILL did not kill nsrun');
    }
    const r = spawnSync(process.execPath, [NSRUN, '--', 'echo', 'alive'], { env: { ...process.env, NSRUN_FAULT: 'clone' }, encoding: 'utf8' });
    expect(r.stdout).toBe('alive\n');
    expect(r.status).toBe(0);
  });
});
