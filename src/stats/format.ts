// How nsrun stats prints: docker's units (memory in binary units, 1.5MiB / 2GiB; network and
// block I/O in decimal units with three significant digits, 1.2kB / 3MB), docker's columns, and
// one JSON object per target for scripts (raw numbers: bytes and ratios).
import type { Metric, SandboxStats } from './compute';

/** Go's %.<p>g: p significant digits, trailing zeros dropped (no exponent below 1e21). */
function significant(x: number, p: number): string {
  return String(Number(x.toPrecision(p)));
}

function scaled(n: number, base: number, units: string[], digits: number): string {
  let v = n;
  let i = 0;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  // 1023.99 KiB rounds to 1024: say 1MiB, not docker's "1024KiB" or "1e+03kB"
  if (Number(v.toPrecision(digits)) >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return `${significant(v, digits)}${units[i]}`;
}

/** Memory: docker's units.BytesSize ("%.4g" over 1024: 100B, 1.5MiB, 2GiB). */
export function binarySize(bytes: number): string {
  return scaled(bytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'], 4);
}

/** Network and block I/O: docker's units.HumanSizeWithPrecision(n, 3) ("%.3g" over 1000: 0B, 1.2kB, 3MB). */
export function decimalSize(bytes: number): string {
  return scaled(bytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'], 3);
}

export function percent(ratio: number | null): string {
  return ratio === null ? '--' : `${(ratio * 100).toFixed(2)}%`;
}

export const HEADER = ['NAME', 'PID', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];

/** The legend for a cell marked with *. */
export const HOST_WIDE_NOTE = '* read from a root cgroup: the whole host\'s, not the target\'s own (it has no cgroup of its own for that controller)';

export function row(s: SandboxStats): string[] {
  const mark = (m: Metric, text: string) => (text !== '--' && s.cgroup.hostWide.includes(m) ? `${text}*` : text);
  const mem = s.memory.usage === null ? '--' : `${binarySize(s.memory.usage)} / ${binarySize(s.memory.limit)}`;
  const net = !s.network ? '--' : s.network.namespace === 'host' ? 'host' : `${decimalSize(s.network.rxBytes)} / ${decimalSize(s.network.txBytes)}`;
  const blk = s.blockIo ? `${decimalSize(s.blockIo.readBytes)} / ${decimalSize(s.blockIo.writeBytes)}` : '--';
  return [
    s.name ?? '-',
    String(s.pid),
    mark('cpu', percent(s.cpu.ratio)),
    mark('memory', mem),
    mark('memory', percent(s.memory.ratio)),
    net,
    mark('blockIo', blk),
    mark('pids', s.pids === null ? '--' : String(s.pids)),
  ];
}

/** The table as lines, columns padded to their widest cell and three spaces apart (as docker); the legend when a cell is marked. */
export function formatTable(stats: SandboxStats[]): string[] {
  const rows = [HEADER, ...stats.map(row)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('   '));
  return rows.slice(1).some((r) => r.some((c) => c.endsWith('*'))) ? [...lines, HOST_WIDE_NOTE] : lines;
}

/** One JSON line per target per reading; a target that ended gets a last line with exited: true. */
export function jsonLine(s: SandboxStats): string {
  return JSON.stringify({ ...s, exited: false });
}

export function exitedLine(t: { name?: string; pid: number }, time: Date): string {
  return JSON.stringify({ ...(t.name !== undefined ? { name: t.name } : {}), pid: t.pid, time: time.toISOString(), exited: true });
}
