// From raw readings to the numbers nsrun stats shows, computed as docker stats does: CPU as
// usage over wall time (1.0 = one core busy), memory as usage minus inactive_file against the
// cgroup's limit or, with none, the host's memory. Pure: the readings come from sample.ts.
import type { BlockBytes, NetInterface } from './parse';

export type Metric = 'cpu' | 'memory' | 'blockIo' | 'pids';

export interface CgroupScope {
  version: 1 | 2;
  /** The cgroup the numbers are for, as /proc/PID/cgroup names it (v2: the unified one; v1: memory's, else cpuacct's). */
  path: string;
  /**
   * Numbers read from a root cgroup: they are the whole host's, not the target's own (on v1 a
   * process may have a cgroup of its own in one hierarchy and sit in the root of another).
   */
  hostWide: Metric[];
}

/** One reading of a target's cgroup and network namespace at one moment. */
export interface RawSample {
  pid: number;
  name?: string;
  /** Monotonic clock in nanoseconds (process.hrtime.bigint()), for the CPU delta. */
  monotonicNs: bigint;
  /** Wall clock, for the report. */
  time: Date;
  cgroup: CgroupScope;
  /** Cumulative CPU time of the cgroup (and its descendants), ns; undefined without cpu accounting. */
  cpuNs?: number;
  memory?: {
    /** memory.current (v2) or memory.usage_in_bytes (v1). */
    usage: number;
    /** inactive_file (v2) or total_inactive_file (v1) from memory.stat. */
    inactiveFile?: number;
    /** The lowest limit of the cgroup and its ancestors in bytes; undefined when unlimited. */
    limit?: number;
  };
  /** MemTotal of the host (/proc/meminfo), bytes. */
  hostMemory: number;
  network?: {
    /** 'host' when the target shares the caller's network namespace. */
    namespace: 'own' | 'host';
    interfaces: NetInterface[];
  };
  blockIo?: BlockBytes;
  pids?: number;
}

export interface SandboxStats {
  /** The sandbox's registered name, when it has one. */
  name?: string;
  pid: number;
  /** ISO time of the reading. */
  time: string;
  cgroup: CgroupScope;
  cpu: {
    /** CPU time used so far, ns. */
    usageNs: number | null;
    /** Cores busy over the interval: 1 = one core fully (docker's CPU % / 100); null on a first reading. */
    ratio: number | null;
  };
  memory: {
    /** Usage minus inactive file cache, bytes (what docker shows). */
    usage: number | null;
    /** The limit the percentage is of: the cgroup's, or the host's memory when unlimited. */
    limit: number;
    /** The cgroup's own limit (lowest of it and its ancestors); null when unlimited. */
    cgroupLimit: number | null;
    ratio: number | null;
  };
  network: {
    namespace: 'own' | 'host';
    /** Summed over the interfaces except lo (traffic in and out of the namespace, as docker). */
    rxBytes: number;
    txBytes: number;
    interfaces: NetInterface[];
  } | null;
  blockIo: BlockBytes | null;
  pids: number | null;
}

/** At or above this, a v1 memory limit means none (2^62; the kernel's "unlimited" is just under 2^63). */
export const V1_UNLIMITED = 2 ** 62;

/** usage minus inactive_file, as docker's calculateMemUsageUnixNoCache (never below zero). */
export function memoryUsage(m: NonNullable<RawSample['memory']>): number {
  const inactive = m.inactiveFile ?? 0;
  return inactive < m.usage ? m.usage - inactive : m.usage;
}

/** Cores busy between two readings: CPU time delta over wall time delta. */
export function cpuRatio(prev: Pick<RawSample, 'cpuNs' | 'monotonicNs'> | undefined, cur: Pick<RawSample, 'cpuNs' | 'monotonicNs'>): number | null {
  if (!prev || prev.cpuNs === undefined || cur.cpuNs === undefined) return null;
  const wall = Number(cur.monotonicNs - prev.monotonicNs);
  if (wall <= 0) return null;
  return Math.max(0, cur.cpuNs - prev.cpuNs) / wall;
}

/** The numbers for `cur`, with CPU over the time since `prev` (the same target's previous reading). */
export function computeStats(cur: RawSample, prev?: RawSample): SandboxStats {
  const usage = cur.memory ? memoryUsage(cur.memory) : null;
  // v1 says "unlimited" with a huge number (PAGE_COUNTER_MAX pages, 0x7ffffffffffff000)
  const raw = cur.memory?.limit;
  const cgroupLimit = raw !== undefined && raw < V1_UNLIMITED ? raw : null;
  // a limit above the host's memory is no limit in practice: docker shows the host's memory then
  const limit = cgroupLimit !== null && cgroupLimit < cur.hostMemory ? cgroupLimit : cur.hostMemory;
  const external = cur.network?.interfaces.filter((i) => i.name !== 'lo') ?? [];
  return {
    ...(cur.name !== undefined ? { name: cur.name } : {}),
    pid: cur.pid,
    time: cur.time.toISOString(),
    cgroup: cur.cgroup,
    cpu: { usageNs: cur.cpuNs ?? null, ratio: cpuRatio(prev, cur) },
    memory: {
      usage,
      limit,
      cgroupLimit,
      ratio: usage !== null && limit > 0 ? usage / limit : null,
    },
    network: cur.network
      ? {
          namespace: cur.network.namespace,
          rxBytes: external.reduce((s, i) => s + i.rxBytes, 0),
          txBytes: external.reduce((s, i) => s + i.txBytes, 0),
          interfaces: cur.network.interfaces,
        }
      : null,
    blockIo: cur.blockIo ?? null,
    pids: cur.pids ?? null,
  };
}
