// nsrun exec: the plan that enters a running sandbox. Parent side: it resolves and pins the target,
// opens the namespace, root and cwd fds the child will use, and decides what to enter.
import * as fs from 'node:fs';
import { usageError } from '../errors';
import { NAMESPACE_TYPES, type NamespaceType } from '../linux';
import { native } from '../native/binding';
import type { StdioMode } from '../options';
import { relayedTerminals, resolveStdio } from '../plan/build';
import { inheritSecurity, insertSecuritySteps, planSecurity, type SecurityOptions } from '../plan/security';
import type { Plan, Step } from '../plan/types';
import { checkPreserveCount, checkPreservedFds } from './fds';
import type { HostFacts } from './host';
import { checkAlive, openNamespacePath, readNamespaces, resolveTarget, type Target } from './target';


export interface ExecOptions extends SecurityOptions {
  /** A sandbox name or a PID. Optional when every namespace comes from namespacePaths. */
  target?: string;
  command: string[];
  /** Namespace types to enter; default: every type in which the target differs from the caller. */
  namespaces?: NamespaceType[];
  /** Namespace files to enter instead of the target's: /run/netns/NAME, /proc/PID/ns/TYPE ... */
  namespacePaths?: Partial<Record<NamespaceType, string>>;
  /** Use the target's environment (its /proc/PID/environ) instead of ours. */
  envFromTarget?: boolean;
  env?: Record<string, string>;
  /** Working directory inside (default: the target's). */
  cwd?: string;
  stdio?: StdioMode | 'auto';
  baseEnv?: NodeJS.ProcessEnv;
  /** Pass fds 3..3+N-1 of this process to the command (as runc exec --preserve-fds). */
  preserveFds?: number;
}

export interface PreparedJoin {
  plan: Plan;
  target?: Target;
  /** fds the child uses (pidfd, namespace files, root, cwd): closed once it has started. */
  fds: number[];
  /** What could not be entered and why (cgroups without write access). */
  notes: string[];
}

interface CgroupMount {
  dir: string;
  root: string;
  v2: boolean;
  controllers: Set<string>;
}

function cgroupMounts(): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const [fstype, , superOpts] = right.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const f = left.split(' ');
    out.push({ dir: f[4], root: f[3], v2: fstype === 'cgroup2', controllers: new Set(superOpts.split(',')) });
  }
  return out;
}

function cgroupLines(pid: number | 'self'): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    m.set(line.slice(first + 1, second), line.slice(second + 1));
  }
  return m;
}

/** cgroup.procs files of the target's cgroups that differ from ours, one per hierarchy. */
export function cgroupsToJoin(pid: number): string[] {
  const mine = cgroupLines('self');
  const theirs = cgroupLines(pid);
  const mounts = cgroupMounts();
  const files: string[] = [];
  for (const [controllers, path] of theirs) {
    if (mine.get(controllers) === path) continue;
    const want = controllers === '' ? [] : controllers.split(',');
    const m = mounts.find((mt) => (controllers === '' ? mt.v2 : !mt.v2 && want.every((c) => mt.controllers.has(c))));
    if (!m) continue;
    const rel = m.root !== '/' && path.startsWith(m.root) ? path.slice(m.root.length) : path;
    files.push(`${m.dir}${rel === '/' ? '' : rel}/cgroup.procs`.replace(/\/+/g, '/'));
  }
  return files;
}

function targetEnv(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = entry.indexOf('=');
    if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return env;
}

function openDir(file: string): number {
  return fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
}

function mapsZero(pid: number, file: 'uid_map' | 'gid_map'): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8').trim().split('\n').some((l) => {
      const [inner, , count] = l.trim().split(/\s+/).map(Number);
      return inner === 0 && count >= 1;
    });
  } catch {
    return false;
  }
}

export function prepareJoin(opts: ExecOptions, facts: HostFacts): PreparedJoin {
  if (!Array.isArray(opts.command) || opts.command.length === 0)
    throw usageError(undefined, 'no command specified', 'usage: nsrun exec TARGET [options] -- COMMAND [ARG...]');
  if (opts.command[0] === '') throw usageError('command', 'the command name is empty');
  if (opts.cwd !== undefined && !opts.cwd.startsWith('/')) throw usageError('--chdir', `'${opts.cwd}' is not an absolute path`);
  const paths = opts.namespacePaths ?? {};
  if (!opts.target && Object.keys(paths).length === 0)
    throw usageError('TARGET', 'no target given', 'name a sandbox, a PID, or namespace files (--net=/run/netns/NAME)');
  if (opts.envFromTarget && !opts.target) throw usageError('--env-from-target', 'needs a TARGET');
  if (opts.preserveFds !== undefined) checkPreservedFds(checkPreserveCount(opts.preserveFds));

  const fds: number[] = [];
  const notes: string[] = [];
  const steps: Step[] = [];
  try {
    const target = opts.target ? resolveTarget(opts.target) : undefined;
    if (target) fds.push(target.pidfd);
    const mine = readNamespaces('self');
    const explicit = opts.namespaces && opts.namespaces.length > 0;
    const types = NAMESPACE_TYPES.filter((t) => {
      if (paths[t] !== undefined) return true;
      if (!target) return false;
      if (explicit) return opts.namespaces!.includes(t);
      return target.namespaces[t] !== undefined && target.namespaces[t] !== mine[t];
    });
    // Entering a namespace we are already in is an error for user namespaces and pointless for
    // the rest: skip those, whatever was asked.
    const fromPid = types.filter((t) => paths[t] === undefined && target!.namespaces[t] !== mine[t]);
    const fromPath = types.filter((t) => paths[t] !== undefined);

    let env: Record<string, string> = {};
    if (opts.envFromTarget) env = targetEnv(target!.pid);
    else for (const [k, v] of Object.entries(opts.baseEnv ?? process.env)) if (v !== undefined) env[k] = v;
    Object.assign(env, opts.env ?? {});

    if (target) {
      for (const file of cgroupsToJoin(target.pid)) {
        if (facts.euid === 0 || isWritable(file)) steps.push({ kind: 'join-cgroup', file });
        else notes.push(`cgroup ${file} not joined: no write access`);
      }
    }
    steps.push({ kind: 'non-dumpable' });
    const joinsUser = fromPid.includes('user') || fromPath.includes('user');
    // setns(CLONE_NEWTIME) fails with EUSERS in a process sharing its memory (ours shares Node's):
    // the time namespace is entered after a plain fork, by the process that runs the command.
    const beforeFork = { pid: fromPid.filter((t) => t !== 'time'), path: fromPath.filter((t) => t !== 'time') };
    const timeSteps: Step[] = [];
    if (beforeFork.path.length === 0 && beforeFork.pid.length > 0) {
      steps.push({ kind: 'setns', pidfd: target!.pidfd, pid: target!.pid, types: beforeFork.pid });
    } else if (beforeFork.path.length > 0 || beforeFork.pid.length > 0) {
      // One setns per file. Unprivileged callers enter the user namespace first (it grants the
      // rights for the rest); root enters it last (before, it would lose rights over the others).
      const entries: { type: NamespaceType; path: string; fd: number }[] = [];
      for (const t of beforeFork.path) entries.push({ type: t, path: paths[t]!, fd: openNamespacePath(paths[t]!, t) });
      for (const t of beforeFork.pid) entries.push({ type: t, path: `/proc/${target!.pid}/ns/${t}`, fd: openNamespacePath(`/proc/${target!.pid}/ns/${t}`, t) });
      fds.push(...entries.map((e) => e.fd));
      const userFirst = facts.euid !== 0;
      entries.sort((a, b) => (a.type === 'user' ? (userFirst ? -1 : 1) : b.type === 'user' ? (userFirst ? 1 : -1) : 0));
      for (const e of entries) steps.push({ kind: 'setns-fd', fd: e.fd, type: e.type, path: e.path });
    }
    if (fromPath.includes('time')) {
      const fd = openNamespacePath(paths.time!, 'time');
      fds.push(fd);
      timeSteps.push({ kind: 'setns-fd', fd, type: 'time', path: paths.time! });
    } else if (fromPid.includes('time')) {
      timeSteps.push({ kind: 'setns', pidfd: target!.pidfd, pid: target!.pid, types: ['time'] });
    }
    steps.push(timeSteps.length ? { kind: 'fork', ownMemory: true } : { kind: 'fork' });
    steps.push(...timeSteps);
    // Entering the target's mount namespace puts us at that namespace's root; the target may have
    // chrooted further, so enter its own root and working directory (opened before any setns).
    if (target && fromPid.includes('mnt')) {
      const root = openDir(`/proc/${target.pid}/root`);
      fds.push(root);
      steps.push({ kind: 'enter-root', fd: root, path: `/proc/${target.pid}/root` });
      if (opts.cwd === undefined) {
        const cwd = openDir(`/proc/${target.pid}/cwd`);
        fds.push(cwd);
        steps.push({ kind: 'enter-cwd', fd: cwd, path: `/proc/${target.pid}/cwd` });
      }
    }
    let uidInside = facts.euid;
    if (joinsUser) uidInside = 65534; // the overflow id, until the identity step
    if (joinsUser && target) {
      // Outside ids read as the overflow id after entering; become the sandbox's root as nsenter does.
      if (mapsZero(target.pid, 'uid_map')) {
        uidInside = 0;
        steps.push({
          kind: 'identity',
          groups: readSetgroups(target.pid) === 'allow' ? [] : undefined,
          gid: mapsZero(target.pid, 'gid_map') ? 0 : undefined,
          uid: 0,
        });
      }
    }
    const stdio = resolveStdio({ command: opts.command, stdio: opts.stdio }, facts);
    const relay = relayedTerminals(stdio, facts);
    if (stdio === 'pty') steps.push({ kind: 'pty', ptmx: '/dev/ptmx' });
    else {
      steps.push({ kind: 'setsid' });
      steps.push({ kind: 'stdio', mode: stdio, relay });
    }
    steps.push({ kind: 'close-fds', from: 3 });
    if (opts.preserveFds) steps.push({ kind: 'preserve-fds', count: opts.preserveFds });
    steps.push({ kind: 'control-fd' });
    if (opts.cwd !== undefined) steps.push({ kind: 'chdir', dir: opts.cwd });
    steps.push({ kind: 'die-with-parent' });
    steps.push({ kind: 'exec', viaInit: true });
    if (target) checkAlive(target);
    // docker exec applies the container's restrictions: so does nsrun exec into a named sandbox
    // (its registry entry); any other target gets the defaults. Options given to exec win.
    const inherited = target?.security && Object.values(target.security).some((v) => v !== undefined && v !== 'default');
    if (inherited) notes.push(`the security options sandbox ${target!.name} was started with apply (exec's own options replace them)`);
    const security = planSecurity(inheritSecurity(target?.security, opts), {
      privileged: joinsUser || (facts.capEff ?? (facts.euid === 0 ? ['setpcap'] : [])).includes('setpcap'),
      uid: uidInside,
      callerCaps: facts.capEff ?? [],
    });

    const plan: Plan = {
      mode: 'join',
      command: opts.command,
      namespaces: NAMESPACE_TYPES.filter((t) => fromPid.includes(t) || fromPath.includes(t)),
      implied: {},
      steps: insertSecuritySteps(steps, security),
      security: security.summary,
      init: true,
      stdio,
      relay,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      caller: { uid: facts.euid, gid: facts.egid, rootless: facts.euid !== 0 },
    };
    return { plan, target, fds, notes };
  } catch (e) {
    for (const fd of fds) native().close(fd);
    throw e;
  }
}

function isWritable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function readSetgroups(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
