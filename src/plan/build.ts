// Options + host facts -> Plan. Pure: everything it needs to know about the host comes in `facts`.
import { cgroupName } from '../cgroup/sandbox-cgroup';
import { resolveLimits } from '../cgroup/limits';
import { usageError } from '../errors';
import { NAMESPACE_TYPES, type NamespaceType } from '../linux';
import type { IdRange, SandboxOptions } from '../options';
import type { HostFacts, SubIdRange } from '../parent/host';
import type { RootfsProbe } from '../parent/rootfs';
import { resolveRlimits } from './rlimit';
import { rootfsSteps } from './rootfs';
import { insertSecuritySteps, planSecurity } from './security';
import type { IdMaps, Plan, Step } from './types';
import { checkRanges, covered, validateOptions } from './validate';

function insideSubIds(r: IdRange, sub: SubIdRange[]): boolean {
  return sub.some((s) => r.outer >= s.start && r.outer + r.count <= s.start + s.count);
}

function planIdMaps(opts: SandboxOptions, facts: HostFacts, rootless: boolean): IdMaps {
  const uid: IdRange[] = [];
  const gid: IdRange[] = [];
  const anyMapFlag =
    opts.mapRootUser || opts.mapUser !== undefined || opts.mapGroup !== undefined || !!opts.mapUsers?.length || !!opts.mapGroups?.length;
  if (opts.mapRootUser || !anyMapFlag) {
    uid.push({ outer: facts.euid, inner: 0, count: 1 });
    gid.push({ outer: facts.egid, inner: 0, count: 1 });
  }
  if (opts.mapUser !== undefined) uid.push({ outer: facts.euid, inner: opts.mapUser, count: 1 });
  if (opts.mapGroup !== undefined) gid.push({ outer: facts.egid, inner: opts.mapGroup, count: 1 });
  uid.push(...(opts.mapUsers ?? []));
  gid.push(...(opts.mapGroups ?? []));
  checkRanges(uid, 'uid map');
  checkRanges(gid, 'gid map');

  if (!rootless) return { uid, gid, setgroups: 'allow', uidVia: 'write', gidVia: 'write' };

  // Unprivileged: the kernel accepts one line mapping the caller's own id; anything else goes
  // through the setuid helpers, which check /etc/subuid and /etc/subgid.
  const onlySelf = (m: IdRange[], self: number) => m.every((r) => r.count === 1 && r.outer === self) && m.length <= 1;
  const uidVia = onlySelf(uid, facts.euid) ? 'write' : 'newuidmap';
  const gidVia = onlySelf(gid, facts.egid) ? 'write' : 'newgidmap';
  for (const [via, ranges, self, kind] of [
    [uidVia, uid, facts.euid, 'uid'],
    [gidVia, gid, facts.egid, 'gid'],
  ] as const) {
    if (via === 'write') continue;
    // read only here: the host facts look these up on first read
    const [sub, file, flag, helper] =
      kind === 'uid' ? [facts.subuid, '/etc/subuid', '--map-users', facts.newuidmap] : [facts.subgid, '/etc/subgid', '--map-groups', facts.newgidmap];
    const tool = flag === '--map-users' ? 'newuidmap' : 'newgidmap';
    if (!helper)
      throw usageError(flag, `mapping id ranges without root needs ${tool}, which is not installed`, 'install it: apt-get install uidmap');
    for (const r of ranges) {
      if (r.count === 1 && r.outer === self) continue;
      if (!insideSubIds(r, sub))
        throw usageError(
          flag,
          `outside ids ${r.outer}-${r.outer + r.count - 1} are not yours: mapping them requires an ${file} entry for ${facts.userName ?? self} covering them (or root)`,
          sub.length
            ? `your ${file} ranges: ${sub.map((s) => `${s.start}-${s.start + s.count - 1}`).join(', ')}`
            : `add one, e.g. as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${facts.userName ?? self}`,
        );
    }
  }
  return { uid, gid, setgroups: gidVia === 'newgidmap' ? 'allow' : 'deny', uidVia, gidVia };
}

/** The id the caller's outer id has inside (65534, the overflow id, when it is not mapped). */
export function innerId(ranges: IdRange[], outer: number): number {
  const r = ranges.find((x) => outer >= x.outer && outer < x.outer + x.count);
  return r ? r.inner + (outer - r.outer) : 65534;
}

export function resolveStdio(opts: SandboxOptions, facts: HostFacts): Plan['stdio'] {
  const s = opts.stdio ?? 'pipe';
  if (s === 'auto') return facts.stdinTty && facts.stdoutTty ? 'pty' : 'inherit';
  return s;
}

/** In 'inherit' mode, the fds among 0-2 that are terminals: never handed to the sandbox. */
export function relayedTerminals(stdio: Plan['stdio'], facts: HostFacts): [boolean, boolean, boolean] {
  if (stdio !== 'inherit') return [false, false, false];
  return [facts.stdinTty, facts.stdoutTty, facts.stderrTty];
}

/** The inside id an outer id maps to, if any. */
function insideId(ranges: IdRange[], outer: number): number | undefined {
  const r = ranges.find((m) => outer >= m.outer && outer < m.outer + m.count);
  return r ? r.inner + (outer - r.outer) : undefined;
}

/**
 * The identity the command takes in a new user namespace. A creator whose own uid (or gid) is not
 * in the map would run as the overflow id inside while the kernel still checks file access with
 * its host ids: root with --map-users 100000:0:65536 could write root's files on the host. So such
 * a creator becomes a mapped id: 0 when it is mapped (the lowest mapped id otherwise), and drops
 * its supplementary groups where setgroups is allowed (they are host groups, root's included).
 */
function defaultIdentity(opts: SandboxOptions, maps: IdMaps, facts: HostFacts): { uid?: number; gid?: number; groups?: number[]; why?: string } {
  const pick = (ranges: IdRange[]) => (covered(ranges, 0) ? 0 : Math.min(...ranges.map((r) => r.inner)));
  const uid = opts.uid ?? (insideId(maps.uid, facts.euid) === undefined ? pick(maps.uid) : undefined);
  if (opts.uid === undefined && uid !== undefined && maps.gid.length === 0)
    throw usageError(
      '--map-users',
      `your uid ${facts.euid} is not in the uid map, and without a gid map your host groups (gid ${facts.egid}) would stay yours inside`,
      'map groups too, e.g. --map-groups with the same ranges',
    );
  // (no gid map at all: no gid can be set; the check above keeps that to callers whose uid is mapped)
  const gid = opts.gid ?? (maps.gid.length && insideId(maps.gid, facts.egid) === undefined ? pick(maps.gid) : undefined);
  const unmapped = (opts.uid === undefined && uid !== undefined) || (opts.gid === undefined && gid !== undefined);
  const groups = opts.groups ?? (unmapped && maps.setgroups === 'allow' ? [] : undefined);
  const why = unmapped ? 'your own ids are not in the maps: inside they would read as nobody while still owning your files on the host' : undefined;
  return { uid, gid, groups, why };
}

export function buildPlan(opts: SandboxOptions, facts: HostFacts, probe?: RootfsProbe): Plan {
  validateOptions(opts, facts);
  if (opts.rootfs !== undefined && !probe) throw new Error('buildPlan: a rootfs needs its probe (probeRootfs)');
  const rootless = facts.euid !== 0;
  const requested = new Set<NamespaceType>(opts.all ? facts.supported : opts.namespaces ?? []);
  const implied: Plan['implied'] = {};
  const anyMapFlag =
    opts.mapRootUser || opts.mapUser !== undefined || opts.mapGroup !== undefined || !!opts.mapUsers?.length || !!opts.mapGroups?.length;
  if (!requested.has('user') && anyMapFlag) {
    requested.add('user');
    implied.user = 'id maps were requested';
  }
  if (!requested.has('user') && rootless && requested.size > 0) {
    requested.add('user');
    implied.user = `you are not root (uid ${facts.euid}): an unprivileged process can only create namespaces inside a user namespace it owns`;
  }
  if (opts.rootfs !== undefined && !requested.has('mnt')) {
    requested.add('mnt');
    implied.mnt = 'a root filesystem of its own needs its own mount table';
  }
  if (requested.has('pid') && !requested.has('mnt')) {
    requested.add('mnt');
    implied.mnt = 'the PID namespace needs its own /proc so that ps shows only the sandbox';
  }
  const namespaces = NAMESPACE_TYPES.filter((t) => requested.has(t));
  const has = (t: NamespaceType) => requested.has(t);

  const idMaps = has('user') ? planIdMaps(opts, facts, rootless) : undefined;
  if (idMaps) {
    if (opts.uid !== undefined && !covered(idMaps.uid, opts.uid))
      throw usageError('--uid', `uid ${opts.uid} is not mapped in the sandbox`, 'map it with --map-user or --map-users');
    if (opts.gid !== undefined && !covered(idMaps.gid, opts.gid))
      throw usageError('--gid', `gid ${opts.gid} is not mapped in the sandbox`, 'map it with --map-group or --map-groups');
    for (const g of opts.groups ?? []) {
      if (!covered(idMaps.gid, g))
        throw usageError('--groups', `gid ${g} is not mapped in the sandbox`, 'map it with --map-groups');
    }
    if (opts.groups !== undefined && idMaps.setgroups === 'deny')
      throw usageError(
        '--groups',
        'supplementary groups cannot be set: an unprivileged gid map must deny setgroups',
        'map groups with --map-groups (newgidmap and /etc/subgid allow setgroups)',
      );
  }

  const stdio = resolveStdio(opts, facts);
  const relay = relayedTerminals(stdio, facts);
  const init = !opts.asPid1;
  const steps: Step[] = [];
  const limits = opts.limits || opts.cgroupParent !== undefined ? resolveLimits(opts.limits ?? {}, (require('node:os') as typeof import('node:os')).availableParallelism()) : undefined;
  // --step needs the child waiting from the start, maps or not; so does joining a cgroup
  if (idMaps || opts.step || limits) steps.push({ kind: 'await-id-maps' });
  if (has('time')) steps.push({ kind: 'unshare-time' });
  // The child makes the network namespace itself: setting one up is the slowest part of creating
  // the namespaces (~0.3 ms and more), and in clone() it ran in the caller's thread, blocking
  // Node's event loop; here it runs in the child, on another CPU.
  if (has('net')) steps.push({ kind: 'unshare-net' });
  // with a cgroup of its own, the cgroup namespace is made once the child is in it (its root)
  if (has('cgroup') && limits) steps.push({ kind: 'unshare-cgroup' });
  if (has('mnt')) steps.push({ kind: 'make-private' });
  const rootfs = probe ? rootfsSteps(opts, { probe, pidns: has('pid'), netns: has('net'), userns: has('user') }) : undefined;
  if (rootfs) steps.push(...rootfs.before, ...rootfs.after);
  else if (has('pid')) steps.push({ kind: 'mount-proc' });
  if (opts.hostname !== undefined) steps.push({ kind: 'sethostname', hostname: opts.hostname });
  if (has('net')) steps.push({ kind: 'loopback-up' });
  if (stdio === 'pty') {
    if (has('mnt') && !rootfs) steps.push({ kind: 'mount-devpts' });
    steps.push({ kind: 'pty', ptmx: has('mnt') ? '/dev/pts/ptmx' : '/dev/ptmx' });
  } else {
    steps.push({ kind: 'setsid' });
    steps.push({ kind: 'stdio', mode: stdio, relay });
  }
  // Everything but 0-2 closes at exec; then the one fd nsrun-init reports on is kept open.
  steps.push({ kind: 'close-fds', from: 3 });
  if (opts.preserveFds) steps.push({ kind: 'preserve-fds', count: opts.preserveFds });
  if (init) steps.push({ kind: 'control-fd' });
  const identity = idMaps ? defaultIdentity(opts, idMaps, facts) : { uid: opts.uid, gid: opts.gid, groups: opts.groups };
  if (identity.uid !== undefined || identity.gid !== undefined || identity.groups !== undefined)
    steps.push({ kind: 'identity', ...identity });
  if (opts.cwd !== undefined) steps.push({ kind: 'chdir', dir: opts.cwd });
  // inside a new root the cwd must be inside it (CVE-2024-21626: a cwd reached through a leaked fd)
  if (rootfs) steps.push({ kind: 'check-cwd' });
  for (const r of resolveRlimits(opts.rlimits)) steps.push({ kind: 'rlimit', resource: r.name, soft: r.soft, hard: r.hard });
  steps.push({ kind: 'die-with-parent' });
  steps.push({ kind: 'exec', viaInit: init });
  const security = planSecurity(opts, {
    privileged: has('user') || (facts.capEff ?? (rootless ? [] : ['setpcap'])).includes('setpcap'),
    uid: opts.uid ?? (idMaps ? innerId(idMaps.uid, facts.euid) : facts.euid),
    callerCaps: facts.capEff ?? [],
  });

  const base = opts.clearEnv ? {} : opts.baseEnv ?? process.env;
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) merged[k] = v;
  Object.assign(merged, opts.env ?? {});
  const env = Object.entries(merged).map(([k, v]) => `${k}=${v}`);

  return {
    mode: 'create',
    step: !!opts.step,
    command: opts.command,
    namespaces,
    implied,
    idMaps,
    rootfs: probe ? { root: probe.root, overlay: !!opts.overlay, readOnly: !!opts.readOnly } : undefined,
    steps: insertSecuritySteps(steps, security),
    security: security.summary,
    init,
    stdio,
    relay,
    env,
    cgroup: limits ? { limits, parent: opts.cgroupParent, name: cgroupName(opts.name) } : undefined,
    caller: { uid: facts.euid, gid: facts.egid, rootless },
  };
}
