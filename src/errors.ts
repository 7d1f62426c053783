// Every failure nsrun reports becomes an NsrunError here, with one line of text in kernel terms
// and, where we know the usual cause, a hint. The CLI prints `nsrun: <step>: <object>: <reason>`
// and `hint: ...`; library callers get the same fields typed.
import * as fs from 'node:fs';
import * as util from 'node:util';
import { ownLimit, RLIMITS, type RlimitName } from './plan/rlimit';

const brand = Symbol.for('nsrun.error');

export interface NsrunErrorFields {
  /** Stable kebab-case step name: 'options', 'clone', 'id-map', 'mount-proc', 'exec', ... */
  step: string;
  /** What the step was acting on (a path, a flag, a hostname). */
  object?: string;
  /** Human text without the step and object. */
  reason: string;
  /** 'ERR_NSRUN_USAGE' for bad input, else the errno name ('EPERM'). */
  code: string;
  /** Positive errno for system failures. */
  errno?: number;
  syscall?: string;
  /** Which side failed: the options, the Node parent, the cloned child, or nsrun-init. */
  side: 'options' | 'parent' | 'child' | 'init';
  hint?: string;
  /** 125 for nsrun's own failures, 126/127 when the command could not be executed. */
  exitCode?: number;
}

export class NsrunError extends Error {
  readonly step: string;
  readonly object?: string;
  readonly reason: string;
  readonly code: string;
  readonly errno?: number;
  readonly syscall?: string;
  readonly side: NsrunErrorFields['side'];
  readonly hint?: string;
  readonly exitCode: number;

  constructor(f: NsrunErrorFields) {
    super(f.object !== undefined ? `${f.step}: ${f.object}: ${f.reason}` : `${f.step}: ${f.reason}`);
    this.step = f.step;
    this.object = f.object;
    this.reason = f.reason;
    this.code = f.code;
    this.errno = f.errno;
    this.syscall = f.syscall;
    this.side = f.side;
    this.hint = f.hint;
    this.exitCode = f.exitCode ?? 125;
  }
}
Object.defineProperty(NsrunError.prototype, 'name', { value: 'NsrunError', enumerable: false });
Object.defineProperty(NsrunError.prototype, brand, { value: true, enumerable: false });

export function isNsrunError(e: unknown): e is NsrunError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}

/** Bad input: detected before anything is created. */
export function usageError(object: string | undefined, reason: string, hint?: string): NsrunError {
  return new NsrunError({ step: 'options', object, reason, code: 'ERR_NSRUN_USAGE', side: 'options', hint });
}

// libuv's table (util.getSystemErrorMap) lacks a few errnos that exec and namespaces produce.
/**
 * What libuv's map lacks for x86_64/arm64 errnos: [name, strerror text]. Some it cannot name at all
 * (EUSERS from setns of a time namespace, the key errors seccomp profiles return, ...); for others
 * os.constants.errno has the name but there is no text.
 */
const EXTRA_ERRNOS: Record<number, [string, string]> = {
  8: ['ENOEXEC', 'exec format error'],
  10: ['ECHILD', 'no child processes'],
  15: ['ENOTBLK', 'block device required'],
  35: ['EDEADLK', 'resource deadlock avoided'],
  37: ['ENOLCK', 'no locks available'],
  43: ['EIDRM', 'identifier removed'],
  65: ['ENOPKG', 'package not installed'],
  66: ['EREMOTE', 'object is remote'],
  70: ['ECOMM', 'communication error on send'],
  77: ['EBADFD', 'file descriptor in bad state'],
  85: ['ERESTART', 'interrupted system call should be restarted'],
  86: ['ESTRPIPE', 'streams pipe error'],
  87: ['EUSERS', 'too many users'],
  96: ['EPFNOSUPPORT', 'protocol family not supported'],
  109: ['ETOOMANYREFS', 'too many references: cannot splice'],
  116: ['ESTALE', 'stale file handle'],
  117: ['EUCLEAN', 'structure needs cleaning'],
  122: ['EDQUOT', 'disk quota exceeded'],
  123: ['ENOMEDIUM', 'no medium found'],
  124: ['EMEDIUMTYPE', 'wrong medium type'],
  126: ['ENOKEY', 'required key not available'],
  127: ['EKEYEXPIRED', 'key has expired'],
  128: ['EKEYREVOKED', 'key has been revoked'],
  129: ['EKEYREJECTED', 'key was rejected by service'],
  130: ['EOWNERDEAD', 'owner died'],
  131: ['ENOTRECOVERABLE', 'state not recoverable'],
  132: ['ERFKILL', 'operation not possible due to rf-kill'],
  133: ['EHWPOISON', 'memory page has hardware error'],
};

// util.getSystemErrorMap() builds a new map of every libuv error on each call: once is enough
let uvErrors: Map<number, [string, string]> | undefined;

/** libuv's map, only for kernel errnos (libuv's own codes, like UV_EOF = -4095, are not). */
function uvErrno(errno: number): [string, string] | undefined {
  return errno > 0 && errno < 512 ? (uvErrors ??= util.getSystemErrorMap()).get(-errno) : undefined;
}

export function errnoName(errno: number): string {
  const fromUv = uvErrno(errno)?.[0];
  if (fromUv) return fromUv;
  const entry = Object.entries((require('node:os') as typeof import('node:os')).constants.errno).find(([, v]) => v === errno);
  if (entry) return entry[0];
  return EXTRA_ERRNOS[errno]?.[0] ?? `errno ${errno}`;
}

/** The kernel's description of an errno, capitalised as strerror(3) prints it. */
export function errnoMessage(errno: number): string {
  const m = uvErrno(errno)?.[1] ?? EXTRA_ERRNOS[errno]?.[1];
  if (!m) return `error ${errno}`;
  return m.charAt(0).toUpperCase() + m.slice(1);
}

export interface SystemFailure {
  step: string;
  object?: string;
  syscall: string;
  errno: number;
  side: 'parent' | 'child' | 'init';
  /** Facts the hint table may use. */
  context?: HintContext;
}

export interface HintContext {
  rootless?: boolean;
  namespaces?: string[];
  path?: string;
  /** What the failing step acted on (the error's object). */
  object?: string;
  /** The sandbox's memory limit in bytes (--memory), when it has one. */
  memory?: number;
}

/** Exit status for a command that could not be executed, as shells and docker use them. */
export function execExitCode(errno: number): number {
  return errnoName(errno) === 'ENOENT' ? 127 : 126;
}

export function systemError(f: SystemFailure): NsrunError {
  const code = errnoName(f.errno);
  return new NsrunError({
    step: f.step,
    object: f.object,
    reason: errnoMessage(f.errno),
    code,
    errno: f.errno,
    syscall: f.syscall,
    side: f.side,
    hint: hintFor(f.step, code, { object: f.object, ...f.context }),
    exitCode: f.step === 'exec' ? execExitCode(f.errno) : 125,
  });
}

function readSysctl(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

type Hint = (ctx: HintContext) => string | undefined;

/** Are we in the initial user namespace? (Its uid_map is the identity over every id.) */
function inInitialUserns(): boolean {
  return (readSysctl('/proc/self/uid_map') ?? '').split(/\s+/).join(' ') === '0 0 4294967295';
}

function euidMapped(): boolean {
  const euid = process.geteuid?.() ?? 0;
  return (readSysctl('/proc/self/uid_map') ?? '').split('\n').some((l) => {
    const [inner, , count] = l.trim().split(/\s+/).map(Number);
    return euid >= inner && euid < inner + count;
  });
}

// One table of causes and fixes, keyed by "step errno" (or "* errno" for any step).
const HINTS: Record<string, Hint> = {
  'clone EPERM': (ctx) => {
    if (!inInitialUserns() && !euidMapped())
      return `you run as uid ${process.geteuid?.()}, which is not mapped in your user namespace (see /proc/self/uid_map): only mapped ids may create namespaces`;
    if (ctx.rootless) {
      if (readSysctl('/proc/sys/kernel/unprivileged_userns_clone') === '0')
        return 'unprivileged user namespaces are disabled: sysctl -w kernel.unprivileged_userns_clone=1 (or run as root)';
      if (readSysctl('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1')
        return 'AppArmor restricts unprivileged user namespaces: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give nsrun an AppArmor profile with "userns,"';
      return 'the kernel refused an unprivileged user namespace (a seccomp filter or LSM, e.g. inside a container, may block clone(CLONE_NEWUSER))';
    }
    return 'creating namespaces needs CAP_SYS_ADMIN; inside a container it is usually dropped or blocked by seccomp';
  },
  'clone ENOSPC': () => {
    const max = readSysctl('/proc/sys/user/max_user_namespaces');
    if (max === '0') return 'user namespaces are disabled: user.max_user_namespaces is 0 (sysctl -w user.max_user_namespaces=15000)';
    return 'a namespace limit was reached: see sysctl user.max_user_namespaces, user.max_pid_namespaces, user.max_net_namespaces ...';
  },
  'clone EUSERS': () => 'user namespaces nest at most 32 deep',
  'clone EINVAL': () => 'the kernel does not support one of the requested namespace types (see ls /proc/self/ns)',
  'clone ENOMEM': () => 'the PID namespace nsrun runs in may have lost its init (a PID namespace whose PID 1 exited cannot fork)',
  // The child makes the network namespace itself, after "go": by then it is in its own cgroup,
  // which pays for the namespace's kernel memory (clone() in nsrun's thread charged nsrun's).
  'unshare-net ENOMEM': (ctx) =>
    ctx.memory !== undefined
      ? `a network namespace takes kernel memory, charged to the sandbox's cgroup: --memory ${Math.round((ctx.memory / 1048576) * 10) / 10}m left too little for it: give the sandbox more memory (a few MB above what the command needs)`
      : 'the kernel ran out of memory creating the network namespace (or a memory cgroup nsrun runs in is full)',
  'unshare-net ENOSPC': () => 'the network namespace limit was reached: see sysctl user.max_net_namespaces',
  'unshare-net EPERM': (ctx) => HINTS['clone EPERM'](ctx),
  'id-map EPERM': (ctx) => {
    if (ctx.rootless) return 'an unprivileged process may map only its own uid/gid; ranges need newuidmap/newgidmap and entries in /etc/subuid and /etc/subgid';
    if (!inInitialUserns()) return 'you are root inside a user namespace: only ids mapped in it (see /proc/self/uid_map) can be mapped into a new one';
    return 'the kernel refused the map: check that ranges do not overlap and the ids exist';
  },
  'id-map EINVAL': () => 'the map is malformed for the kernel: ranges must not overlap and at most 340 lines are allowed',
  'mount-proc EPERM': () =>
    'mounting a fresh /proc needs a fully visible /proc in the parent (inside a container, /proc usually has masked paths)',
  'mount-proc EBUSY': () => 'something is mounted over /proc already',
  'make-private EINVAL': () => 'the root mount cannot be made private (is / a rootfs/initramfs?)',
  'mount-devpts EPERM': () => 'devpts could not be mounted in this user namespace',
  'sethostname EPERM': () => 'changing the hostname needs CAP_SYS_ADMIN in the UTS namespace\'s owning user namespace (add --uts, and --user when not root)',
  'loopback-up EPERM': () => 'bringing up lo needs CAP_NET_ADMIN in the network namespace',
  'identity EPERM': (ctx) =>
    ctx.rootless
      ? 'switching ids inside needs them mapped and setgroups allowed; supplementary --groups need newgidmap'
      : 'the ids must be mapped in the user namespace',
  'identity EINVAL': () => 'the uid or gid is not mapped in the sandbox\'s user namespace',
  'chdir ENOENT': () => 'the directory must exist inside the sandbox',
  'chdir EACCES': () => 'the sandbox\'s user cannot enter that directory',
  'exec ENOENT': () => 'check the command name and the PATH inside the sandbox',
  'exec EACCES': () => 'the file is not executable, is a directory, or sits on a noexec mount',
  'exec ENOEXEC': () => 'the file is not a binary this kernel can run, and has no #! line',
  'exec E2BIG': () => 'the arguments and environment exceed the kernel limit (getconf ARG_MAX)',
  'mount-point EROFS': () => 'the rootfs is read-only: create the directory in it beforehand, or add --overlay for a writable layer',
  'mount-point EACCES': () => 'the rootfs is not writable by you: create the directory in it beforehand, or add --overlay',
  'mount-point ENOTDIR': () => 'the target exists and is not a directory (a file, or a symlink, which is refused): a directory is bound onto a directory',
  'mount-point EISDIR': () => 'the target is a directory but the source is a file: a file is bound onto a file',
  'pivot-root EINVAL': () => 'the new root must be a mount point on a different filesystem from the old one (not an initramfs)',
  'overlay EINVAL': () => 'the kernel refused the overlay (see dmesg): the rootfs filesystem may not support being an overlay lower layer',
  'check-cwd EXDEV': () => 'the working directory is outside the new root',
  'pty ENOENT': () => 'no /dev/ptmx: run without a terminal (redirect stdin) or provide /dev/ptmx',
  'setns ESRCH': () => 'the target exited while nsrun was joining it; nothing was entered (setns with a pidfd enters all of the namespaces or none)',
  'setns EPERM': () => 'entering a namespace needs CAP_SYS_ADMIN in the user namespace that owns it: join as the target\'s owner (its user namespace too) or as root',
  'setns EUSERS': () => 'a time namespace can only be entered by a process that shares its memory with no other',
  'cap-bounding EPERM': () =>
    'dropping from the bounding set needs CAP_SETPCAP: nsrun runs without it (inside a container?); add a user namespace (-U) or run with --cap-add ALL',
  'capabilities EPERM': () =>
    'capset can only keep capabilities the process has: a capability added with --cap-add is missing from nsrun\'s own set (see grep Cap /proc/self/status), or the uid switch dropped it',
  'seccomp EINVAL': () => 'the kernel rejected the seccomp filter (is CONFIG_SECCOMP_FILTER enabled?); run with --seccomp=unconfined to start without one',
  'seccomp EACCES': () => 'without no_new_privs, installing a filter needs CAP_SYS_ADMIN: drop --allow-new-privs or use --seccomp=unconfined',
  'seccomp EFAULT': () => 'the kernel could not read the filter: please report this as an nsrun bug',
  'exec EPERM': () =>
    'refused by the kernel: a seccomp profile given with --seccomp may deny execve/execveat (or a call nsrun-init makes), or an LSM forbids it; try --seccomp=unconfined to tell',
  'rlimit EPERM': (ctx) => {
    const name = /^[a-z]+/.exec(ctx.object ?? '')?.[0] ?? '';
    const own = Object.hasOwn(RLIMITS, name) ? ownLimit(name as RlimitName, (p) => fs.readFileSync(p, 'utf8')) : undefined;
    const yours = own ? ` (nsrun's own hard limit is ${own.hard})` : '';
    return `raising a hard limit${yours} needs CAP_SYS_RESOURCE outside any user namespace (root inside one does not count): ask for a lower hard limit, or run as root without a user namespace`;
  },
  'preserve-fds EBADF': (ctx) => `${ctx.object ?? 'that fd'} is not open in nsrun: open it when starting nsrun (e.g. 3<file), or ask for fewer`,
  '* EMFILE': () => 'too many open files: raise ulimit -n',
};

/** Why a cgroup limit cannot be applied; each kind has its fix below. */
export type CgroupProblem = 'not-mounted' | 'not-delegated' | 'not-enabled' | 'no-permission' | 'internal-processes' | 'unsupported' | 'invalid' | 'no-parent' | 'busy';

export interface CgroupProblemFacts {
  /** The controller ('memory'), or 'cgroup' for the sandbox's cgroup itself. */
  controller: string;
  /** The flags that asked for it ('--memory, --memory-swap'). */
  flags?: string;
  problem: CgroupProblem;
  reason: string;
  /** Directory or file concerned, for the fix. */
  path?: string;
  parent?: string;
  version?: 1 | 2;
  rootless?: boolean;
  errno?: number;
}

const CGROUP_HINTS: Record<CgroupProblem, (f: CgroupProblemFacts) => string | undefined> = {
  'not-mounted': (f) =>
    f.version === 2
      ? `enable it in the v2 hierarchy: echo +${f.controller} > ${f.parent ?? '/sys/fs/cgroup'}/cgroup.subtree_control (as root)`
      : `mount it: mkdir /sys/fs/cgroup/${f.controller} && mount -t cgroup -o ${f.controller} none /sys/fs/cgroup/${f.controller}, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)`,
  'not-delegated': (f) =>
    f.version === 2
      ? 'run nsrun in a cgroup subtree delegated to you: systemd-run --user --scope -p Delegate=yes nsrun ..., or have root chown a cgroup to you and start nsrun from a shell in a child of it (see nsrun doctor)'
      : 'cgroup v1 is not delegated to unprivileged users: run as root, or use a cgroup v2 host with a delegated user slice (systemd-run --user --scope -p Delegate=yes)',
  'not-enabled': (f) =>
    f.rootless
      ? `the controller must be delegated to you: as root, echo +${f.controller} > ${f.parent ? `${f.parent.replace(/\/[^/]*$/, '') || '/'}/cgroup.subtree_control` : 'PARENT/cgroup.subtree_control'} (systemd: Delegate=${f.controller} on the user unit)`
      : `as root: echo +${f.controller} > ${f.parent ? `${f.parent.replace(/\/[^/]*$/, '') || '/'}/cgroup.subtree_control` : 'PARENT/cgroup.subtree_control'}`,
  'no-permission': (f) => (f.rootless ? 'run as root, or in a cgroup delegated to you (systemd-run --user --scope -p Delegate=yes nsrun ...)' : 'a security module or a read-only cgroup mount refused the write'),
  'internal-processes': (f) =>
    `cgroup v2 allows controllers only in cgroups without processes of their own: pick an empty parent with --cgroup-parent, or move the processes of ${f.parent ?? 'the parent'} into a child cgroup`,
  unsupported: () => undefined,
  invalid: () => undefined,
  'no-parent': (f) => `create it first (mkdir ${f.path ?? 'DIR'}), or leave --cgroup-parent out to use your own cgroup`,
  busy: () => 'another sandbox with this name is still running: pick another --name',
};

/** A limit that cannot be applied: names the controller and the reason, with the fix. */
export function cgroupError(f: CgroupProblemFacts): NsrunError {
  return new NsrunError({
    step: 'cgroup',
    object: f.flags ? `${f.controller} (${f.flags})` : f.controller,
    reason: f.reason,
    code: f.errno !== undefined ? errnoName(f.errno) : `ERR_NSRUN_CGROUP_${f.problem.toUpperCase().replace(/-/g, '_')}`,
    errno: f.errno,
    side: 'parent',
    hint: CGROUP_HINTS[f.problem](f),
  });
}

export function hintFor(step: string, code: string, ctx: HintContext): string | undefined {
  const h = HINTS[`${step} ${code}`] ?? HINTS[`* ${code}`];
  return h ? h(ctx) : undefined;
}

/** The lines the CLI prints for an error. */
export function formatError(e: unknown): string[] {
  if (isNsrunError(e)) {
    const lines = [`nsrun: ${e.message}`];
    if (e.hint) lines.push(`hint: ${e.hint}`);
    return lines;
  }
  const msg = e instanceof Error ? e.message : String(e);
  return [`nsrun: internal: ${msg.split('\n')[0]}`];
}
