// Resource limits (--rlimit NAME=SOFT[:HARD]): names, parsing and checks. Pure; the child applies
// them with prlimit64 just before exec (see compile.ts, native OP_SETRLIMIT).
import { usageError } from '../errors';
import type { RlimitValue } from '../options';

/** RLIMIT_* numbers: the same on every Linux architecture nsrun builds for (x86_64, aarch64). */
export const RLIMITS = {
  cpu: { resource: 0, unit: 'seconds', bytes: false },
  fsize: { resource: 1, unit: 'bytes', bytes: true },
  data: { resource: 2, unit: 'bytes', bytes: true },
  stack: { resource: 3, unit: 'bytes', bytes: true },
  core: { resource: 4, unit: 'bytes', bytes: true },
  rss: { resource: 5, unit: 'bytes', bytes: true },
  nproc: { resource: 6, unit: 'processes', bytes: false },
  nofile: { resource: 7, unit: 'open files', bytes: false },
  memlock: { resource: 8, unit: 'bytes', bytes: true },
  as: { resource: 9, unit: 'bytes', bytes: true },
  locks: { resource: 10, unit: 'locks', bytes: false },
  sigpending: { resource: 11, unit: 'signals', bytes: false },
  msgqueue: { resource: 12, unit: 'bytes', bytes: true },
  nice: { resource: 13, unit: '20 - nice value', bytes: false },
  rtprio: { resource: 14, unit: 'priority', bytes: false },
  rttime: { resource: 15, unit: 'microseconds', bytes: false },
} as const;

export type RlimitName = keyof typeof RLIMITS;
export const RLIMIT_NAMES = Object.keys(RLIMITS).sort() as RlimitName[];

/** A limit value: a number of units, or unlimited (RLIM_INFINITY). */
export type Limit = number | 'unlimited';

export interface ResolvedRlimit {
  name: RlimitName;
  soft: Limit;
  hard: Limit;
}

/** RLIM_INFINITY as the child parses it. */
export const RLIM_INFINITY = '18446744073709551615';

export function limitText(v: Limit): string {
  return v === 'unlimited' ? 'unlimited' : String(v);
}

export function wireLimit(v: Limit): string {
  return v === 'unlimited' ? RLIM_INFINITY : String(v);
}

const SUFFIX: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** '1024', '64k', '1M' (byte limits only, powers of 1024), 'unlimited' (or 'infinity', '-1'). */
export function parseLimit(text: string, name: RlimitName): Limit {
  const t = text.trim().toLowerCase();
  if (t === 'unlimited' || t === 'infinity' || t === '-1') return 'unlimited';
  const m = /^(\d+)([kmgt]?)$/.exec(t);
  const what = RLIMITS[name].bytes ? 'a number of bytes (suffix k, m, g or t allowed)' : `a number (${RLIMITS[name].unit})`;
  if (!m || (m[2] && !RLIMITS[name].bytes)) throw usageError('--rlimit', `${name}: '${text}' is not ${what} or unlimited`);
  const n = Number(m[1]) * (m[2] ? SUFFIX[m[2]] : 1);
  if (!Number.isSafeInteger(n)) throw usageError('--rlimit', `${name}: '${text}' is too large (at most ${Number.MAX_SAFE_INTEGER}, or unlimited)`);
  return n;
}

function resolveName(text: string): RlimitName {
  const n = text.trim().toLowerCase().replace(/^rlimit_/, '');
  if (!Object.hasOwn(RLIMITS, n)) throw usageError('--rlimit', `'${text}' is not a resource limit (one of: ${RLIMIT_NAMES.join(', ')})`);
  return n as RlimitName;
}

/** NAME=SOFT[:HARD] from the command line into the library's form. */
export function parseRlimitArg(text: string): [RlimitName, RlimitValue] {
  const m = /^([^=]+)=([^:]*)(?::(.*))?$/.exec(text);
  if (!m) throw usageError('--rlimit', `'${text}' is not NAME=SOFT[:HARD] (e.g. nofile=1024:4096)`);
  const name = resolveName(m[1]);
  if (m[2] === '') throw usageError('--rlimit', `${name}: the soft limit is missing`);
  const soft = parseLimit(m[2], name);
  if (m[3] === undefined) return [name, soft];
  if (m[3] === '') throw usageError('--rlimit', `${name}: the hard limit is missing after ':'`);
  return [name, { soft, hard: parseLimit(m[3], name) }];
}

function checkLimit(v: unknown, name: string): Limit {
  if (v === 'unlimited') return v;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw usageError('--rlimit', `${name}: ${String(v)} is not a limit (a non-negative integer or 'unlimited')`);
  return v;
}

function above(a: Limit, b: Limit): boolean {
  if (a === 'unlimited') return b !== 'unlimited';
  return b !== 'unlimited' && a > b;
}

/** The library's rlimits option, checked: names known, values valid, soft <= hard. */
export function resolveRlimits(rlimits: Partial<Record<string, RlimitValue>> | undefined): ResolvedRlimit[] {
  const out: ResolvedRlimit[] = [];
  for (const [key, value] of Object.entries(rlimits ?? {})) {
    if (value === undefined) continue;
    const name = resolveName(key);
    if (out.some((r) => r.name === name)) throw usageError('--rlimit', `${name} is given more than once`);
    const pair = typeof value === 'object' && value !== null ? value : { soft: value, hard: value };
    const soft = checkLimit(pair.soft, name);
    const hard = checkLimit(pair.hard, name);
    if (above(soft, hard)) throw usageError('--rlimit', `${name}: the soft limit ${limitText(soft)} is above the hard limit ${limitText(hard)}`);
    out.push({ name, soft, hard });
  }
  return out;
}

/** The caller's own limit, from /proc/self/limits (for hints). */
export function ownLimit(name: RlimitName, readFile: (p: string) => string): { soft: string; hard: string } | undefined {
  const titles: Record<RlimitName, string> = {
    cpu: 'Max cpu time', fsize: 'Max file size', data: 'Max data size', stack: 'Max stack size', core: 'Max core file size',
    rss: 'Max resident set', nproc: 'Max processes', nofile: 'Max open files', memlock: 'Max locked memory', as: 'Max address space',
    locks: 'Max file locks', sigpending: 'Max pending signals', msgqueue: 'Max msgqueue size', nice: 'Max nice priority',
    rtprio: 'Max realtime priority', rttime: 'Max realtime timeout',
  };
  try {
    const line = readFile('/proc/self/limits').split('\n').find((l) => l.startsWith(titles[name]));
    if (!line) return undefined;
    const [soft, hard] = line.slice(26).trim().split(/\s+/);
    return { soft, hard };
  } catch {
    return undefined;
  }
}
