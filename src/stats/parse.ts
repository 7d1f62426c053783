// Parsers for the kernel files nsrun stats reads: cgroup v1 and v2 accounting files,
// /proc/PID/net/dev and /proc/meminfo. Pure functions over file contents (unit-tested on
// recorded files); a malformed or missing value is undefined, never a guessed zero.

/** Flat "key value" files: v2 cpu.stat and memory.stat, v1 memory.stat, /proc/meminfo ("Key: N kB"). */
export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):?\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (!m) continue;
    const n = Number(m[2]);
    out.set(m[1], /kB\s*$/.test(line) ? n * 1024 : n);
  }
  return out;
}

/** A single number (cpuacct.usage, memory.usage_in_bytes, memory.current, pids.current). */
export function parseNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

/** A limit file: v2 "max" means none (undefined); v1 memory.limit_in_bytes is a number. */
export function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === 'max') return undefined;
  return parseNumber(text);
}

/** v2 cpu.stat: usage_usec, as nanoseconds. */
export function cpuNsFromCpuStat(text: string): number | undefined {
  const usec = parseKeyValues(text).get('usage_usec');
  return usec === undefined ? undefined : usec * 1000;
}

export interface BlockBytes {
  readBytes: number;
  writeBytes: number;
}

/** v2 io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N ..." per device; summed over devices. */
export function parseIoStat(text: string): BlockBytes {
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    if (!/^\d+:\d+\s/.test(line)) continue;
    for (const kv of line.split(/\s+/).slice(1)) {
      const [k, v] = kv.split('=');
      if (!/^\d+$/.test(v ?? '')) continue;
      if (k === 'rbytes') readBytes += Number(v);
      else if (k === 'wbytes') writeBytes += Number(v);
    }
  }
  return { readBytes, writeBytes };
}

/**
 * v1 blkio.*io_service_bytes*: "MAJ:MIN Read N", "MAJ:MIN Write N", ... per device and a
 * "Total N" line; Read and Write summed over devices (as docker does). undefined when the file
 * has no device lines at all (the counters this kernel keeps are in another blkio file).
 */
export function parseBlkio(text: string): BlockBytes | undefined {
  let readBytes = 0;
  let writeBytes = 0;
  let devices = 0;
  for (const line of text.split('\n')) {
    const m = /^\d+:\d+\s+(\w+)\s+(\d+)\s*$/.exec(line);
    if (!m) continue;
    devices++;
    if (m[1] === 'Read') readBytes += Number(m[2]);
    else if (m[1] === 'Write') writeBytes += Number(m[2]);
  }
  return devices ? { readBytes, writeBytes } : undefined;
}

export interface NetInterface {
  name: string;
  rxBytes: number;
  txBytes: number;
}

/** /proc/PID/net/dev: two header lines, then "  name: rx_bytes packets ... tx_bytes ..." (tx_bytes is field 9). */
export function parseNetDev(text: string): NetInterface[] {
  const out: NetInterface[] = [];
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const f = line.slice(i + 1).trim().split(/\s+/);
    if (f.length < 16 || !f.every((x) => /^\d+$/.test(x))) continue;
    out.push({ name: line.slice(0, i).trim(), rxBytes: Number(f[0]), txBytes: Number(f[8]) });
  }
  return out;
}

/** The lines of cgroup.procs, tasks or cgroup.threads. */
export function countIds(text: string): number {
  return text.split('\n').filter((l) => /^\d+$/.test(l.trim())).length;
}
