// Checks options before anything is created: every bad input becomes one precise usage error.
import { usageError } from '../errors';
import { NAMESPACE_TYPES, type NamespaceType } from '../linux';
import type { IdRange, SandboxOptions } from '../options';
import type { HostFacts } from '../parent/host';
import { checkPreserveCount } from '../parent/fds';
import { checkName } from '../parent/registry';
import { resolveRlimits } from './rlimit';
import { SECURITY_KEYS, validateSecurity } from './security';

export const MAX_ID = 0xfffffffe; // 4294967295 is (uid_t)-1, never a valid id
export const MAX_MAP_LINES = 340; // kernel limit since 4.15
export const HOST_NAME_MAX = 64;

const OPTION_KEYS = new Set<string>([
  'command', 'namespaces', 'all', 'hostname', 'mapRootUser', 'mapUser', 'mapGroup', 'mapUsers',
  'mapGroups', 'uid', 'gid', 'groups', 'cwd', 'env', 'clearEnv', 'asPid1', 'stdio', 'baseEnv', 'name',
  'rootfs', 'mounts', 'readOnly', 'overlay', 'step', 'limits', 'cgroupParent', 'preserveFds', 'rlimits', ...SECURITY_KEYS,
]);

function checkString(value: string, what: string): void {
  if (value.includes('\0')) throw usageError(what, 'contains a NUL byte');
}

export function checkId(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_ID)
    throw usageError(what, `${String(value)} is not a valid id (0-${MAX_ID})`);
  return value;
}

/** Ranges must be well formed and must not overlap on either side. */
export function checkRanges(ranges: IdRange[], what: string): void {
  if (ranges.length > MAX_MAP_LINES)
    throw usageError(what, `${ranges.length} ranges exceed the kernel's limit of ${MAX_MAP_LINES}`);
  ranges.forEach((r, i) => {
    checkId(r.outer, what);
    checkId(r.inner, what);
    if (!Number.isInteger(r.count) || r.count < 1)
      throw usageError(what, `range ${i + 1}: count must be at least 1`);
    if (r.outer + r.count - 1 > MAX_ID || r.inner + r.count - 1 > MAX_ID)
      throw usageError(what, `range ${i + 1} (${r.outer}:${r.inner}:${r.count}) runs past the largest id ${MAX_ID}`);
  });
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const a = ranges[i];
      const b = ranges[j];
      for (const side of ['inner', 'outer'] as const) {
        if (a[side] < b[side] + b.count && b[side] < a[side] + a.count)
          throw usageError(what, `ranges ${i + 1} and ${j + 1} overlap (${side} ids ${Math.max(a[side], b[side])}...)`);
      }
    }
  }
}

export function covered(ranges: IdRange[], id: number): boolean {
  return ranges.some((r) => id >= r.inner && id < r.inner + r.count);
}

export function checkHostname(name: string): void {
  checkString(name, '--hostname');
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) throw usageError('--hostname', 'the hostname is empty');
  if (bytes > HOST_NAME_MAX)
    throw usageError('--hostname', `${bytes} bytes is longer than the kernel's limit of ${HOST_NAME_MAX}`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) throw usageError('--hostname', 'contains control characters');
}

export function validateOptions(opts: SandboxOptions, facts: HostFacts): void {
  for (const key of Object.keys(opts)) {
    if (!OPTION_KEYS.has(key)) throw usageError(key, 'unknown option');
  }
  if (!Array.isArray(opts.command) || opts.command.length === 0)
    throw usageError(undefined, 'no command specified', 'usage: nsrun [options] -- COMMAND [ARG...]');
  if (opts.command[0] === '') throw usageError('command', 'the command name is empty');
  opts.command.forEach((a, i) => checkString(a, i === 0 ? 'command' : `argument ${i}`));

  for (const ns of opts.namespaces ?? []) {
    if (!(NAMESPACE_TYPES as readonly string[]).includes(ns)) throw usageError('namespaces', `unknown namespace type '${ns}'`);
    if (!facts.supported.includes(ns as NamespaceType))
      throw usageError(`--${ns}`, `this kernel has no ${ns} namespaces (/proc/self/ns/${ns} is missing)`);
  }
  const wants = (t: NamespaceType) => opts.all || (opts.namespaces ?? []).includes(t);

  if (opts.hostname !== undefined) {
    if (!wants('uts'))
      throw usageError('--hostname', 'needs a UTS namespace, or it would rename the host', 'add --uts (-u)');
    checkHostname(opts.hostname);
  }

  for (const [k, v] of [['--map-user', opts.mapUser], ['--map-group', opts.mapGroup], ['--uid', opts.uid], ['--gid', opts.gid]] as const) {
    if (v !== undefined) checkId(v, k);
  }
  (opts.groups ?? []).forEach((g) => checkId(g, '--groups'));
  if (opts.mapRootUser && (opts.mapUser !== undefined || opts.mapGroup !== undefined))
    throw usageError('--map-root-user', 'cannot be combined with --map-user or --map-group (it means --map-user=0 --map-group=0)');
  if (opts.mapUsers) checkRanges(opts.mapUsers, '--map-users');
  if (opts.mapGroups) checkRanges(opts.mapGroups, '--map-groups');

  if (opts.cwd !== undefined) {
    checkString(opts.cwd, '--chdir');
    if (!opts.cwd.startsWith('/')) throw usageError('--chdir', `'${opts.cwd}' is not an absolute path`);
    if (/^\/proc\/[^/]+\/fd(\/|$)/.test(opts.cwd))
      throw usageError('--chdir', `'${opts.cwd}' is under /proc/*/fd, which can reach outside the sandbox`);
  }
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (k === '' || k.includes('=')) throw usageError('--env', `'${k}' is not a valid variable name`);
    checkString(k, '--env');
    checkString(v, `--env ${k}`);
  }
  if (opts.name !== undefined) checkName(opts.name);
  if (opts.preserveFds !== undefined) checkPreserveCount(opts.preserveFds);
  resolveRlimits(opts.rlimits);
  validateMounts(opts);
  validateSecurity(opts);
  if (opts.stdio !== undefined && !['inherit', 'pipe', 'pty', 'auto'].includes(opts.stdio))
    throw usageError('stdio', `'${opts.stdio}' is not one of inherit, pipe, pty, auto`);
}

/** A mount target inside the rootfs: absolute, no `..`, not the root itself. */
export function checkTarget(target: string, flag: string): void {
  checkString(target, flag);
  if (!target.startsWith('/')) throw usageError(flag, `target '${target}' is not an absolute path`);
  if (target.split('/').includes('..')) throw usageError(flag, `target '${target}' contains '..': mount targets must stay inside the rootfs`);
  if (target.replace(/\/+$/, '') === '') throw usageError(flag, 'the target cannot be / itself (use --rootfs)');
}

export const TMPFS_SIZE = /^(\d+[kmg]?|\d{1,3}%)$/i;

function validateMounts(opts: SandboxOptions): void {
  const flagOf = (m: NonNullable<SandboxOptions['mounts']>[number]) => (m.type === 'tmpfs' ? '--tmpfs' : m.readOnly ? '--ro-bind' : '--bind');
  if (opts.rootfs === undefined) {
    const first = opts.mounts?.[0];
    if (first) throw usageError(flagOf(first), 'needs --rootfs', 'mounts go into the sandbox\'s own root filesystem: add --rootfs DIR');
    if (opts.readOnly) throw usageError('--read-only', 'needs --rootfs');
    if (opts.overlay) throw usageError('--overlay', 'needs --rootfs');
    return;
  }
  if (opts.overlay && opts.readOnly) throw usageError('--overlay', 'cannot be combined with --read-only (the overlay exists to make the root writable)');
  for (const m of opts.mounts ?? []) {
    checkTarget(m.target, flagOf(m));
    if (m.type === 'bind') checkString(m.source, flagOf(m));
    if (m.type === 'tmpfs' && m.size !== undefined && !TMPFS_SIZE.test(m.size))
      throw usageError('--tmpfs', `size '${m.size}' is not a number of bytes with an optional k, m or g, or a percentage of memory`);
  }
}
