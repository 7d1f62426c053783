// argv (as yargs parsed it) -> SandboxOptions. Pure apart from reading /etc/passwd and /etc/group
// for names given to --map-user/--map-group/--uid/--gid.
import * as fs from 'node:fs';
import { parseIoMax, type CgroupLimits } from '../cgroup/limits';
import { usageError } from '../errors';
import { NAMESPACE_FLAGS, type NamespaceType } from '../linux';
import type { IdRange, MountSpec, SandboxOptions } from '../options';
import { parseRlimitArg } from '../plan/rlimit';
import type { SecurityOptions } from '../plan/security';
import { MAX_ID } from '../plan/validate';

export type ParsedArgs = Record<string, unknown> & { _: (string | number)[]; '--'?: (string | number)[] };

/** A flag that takes one value must not be given twice. */
export function single(argv: ParsedArgs, key: string, flag: string): string | undefined {
  const v = argv[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw usageError(flag, 'given more than once');
  return String(v);
}

export function list(argv: ParsedArgs, key: string): string[] {
  const v = argv[key];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

function lookupName(file: string, name: string): number | undefined {
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && /^\d+$/.test(f[2] ?? '')) return Number(f[2]);
    }
  } catch {
    // no such database
  }
  return undefined;
}

/** A decimal id, or a name from /etc/passwd or /etc/group. */
export function parseId(text: string, flag: string, db?: '/etc/passwd' | '/etc/group'): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n > MAX_ID) throw usageError(flag, `${text} is larger than the largest id ${MAX_ID}`);
    return n;
  }
  const byName = db && /^[a-z_][a-z0-9_.-]*\$?$/i.test(text) ? lookupName(db, text) : undefined;
  if (byName !== undefined) return byName;
  throw usageError(flag, `'${text}' is not a valid ${db === '/etc/group' ? 'group' : db ? 'user' : 'id'}${db ? ' name or id' : ''}`);
}

/** OUTER:INNER:COUNT (or util-linux's OUTER,INNER,COUNT). */
export function parseRange(text: string, flag: string): IdRange {
  const parts = text.split(/[:,]/);
  if (parts.length !== 3 || parts.some((p) => !/^\d+$/.test(p)))
    throw usageError(flag, `'${text}' is not OUTER:INNER:COUNT (three decimal numbers)`);
  const [outer, inner, count] = parts.map((p) => parseId(p, flag));
  if (count < 1) throw usageError(flag, `'${text}': count must be at least 1`);
  return { outer, inner, count };
}

/** A small decimal count (--preserve-fds). */
export function parseCount(text: string, flag: string, what = 'a number'): number {
  if (!/^\d{1,9}$/.test(text)) throw usageError(flag, `'${text}' is not ${what}`);
  return Number(text);
}

export function parseEnv(entries: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i <= 0) throw usageError('--env', `'${e}' is not KEY=VALUE`);
    env[e.slice(0, i)] = e.slice(i + 1);
  }
  return env;
}

export function commandOf(argv: ParsedArgs): string[] {
  const words = [...(argv.command as string[] | undefined ?? []), ...argv._.slice(0), ...(argv['--'] ?? [])];
  return words.map(String);
}

/** SRC[:DST] for --bind/--ro-bind (DST defaults to SRC). */
export function parseBind(text: string, readOnly: boolean): MountSpec {
  const flag = readOnly ? '--ro-bind' : '--bind';
  if (text === '') throw usageError(flag, 'needs SRC[:DST]');
  const i = text.indexOf(':');
  const source = i < 0 ? text : text.slice(0, i);
  const target = i < 0 ? text : text.slice(i + 1);
  if (source === '' || target === '') throw usageError(flag, `'${text}' is not SRC[:DST]`);
  return { type: 'bind', source, target, readOnly };
}

/** DST[:size=N] for --tmpfs. */
export function parseTmpfs(text: string): MountSpec {
  const m = /^([^:]+)(?::size=(.*))?$/.exec(text);
  if (!m) throw usageError('--tmpfs', `'${text}' is not DST[:size=N]`);
  return m[2] === undefined ? { type: 'tmpfs', target: m[1] } : { type: 'tmpfs', target: m[1], size: m[2] };
}

/** --bind, --ro-bind and --tmpfs in the order given: a later mount may go inside an earlier one. */
export function mountsInOrder(rawArgs: string[]): MountSpec[] {
  const out: MountSpec[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i];
    if (a === '--') break;
    const m = /^--(bind|ro-bind|tmpfs)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const value = m[2] ?? rawArgs[++i] ?? '';
    out.push(m[1] === 'tmpfs' ? parseTmpfs(value) : parseBind(value, m[1] === 'ro-bind'));
  }
  return out;
}

/** --cap-add/--cap-drop (repeatable, or comma-separated), --allow-new-privs, --seccomp, --disable-userns. */
export function securityFromArgv(argv: ParsedArgs): SecurityOptions {
  const out: SecurityOptions = {};
  const caps = (key: string) => list(argv, key).flatMap((c) => c.split(',')).map((c) => c.trim());
  const add = caps('cap-add');
  if (add.length) out.capAdd = add;
  const drop = caps('cap-drop');
  if (drop.length) out.capDrop = drop;
  if (argv['allow-new-privs']) out.allowNewPrivs = true;
  const seccomp = single(argv, 'seccomp', '--seccomp');
  if (seccomp !== undefined) out.seccomp = seccomp;
  if (argv['disable-userns']) out.disableUserns = true;
  return out;
}

export function optionsFromArgv(argv: ParsedArgs, rawArgs: string[] = []): SandboxOptions {
  const namespaces: NamespaceType[] = NAMESPACE_FLAGS.filter((f) => argv[f.long] === true).map((f) => f.type);
  const opts: SandboxOptions = { command: commandOf(argv), namespaces };
  if (argv.all) opts.all = true;
  const hostname = single(argv, 'hostname', '--hostname');
  if (hostname !== undefined) opts.hostname = hostname;
  if (argv['map-root-user']) opts.mapRootUser = true;
  const mapUser = single(argv, 'map-user', '--map-user');
  if (mapUser !== undefined) opts.mapUser = parseId(mapUser, '--map-user', '/etc/passwd');
  const mapGroup = single(argv, 'map-group', '--map-group');
  if (mapGroup !== undefined) opts.mapGroup = parseId(mapGroup, '--map-group', '/etc/group');
  const mapUsers = list(argv, 'map-users').map((r) => parseRange(r, '--map-users'));
  if (mapUsers.length) opts.mapUsers = mapUsers;
  const mapGroups = list(argv, 'map-groups').map((r) => parseRange(r, '--map-groups'));
  if (mapGroups.length) opts.mapGroups = mapGroups;
  const uid = single(argv, 'uid', '--uid');
  if (uid !== undefined) opts.uid = parseId(uid, '--uid', '/etc/passwd');
  const gid = single(argv, 'gid', '--gid');
  if (gid !== undefined) opts.gid = parseId(gid, '--gid', '/etc/group');
  const groups = single(argv, 'groups', '--groups');
  if (groups !== undefined) opts.groups = groups === '' ? [] : groups.split(',').map((g) => parseId(g, '--groups', '/etc/group'));
  const chdir = single(argv, 'chdir', '--chdir');
  if (chdir !== undefined) opts.cwd = chdir;
  const env = list(argv, 'env');
  if (env.length) opts.env = parseEnv(env);
  if (argv['clear-env']) opts.clearEnv = true;
  if (argv['as-pid-1']) opts.asPid1 = true;
  const name = single(argv, 'name', '--name');
  if (name !== undefined) opts.name = name;
  const rootfs = single(argv, 'rootfs', '--rootfs');
  if (rootfs !== undefined) opts.rootfs = rootfs;
  const mounts = mountsInOrder(rawArgs);
  if (mounts.length) opts.mounts = mounts;
  if (argv['read-only']) opts.readOnly = true;
  if (argv.overlay) opts.overlay = true;
  const preserve = single(argv, 'preserve-fds', '--preserve-fds');
  if (preserve !== undefined) opts.preserveFds = parseCount(preserve, '--preserve-fds', 'a number of fds');
  const rlimits = list(argv, 'rlimit');
  if (rlimits.length) {
    opts.rlimits = {};
    for (const text of rlimits) {
      const [name, value] = parseRlimitArg(text);
      if (opts.rlimits[name] !== undefined) throw usageError('--rlimit', `${name} is given more than once`);
      opts.rlimits[name] = value;
    }
  }
  Object.assign(opts, securityFromArgv(argv));
  const limits = limitsFromArgv(argv);
  if (limits) opts.limits = limits;
  const cgroupParent = single(argv, 'cgroup-parent', '--cgroup-parent');
  if (cgroupParent !== undefined) opts.cgroupParent = cgroupParent;
  return opts;
}

function num(text: string, flag: string): number {
  if (!/^-?\d+(\.\d+)?$/.test(text.trim())) throw usageError(flag, `'${text}' is not a number`);
  return Number(text);
}

/** --memory, --cpus, ... -> limits (checked later, with the others, by resolveLimits). */
export function limitsFromArgv(argv: ParsedArgs): CgroupLimits | undefined {
  const l: CgroupLimits = {};
  const memory = single(argv, 'memory', '--memory');
  if (memory !== undefined) l.memory = memory;
  const swap = single(argv, 'memory-swap', '--memory-swap');
  if (swap !== undefined) l.memorySwap = swap;
  const cpus = single(argv, 'cpus', '--cpus');
  if (cpus !== undefined) l.cpus = num(cpus, '--cpus');
  const weight = single(argv, 'cpu-weight', '--cpu-weight');
  if (weight !== undefined) l.cpuWeight = num(weight, '--cpu-weight');
  const shares = single(argv, 'cpu-shares', '--cpu-shares');
  if (shares !== undefined) l.cpuShares = num(shares, '--cpu-shares');
  const cpuset = single(argv, 'cpuset', '--cpuset');
  if (cpuset !== undefined) l.cpuset = cpuset;
  const pids = single(argv, 'pids', '--pids');
  if (pids !== undefined) l.pids = num(pids, '--pids');
  const io = single(argv, 'io-weight', '--io-weight');
  if (io !== undefined) l.ioWeight = num(io, '--io-weight');
  const ioMax = list(argv, 'io-max').map(parseIoMax);
  if (ioMax.length) l.ioMax = ioMax;
  return Object.keys(l).length ? l : undefined;
}
