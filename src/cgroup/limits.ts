// Resource limits as the user gives them (--memory 512m, --cpus 0.5, ...) -> checked numbers.
// Pure: runs before anything is created, so bad input is a usage error (exit 125) and nothing
// is left behind. Conversions between the v1 and v2 scales follow runc.
import { usageError } from '../errors';

/** Limits as the library takes them: sizes as bytes or strings with a unit ('512m', '1g'). */
export interface CgroupLimits {
  /** Memory limit (memory.max / memory.limit_in_bytes). */
  memory?: number | string;
  /** Memory plus swap (docker's --memory-swap); -1 = unlimited swap. Needs memory. */
  memorySwap?: number | string;
  /** CPU time as a number of CPUs (0.5 = half of one), a CFS quota per 100 ms period. */
  cpus?: number;
  /** CPU priority, 1-10000 (cpu.weight; on v1 converted to cpu.shares). */
  cpuWeight?: number;
  /** CPU priority on the v1 scale, 2-262144 (cpu.shares; on v2 converted to cpu.weight). */
  cpuShares?: number;
  /** CPUs the sandbox may run on, e.g. '0', '0-1,3'. */
  cpuset?: string;
  /** Maximum number of processes and threads. */
  pids?: number;
  /** I/O priority, 1-10000 (io.weight; on v1 blkio.weight 10-1000). */
  ioWeight?: number;
  /** Per-device throttling: bytes (or sizes) and operations per second. */
  ioMax?: IoMaxSpec[];
}

export interface IoMaxSpec {
  /** 'MAJ:MIN' or a block device path ('/dev/vda'). */
  device: string;
  rbps?: number | string;
  wbps?: number | string;
  riops?: number;
  wiops?: number;
}

/** Checked limits: plain numbers. */
export interface ResolvedLimits {
  memory?: number;
  /** -1: unlimited. */
  memorySwap?: number;
  cpus?: number;
  cpuWeight?: number;
  cpuShares?: number;
  cpuset?: string;
  pids?: number;
  ioWeight?: number;
  ioMax?: { device: string; rbps?: number; wbps?: number; riops?: number; wiops?: number }[];
}

export const CPU_PERIOD_US = 100_000;
/** docker's smallest --memory: below it the command cannot even start. */
export const MIN_MEMORY = 6 * 1024 * 1024;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** 512, '512', '64k', '512m', '1.5g', '1GiB', '2MB' -> bytes (binary units, as docker). */
export function parseSize(v: number | string, flag: string): number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw usageError(flag, `${v} is not a size in bytes`);
    return v;
  }
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(v.trim());
  if (!m || (m[3] && m[3].toLowerCase() === 'ib' && !m[2]))
    throw usageError(flag, `'${v}' is not a size`, 'a number with an optional unit b, k, m, g or t (binary: 1k = 1024), e.g. 512m');
  const n = Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
  if (!Number.isSafeInteger(n)) throw usageError(flag, `'${v}' is too large`);
  return n;
}

function int(v: unknown, flag: string, min: number, max: number, what: string): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw usageError(flag, `'${v}' is not an integer`);
  if (n < min || n > max) throw usageError(flag, `${n} is out of range: ${what} is ${min}-${max}`);
  return n;
}

/** A CPU list: '0', '0-3', '0,2-3'. */
export function parseCpuList(text: string, flag = '--cpuset'): number[] {
  const out = new Set<number>();
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text.trim())) throw usageError(flag, `'${text}' is not a CPU list`, 'e.g. 0, 0-1 or 0,2-3');
  for (const part of text.trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (b !== undefined && b < a) throw usageError(flag, `'${part}': the range is backwards`);
    for (let i = a; i <= (b ?? a); i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** runc's conversion: cpu.shares (2-262144) -> cpu.weight (1-10000). */
export function sharesToWeight(shares: number): number {
  return Math.floor(1 + ((shares - 2) * 9999) / 262142);
}

/** The inverse, for --cpu-weight on v1. */
export function weightToShares(weight: number): number {
  return Math.floor(2 + ((weight - 1) * 262142) / 9999);
}

/** io.weight (1-10000) -> blkio.weight (10-1000), the inverse of runc's blkio-to-io conversion. */
export function ioWeightToBlkio(weight: number): number {
  return Math.round(10 + ((weight - 1) * 990) / 9999);
}

/** Check every limit; numbers in, numbers out. Throws a usage error naming the flag. */
export function resolveLimits(l: CgroupLimits, cpuCount: number): ResolvedLimits {
  const r: ResolvedLimits = {};
  if (l.memory !== undefined) {
    r.memory = parseSize(l.memory, '--memory');
    if (r.memory < MIN_MEMORY) throw usageError('--memory', `${l.memory} is too small: the minimum is 6m`);
  }
  if (l.memorySwap !== undefined) {
    if (r.memory === undefined) throw usageError('--memory-swap', 'needs --memory (it is the total of memory and swap)');
    if (l.memorySwap === -1 || l.memorySwap === '-1') r.memorySwap = -1;
    else {
      r.memorySwap = parseSize(l.memorySwap, '--memory-swap');
      if (r.memorySwap < r.memory) throw usageError('--memory-swap', `${l.memorySwap} is less than --memory ${l.memory}: it is memory plus swap`, 'give at least --memory, or -1 for unlimited swap');
    }
  }
  if (l.cpus !== undefined) {
    const c = typeof l.cpus === 'string' ? Number(l.cpus) : l.cpus;
    if (typeof c !== 'number' || !Number.isFinite(c)) throw usageError('--cpus', `'${l.cpus}' is not a number`);
    if (c < 0.01 || c > cpuCount) throw usageError('--cpus', `${l.cpus} is out of range: 0.01 to ${cpuCount} (this machine has ${cpuCount} CPU${cpuCount === 1 ? '' : 's'})`);
    r.cpus = c;
  }
  if (l.cpuWeight !== undefined && l.cpuShares !== undefined) throw usageError('--cpu-shares', 'give either --cpu-weight or --cpu-shares, not both');
  if (l.cpuWeight !== undefined) r.cpuWeight = int(l.cpuWeight, '--cpu-weight', 1, 10000, 'cpu.weight');
  if (l.cpuShares !== undefined) r.cpuShares = int(l.cpuShares, '--cpu-shares', 2, 262144, 'cpu.shares');
  if (l.cpuset !== undefined) {
    parseCpuList(l.cpuset);
    r.cpuset = l.cpuset.trim();
  }
  if (l.pids !== undefined) r.pids = int(l.pids, '--pids', 1, 4194304, 'pids.max');
  if (l.ioWeight !== undefined) r.ioWeight = int(l.ioWeight, '--io-weight', 1, 10000, 'io.weight');
  if (l.ioMax?.length) {
    r.ioMax = l.ioMax.map((s) => {
      if (!s.device) throw usageError('--io-max', 'needs a device (MAJ:MIN or a path)');
      const o: NonNullable<ResolvedLimits['ioMax']>[number] = { device: s.device };
      if (s.rbps !== undefined) o.rbps = parseSize(s.rbps, '--io-max');
      if (s.wbps !== undefined) o.wbps = parseSize(s.wbps, '--io-max');
      if (s.riops !== undefined) o.riops = int(s.riops, '--io-max', 1, Number.MAX_SAFE_INTEGER, 'riops');
      if (s.wiops !== undefined) o.wiops = int(s.wiops, '--io-max', 1, Number.MAX_SAFE_INTEGER, 'wiops');
      if (o.rbps === undefined && o.wbps === undefined && o.riops === undefined && o.wiops === undefined)
        throw usageError('--io-max', `'${s.device}': no limit given`, 'DEV:rbps=N,wbps=N,riops=N,wiops=N');
      for (const k of ['rbps', 'wbps'] as const) if (o[k] === 0) throw usageError('--io-max', `${k}=0 would stop all I/O`);
      return o;
    });
  }
  return r;
}

/** DEV:rbps=1m,wbps=1m,riops=100,wiops=100 with DEV as MAJ:MIN or a path (--io-max). */
export function parseIoMax(text: string): IoMaxSpec {
  const m = /^(\d+:\d+|[^:]+):(.+)$/.exec(text);
  if (!m) throw usageError('--io-max', `'${text}' is not DEV:rbps=N,wbps=N,riops=N,wiops=N`, 'DEV is MAJ:MIN or a block device path, e.g. /dev/vda:wbps=1m');
  const spec: IoMaxSpec = { device: m[1] };
  for (const kv of m[2].split(',')) {
    const [k, v] = kv.split('=');
    if (v === undefined || !['rbps', 'wbps', 'riops', 'wiops'].includes(k))
      throw usageError('--io-max', `'${kv}' is not one of rbps=, wbps=, riops=, wiops=`);
    if (k === 'rbps' || k === 'wbps') spec[k] = v;
    else spec[k as 'riops' | 'wiops'] = int(v, '--io-max', 1, Number.MAX_SAFE_INTEGER, k);
  }
  return spec;
}

/** Which controllers the limits need (v2 names; v1 calls io "blkio"). */
export function neededControllers(l: ResolvedLimits): string[] {
  const c: string[] = [];
  if (l.cpus !== undefined || l.cpuWeight !== undefined || l.cpuShares !== undefined) c.push('cpu');
  if (l.cpuset !== undefined) c.push('cpuset');
  if (l.ioWeight !== undefined || l.ioMax?.length) c.push('io');
  if (l.memory !== undefined) c.push('memory');
  if (l.pids !== undefined) c.push('pids');
  return c;
}

/** The flag that asked for a controller, for messages. */
export function flagsFor(controller: string, l: ResolvedLimits): string {
  const f: string[] = [];
  if (controller === 'cpu') {
    if (l.cpus !== undefined) f.push('--cpus');
    if (l.cpuWeight !== undefined) f.push('--cpu-weight');
    if (l.cpuShares !== undefined) f.push('--cpu-shares');
  } else if (controller === 'io') {
    if (l.ioWeight !== undefined) f.push('--io-weight');
    if (l.ioMax?.length) f.push('--io-max');
  } else if (controller === 'memory') {
    f.push('--memory');
    if (l.memorySwap !== undefined) f.push('--memory-swap');
  } else f.push(`--${controller}`);
  return f.join(', ');
}

export function hasLimits(l: ResolvedLimits): boolean {
  return Object.keys(l).length > 0;
}

export function formatBytes(n: number): string {
  for (const [u, s] of [[1024 ** 3, 'GiB'], [1024 ** 2, 'MiB'], [1024, 'KiB']] as const) if (n >= u && n % (u / 1024) === 0) return `${+(n / u).toFixed(2)} ${s}`;
  return `${n} bytes`;
}
