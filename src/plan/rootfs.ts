// The steps of a --rootfs sandbox. Order matters, and is the point of this file:
//
//   before pivot_root (host paths visible): make / private, bind the rootfs onto itself (or build
//   the overlay), and capture every host source as a detached mount (open_tree): the device nodes,
//   /proc when there is no PID namespace, the --bind sources;
//   pivot_root, then detach the old root: from here on no path can reach the host at all, so a
//   symlink or `..` in a mount target resolves inside the new root (what RESOLVE_IN_ROOT gives);
//   (fresh /proc and /sys are mounted just before it, see below);
//   after: create mount points, attach the captured trees, mount /dev, mask /proc as runc does,
//   /tmp, the user's mounts, then make / read-only if asked, chdir and check the cwd.
import { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC } from '../linux';
import type { MountSpec, SandboxOptions } from '../options';
import type { RootfsProbe } from '../parent/rootfs';
import type { Step } from './types';

export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
/** runc's default masked paths: files get /dev/null over them, directories an empty read-only tmpfs. */
export const MASKED_FILES = ['/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug'];
export const MASKED_DIRS = ['/proc/acpi', '/proc/asound', '/proc/scsi'];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
/** Substituted with the fd of the rootfs directory at compile time (overlay lowerdir). */
export const ROOTFS_FD_TOKEN = '{rootfs-fd}';

const NOSUID_NODEV_NOEXEC = MS_NOSUID | MS_NODEV | MS_NOEXEC;

export interface RootfsContext {
  probe: RootfsProbe;
  pidns: boolean;
  netns: boolean;
  userns: boolean;
}

export function rootfsSteps(opts: SandboxOptions, ctx: RootfsContext): { before: Step[]; after: Step[] } {
  const { probe } = ctx;
  const before: Step[] = [];
  const after: Step[] = [];
  let slot = 0;
  const capture = (source: string, recursive: boolean) => {
    const s = slot++;
    before.push({ kind: 'capture', source, slot: s, recursive });
    return s;
  };
  const dir = (path: string, mode = 0o755) => after.push({ kind: 'mount-point', path, type: 'dir', mode });

  let newRoot = probe.root;
  if (opts.overlay) {
    // A tmpfs over the rootfs path holds the upper and work dirs and the merged view; the rootfs
    // itself is reached through an fd opened before it was covered.
    const r = probe.root;
    before.push({ kind: 'reopen-rootfs', root: r });
    before.push({ kind: 'mount', name: 'overlay', source: 'tmpfs', target: r, fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV, data: 'mode=0755' });
    for (const d of ['upper', 'work', 'merged']) before.push({ kind: 'mount-point', path: `${r}/${d}`, type: 'dir', mode: 0o755 });
    const data = `lowerdir=/proc/self/fd/${ROOTFS_FD_TOKEN},upperdir=${r}/upper,workdir=${r}/work${ctx.userns ? ',userxattr' : ''}`;
    before.push({ kind: 'mount', name: 'overlay', source: 'overlay', target: `${r}/merged`, fstype: 'overlay', flags: 0, data });
    newRoot = `${r}/merged`;
  } else {
    before.push({ kind: 'bind-rootfs', root: probe.root });
  }
  // Fresh proc and sysfs are mounted before pivot_root: in a user namespace the kernel allows them
  // only while a fully visible instance is in the mount namespace (the host's, until the old root
  // goes). The target is opened without following a symlink and mounted on through its fd.
  if (ctx.pidns) {
    before.push({ kind: 'mount-point', path: `${newRoot}/proc`, type: 'dir', mode: 0o755 });
    before.push({ kind: 'mount', name: 'mount-proc', source: 'proc', target: `${newRoot}/proc`, fstype: 'proc', flags: NOSUID_NODEV_NOEXEC, noFollow: true });
  }
  if (ctx.netns) {
    before.push({ kind: 'mount-point', path: `${newRoot}/sys`, type: 'dir', mode: 0o755 });
    before.push({ kind: 'mount', name: 'mount-sys', source: 'sysfs', target: `${newRoot}/sys`, fstype: 'sysfs', flags: NOSUID_NODEV_NOEXEC | MS_RDONLY, noFollow: true });
  }
  const devSlots = DEVICES.map((d) => [d, capture(`/dev/${d}`, false)] as const);
  const procSlot = ctx.pidns ? undefined : capture('/proc', true);
  const userSlots = (opts.mounts ?? []).map((m) => (m.type === 'bind' ? capture(m.source, probe.sources[m.source] === 'dir') : -1));
  before.push({ kind: 'pivot-root', newRoot });

  // /dev: a tmpfs with the host's harmless devices bound in (mknod is impossible in a user
  // namespace, and binding keeps the host's device permissions), its own devpts, /dev/shm.
  dir('/dev');
  after.push({ kind: 'mount', name: 'mount-dev', source: 'tmpfs', target: '/dev', fstype: 'tmpfs', flags: MS_NOSUID | MS_NOEXEC, data: 'mode=0755,size=512k' });
  for (const [d, s] of devSlots) {
    after.push({ kind: 'mount-point', path: `/dev/${d}`, type: 'file', mode: 0o666 });
    after.push({ kind: 'attach', slot: s, source: `/dev/${d}`, target: `/dev/${d}` });
  }
  dir('/dev/pts');
  after.push({ kind: 'mount', name: 'mount-devpts', source: 'devpts', target: '/dev/pts', fstype: 'devpts', flags: MS_NOSUID | MS_NOEXEC, data: 'newinstance,ptmxmode=0666,mode=0620' });
  after.push({ kind: 'symlink', target: 'pts/ptmx', path: '/dev/ptmx' });
  dir('/dev/shm', 0o1777);
  after.push({ kind: 'mount', name: 'mount-shm', source: 'tmpfs', target: '/dev/shm', fstype: 'tmpfs', flags: NOSUID_NODEV_NOEXEC, data: 'mode=1777' });
  after.push({ kind: 'symlink', target: '/proc/self/fd', path: '/dev/fd' });
  ['stdin', 'stdout', 'stderr'].forEach((n, i) => after.push({ kind: 'symlink', target: `/proc/self/fd/${i}`, path: `/dev/${n}` }));

  if (procSlot !== undefined) {
    dir('/proc');
    after.push({ kind: 'attach', slot: procSlot, source: '/proc', target: '/proc' });
  }
  for (const f of MASKED_FILES) after.push({ kind: 'mount', name: 'mask', source: '/dev/null', target: f, flags: MS_BIND, optional: true });
  for (const d of MASKED_DIRS) after.push({ kind: 'mount', name: 'mask-dir', source: 'tmpfs', target: d, fstype: 'tmpfs', flags: MS_RDONLY | NOSUID_NODEV_NOEXEC, data: 'size=0', optional: true });
  for (const p of READONLY_PATHS) {
    after.push({ kind: 'mount', name: 'read-only-proc', source: p, target: p, flags: MS_BIND | MS_REC, optional: true });
    after.push({ kind: 'remount-ro', name: 'read-only-proc', path: p, optional: true });
  }

  if (ctx.netns) {
    after.push({ kind: 'mount', name: 'mask-dir', source: 'tmpfs', target: '/sys/firmware', fstype: 'tmpfs', flags: MS_RDONLY | NOSUID_NODEV_NOEXEC, data: 'size=0', optional: true });
  }
  dir('/tmp', 0o1777);
  after.push({ kind: 'mount', name: 'mount-tmp', source: 'tmpfs', target: '/tmp', fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV, data: 'mode=1777' });

  (opts.mounts ?? []).forEach((m: MountSpec, i) => {
    if (m.type === 'tmpfs') {
      dir(m.target);
      after.push({ kind: 'mount', name: 'tmpfs', source: 'tmpfs', target: m.target, fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV, data: m.size ? `size=${m.size},mode=0755` : 'mode=0755' });
      return;
    }
    const type = probe.sources[m.source];
    after.push({ kind: 'mount-point', path: m.target, type, mode: type === 'dir' ? 0o755 : 0o644 });
    after.push({ kind: 'attach', slot: userSlots[i], source: m.source, target: m.target });
    if (m.readOnly) after.push({ kind: 'remount-ro', name: 'ro-bind', path: m.target });
  });

  if (opts.readOnly) after.push({ kind: 'remount-ro', name: 'read-only', path: '/' });
  return { before, after };
}
