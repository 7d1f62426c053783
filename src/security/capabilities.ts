// Capabilities: names, --cap-add/--cap-drop, and the sets the child installs. Pure (planning side).
//
// The rules follow Docker's: the command gets a default list of capabilities as its bounding set
// (root inside, in a user namespace or not, ends with exactly these after exec: for uid 0 the
// kernel computes the new effective set from the bounding set), the inheritable set is empty
// (CVE-2022-24769), and a non-root --uid gets no capabilities unless some were added with
// --cap-add (those become ambient, so they survive the exec of an ordinary binary).
import { usageError } from '../errors';

/** Capability numbers are the indexes (capability.h). */
export const CAPABILITY_NAMES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap',
  'linux_immutable', 'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner',
  'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice',
  'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write', 'audit_control', 'setfcap',
  'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read', 'perfmon', 'bpf',
  'checkpoint_restore',
] as const;

export type CapName = (typeof CAPABILITY_NAMES)[number];

/** Docker's default set (moby oci/caps/defaults.go). */
export const DEFAULT_CAPS: readonly CapName[] = [
  'chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap',
  'net_bind_service', 'sys_chroot', 'kill', 'audit_write',
];

/** CAP_SYS_ADMIN, as tools print it. */
export function capLabel(c: CapName): string {
  return `CAP_${c.toUpperCase()}`;
}

/** A name from the command line: with or without CAP_, any case; ALL is allowed where `all`. */
export function parseCapName(text: string, flag: string, all = true): CapName | 'all' {
  const n = text.trim().toLowerCase().replace(/^cap_/, '');
  if (all && n === 'all') return 'all';
  if ((CAPABILITY_NAMES as readonly string[]).includes(n)) return n as CapName;
  throw usageError(flag, `unknown capability '${text}'`, 'valid names: see capabilities(7) or nsrun --help (e.g. NET_ADMIN, CAP_SYS_ADMIN, ALL)');
}

export function capsIndex(c: CapName): number {
  return CAPABILITY_NAMES.indexOf(c);
}

/** Sorted by number, without duplicates. */
export function sortCaps(caps: Iterable<CapName>): CapName[] {
  return [...new Set(caps)].sort((a, b) => capsIndex(a) - capsIndex(b));
}

/** [low 32 bits, high 32 bits] of the mask, as capset(2) and the wire plan take them. */
export function capMask(caps: readonly CapName[]): [number, number] {
  let lo = 0;
  let hi = 0;
  for (const c of caps) {
    const i = capsIndex(c);
    if (i < 32) lo = (lo | (1 << i)) >>> 0;
    else hi = (hi | (1 << (i - 32))) >>> 0;
  }
  return [lo, hi];
}

export function capsFromHex(hex: string | undefined): CapName[] {
  if (!hex) return [];
  const v = BigInt(`0x${hex}`);
  return CAPABILITY_NAMES.filter((_, i) => (v >> BigInt(i)) & 1n);
}

/** The names in a [low 32 bits, high 32 bits] mask (capget's layout). */
export function capsFromMask(lo: number, hi: number): CapName[] {
  return CAPABILITY_NAMES.filter((_, i) => (i < 32 ? (lo >>> i) & 1 : (hi >>> (i - 32)) & 1));
}

export interface CapabilityOptions {
  capAdd?: string[];
  capDrop?: string[];
}

/** The capability sets the command starts with. */
export interface CapSets {
  bounding: CapName[];
  effective: CapName[];
  permitted: CapName[];
  inheritable: CapName[];
  ambient: CapName[];
}

/** The capabilities the sandbox may hold at all: the default list, plus --cap-add, minus --cap-drop. */
export function allowedCaps(opts: CapabilityOptions): CapName[] {
  const add = (opts.capAdd ?? []).map((c) => parseCapName(c, '--cap-add'));
  const drop = (opts.capDrop ?? []).map((c) => parseCapName(c, '--cap-drop'));
  for (const c of add) {
    if (c !== 'all' && drop.includes(c)) throw usageError('--cap-add', `${capLabel(c)} is both added and dropped`);
  }
  let set: Set<CapName>;
  if (add.includes('all')) set = new Set(CAPABILITY_NAMES);
  else if (drop.includes('all')) set = new Set(add as CapName[]);
  else set = new Set([...DEFAULT_CAPS, ...(add as CapName[])]);
  for (const c of drop) if (c !== 'all') set.delete(c);
  return sortCaps(set);
}

/** Capabilities named by --cap-add (ALL: every allowed one): what a non-root user keeps. */
export function addedCaps(opts: CapabilityOptions, allowed: CapName[]): CapName[] {
  const add = (opts.capAdd ?? []).map((c) => parseCapName(c, '--cap-add'));
  if (add.includes('all')) return allowed;
  return sortCaps((add as CapName[]).filter((c) => allowed.includes(c)));
}

/** The sets for a command running as `uid` (undefined: unchanged, i.e. root in the sandbox). */
export function capSets(opts: CapabilityOptions, uid: number | undefined): CapSets {
  const allowed = allowedCaps(opts);
  if (uid === undefined || uid === 0) return { bounding: allowed, effective: allowed, permitted: allowed, inheritable: [], ambient: [] };
  const kept = addedCaps(opts, allowed);
  return { bounding: allowed, effective: kept, permitted: kept, inheritable: kept, ambient: kept };
}

/** "CAP_CHOWN, CAP_KILL" / "none" / "all 41" for messages and --explain. */
export function describeCapList(caps: readonly CapName[]): string {
  if (caps.length === 0) return 'none';
  if (caps.length === CAPABILITY_NAMES.length) return `all ${caps.length}`;
  return caps.map(capLabel).join(', ');
}
