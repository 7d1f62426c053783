// nsrun inspect: what a process shares with the caller and what it has of its own, read from
// /proc on the host side (and, for the hostname, by entering its UTS namespace).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { NAMESPACE_TYPES, type NamespaceType } from '../linux';
import { native } from '../native/binding';
import { list, lookup } from './registry';
import { readNamespaces, resolveTarget, statusField } from './target';
import { CAPABILITY_NAMES, capLabel, capsFromHex, type CapName } from '../security/capabilities';

export { CAPABILITY_NAMES };

export interface MapLine {
  inside: number;
  outside: number;
  count: number;
}

export interface Inspection {
  pid: number;
  name?: string;
  command: string[];
  uid: number;
  namespaces: { type: NamespaceType; target: string; caller: string; isolated: boolean }[];
  uidMap: MapLine[];
  gidMap: MapLine[];
  setgroups?: string;
  hostname: string | null;
  /** The PID at each level, outermost (the host's) first. */
  nspid: number[];
  mounts: { count: number; root?: { source: string; fstype: string } };
  network: { name: string; rxBytes: number; txBytes: number }[];
  cgroups: { hierarchy: string; controllers: string; path: string }[];
  limits: Record<string, string>;
  capabilities: { effective: string[]; permitted: string[]; bounding: string[] };
  noNewPrivs: boolean;
  seccomp: 'disabled' | 'strict' | 'filter' | 'unknown';
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function decodeCaps(hex: string | undefined): string[] {
  return capsFromHex(hex);
}

function parseMap(text: string | undefined): MapLine[] {
  if (!text) return [];
  return text.trim().split('\n').filter(Boolean).map((l) => {
    const [inside, outside, count] = l.trim().split(/\s+/).map(Number);
    return { inside, outside, count };
  });
}

function cgroupLimits(pid: number, cgroups: Inspection['cgroups']): Record<string, string> {
  const limits: Record<string, string> = {};
  const v2 = cgroups.find((c) => c.hierarchy === '0');
  const base2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
  if (v2) for (const f of ['memory.max', 'pids.max', 'cpu.max']) {
    const v = read(`${base2}${v2.path}/${f}`);
    if (v !== undefined) limits[f] = v.trim();
  }
  for (const c of cgroups) {
    if (c.controllers.split(',').includes('memory')) {
      const v = read(`/sys/fs/cgroup/memory${c.path}/memory.limit_in_bytes`);
      if (v !== undefined) limits['memory.limit_in_bytes'] = v.trim();
    }
    if (c.controllers.split(',').includes('pids')) {
      const v = read(`/sys/fs/cgroup/pids${c.path}/pids.max`);
      if (v !== undefined) limits['pids.max'] = v.trim();
    }
  }
  void pid;
  return limits;
}

/** Everything about one process's isolation. hostname comes from `readHostname` when given. */
export async function inspectTarget(spec: string, readHostname?: (pid: number) => Promise<string | null>): Promise<Inspection> {
  const t = resolveTarget(spec);
  try {
    const pid = t.pid;
    const mine = readNamespaces('self');
    const namespaces = NAMESPACE_TYPES.filter((ty) => t.namespaces[ty] !== undefined).map((ty) => ({
      type: ty,
      target: t.namespaces[ty]!,
      caller: mine[ty] ?? '',
      isolated: t.namespaces[ty] !== mine[ty],
    }));
    const mountinfo = (read(`/proc/${pid}/mountinfo`) ?? '').trim().split('\n').filter(Boolean);
    const rootLine = mountinfo.map((l) => l.split(' - ')).find(([left]) => left.split(' ')[4] === '/');
    const network = (read(`/proc/${pid}/net/dev`) ?? '').split('\n').slice(2).filter(Boolean).map((l) => {
      const [name, rest] = l.split(':');
      const f = rest.trim().split(/\s+/).map(Number);
      return { name: name.trim(), rxBytes: f[0], txBytes: f[8] };
    });
    const cgroups = (read(`/proc/${pid}/cgroup`) ?? '').trim().split('\n').filter(Boolean).map((l) => {
      const a = l.indexOf(':');
      const b = l.indexOf(':', a + 1);
      return { hierarchy: l.slice(0, a), controllers: l.slice(a + 1, b), path: l.slice(b + 1) };
    });
    const seccompMode = statusField(pid, 'Seccomp');
    const utsIsolated = namespaces.find((n) => n.type === 'uts')?.isolated;
    const entry = t.name ? lookup(t.name) : list().find((e) => e.pid === pid);
    const result: Inspection = {
      pid,
      name: entry?.name,
      // for an nsrun sandbox, the command rather than nsrun-init's own command line
      command: entry?.command ?? (read(`/proc/${pid}/cmdline`) ?? '').replace(/\0$/, '').split('\0'),
      uid: t.uid,
      namespaces,
      uidMap: parseMap(read(`/proc/${pid}/uid_map`)),
      gidMap: parseMap(read(`/proc/${pid}/gid_map`)),
      setgroups: read(`/proc/${pid}/setgroups`)?.trim(),
      hostname: !utsIsolated ? os.hostname() : readHostname ? await readHostname(pid) : null,
      nspid: (statusField(pid, 'NSpid') ?? String(pid)).split(/\s+/).map(Number),
      mounts: { count: mountinfo.length, root: rootLine ? { source: rootLine[1].split(' ')[1], fstype: rootLine[1].split(' ')[0] } : undefined },
      network,
      cgroups,
      limits: cgroupLimits(pid, cgroups),
      capabilities: {
        effective: decodeCaps(statusField(pid, 'CapEff')),
        permitted: decodeCaps(statusField(pid, 'CapPrm')),
        bounding: decodeCaps(statusField(pid, 'CapBnd')),
      },
      noNewPrivs: statusField(pid, 'NoNewPrivs') === '1',
      seccomp: seccompMode === '0' ? 'disabled' : seccompMode === '1' ? 'strict' : seccompMode === '2' ? 'filter' : 'unknown',
    };
    return result;
  } finally {
    native().close(t.pidfd);
  }
}

function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function describeMap(kind: 'uid' | 'gid', lines: MapLine[]): string[] {
  if (lines.length === 0) return [`${kind} map: empty: no ${kind} is mapped (everything shows as 65534 inside)`];
  const identity = lines.length === 1 && lines[0].inside === 0 && lines[0].outside === 0 && lines[0].count === 4294967295;
  if (identity) return [`${kind} map: 0 0 4294967295, the host's own (every ${kind} is itself)`];
  const out = [`${kind} map:`];
  for (const l of lines) {
    const range = l.count === 1 ? `inside ${kind} ${l.inside} = outside ${kind} ${l.outside}` : `inside ${l.inside}-${l.inside + l.count - 1} = outside ${l.outside}-${l.outside + l.count - 1}`;
    out.push(`  ${String(l.inside).padStart(10)} ${String(l.outside).padStart(10)} ${String(l.count).padStart(10)}   ${range}`);
  }
  const l = lines[0];
  out.push(`  e.g. a file created inside by ${kind} ${l.inside} is owned by ${kind} ${l.outside} on the host`);
  return out;
}

function describeCaps(caps: string[]): string {
  if (caps.length === 0) return 'none';
  if (caps.length >= CAPABILITY_NAMES.length) return `all ${caps.length}`;
  if (caps.length > CAPABILITY_NAMES.length / 2) return `all but ${CAPABILITY_NAMES.filter((c) => !caps.includes(c)).map(capLabel).join(', ')}`;
  return (caps as CapName[]).map(capLabel).join(', ');
}

/** The teaching view. */
export function formatInspection(r: Inspection): string[] {
  const lines: string[] = [];
  lines.push(`${r.name ? `sandbox ${r.name}, ` : ''}pid ${r.pid} (uid ${r.uid}): ${r.command.join(' ')}`);
  lines.push('');
  lines.push(`${'namespace'.padEnd(10)} ${'target'.padEnd(22)} ${'yours'.padEnd(22)} `);
  for (const n of r.namespaces) {
    lines.push(`${n.type.padEnd(10)} ${n.target.padEnd(22)} ${n.caller.padEnd(22)} ${n.isolated ? 'isolated' : 'shared'}`);
  }
  lines.push('');
  lines.push(...describeMap('uid', r.uidMap));
  lines.push(...describeMap('gid', r.gidMap));
  if (r.setgroups) lines.push(`setgroups: ${r.setgroups}`);
  lines.push('');
  lines.push(`hostname: ${r.hostname ?? '(unknown: cannot enter its UTS namespace)'}`);
  lines.push(`pid: ${r.nspid.map((p, i) => (i === 0 ? `${p} on the host` : `${p} in level ${i}`)).join(', ')}`);
  lines.push(`mounts: ${r.mounts.count}${r.mounts.root ? `, / is ${r.mounts.root.fstype} from ${r.mounts.root.source}` : ''}`);
  lines.push(`network: ${r.network.map((n) => `${n.name} (rx ${fmtBytes(n.rxBytes)}, tx ${fmtBytes(n.txBytes)})`).join(', ') || 'none'}`);
  lines.push('cgroups:');
  for (const c of r.cgroups) lines.push(`  ${c.controllers || '(v2)'}: ${c.path}`);
  const lim = Object.entries(r.limits);
  if (lim.length) lines.push(`limits: ${lim.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  const { effective, bounding } = r.capabilities;
  if (effective.length > 0 && effective.join() === bounding.join()) lines.push(`capabilities: ${describeCaps(effective)} (effective = bounding set)`);
  else lines.push(`capabilities: effective ${describeCaps(effective)}; bounding ${describeCaps(bounding)}`);
  lines.push(`no_new_privs: ${r.noNewPrivs ? 1 : 0}, seccomp: ${r.seccomp}`);
  return lines;
}
