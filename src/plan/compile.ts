// Plan -> the wire form the native child executes (numbers and strings only), plus, for each
// wire step, the step name and object that an error report at that index is about.
import { CLONE_FLAG, CLONE_NEWTIME, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_REC } from '../linux';
import { limitText, RLIMITS, wireLimit } from './rlimit';
import { ROOTFS_FD_TOKEN } from './rootfs';
import { OP, type WirePlan, type WireStep } from '../native/binding';
import type { Plan, Step } from './types';
import { capMask } from '../security/capabilities';

/** fds and sizes known only at spawn time. */
export interface RuntimeFds {
  /** nsrun-init, opened by the parent: exec'd with execveat so no path is resolved in the sandbox. */
  initFd: number;
  /** Write end of nsrun-init's control pipe. */
  controlFd?: number;
  /** Socket the child sends its pty master on. */
  ptySocket?: number;
  /** Child ends of the stdio pipes (stdio 'pipe'). */
  stdio?: [number, number, number];
  winsize?: { rows: number; cols: number };
  /** The rootfs directory, opened before the clone (overlay lowerdir). */
  rootfsFd?: number;
}

export interface StepMeta {
  step: string;
  object?: string;
}

export interface Compiled {
  wire: WirePlan;
  meta: StepMeta[];
  /** --step: the plan steps the child pauses before, in order. */
  pauses: Step[];
}

export const DEVPTS_OPTIONS = 'newinstance,ptmxmode=0666,mode=0620';
export const PROC_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC;

export function envValue(env: string[], name: string): string | undefined {
  const entry = env.find((e) => e.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}

export function initArgv(plan: Plan, controlFd: number | undefined): string[] {
  const argv = ['nsrun-init'];
  if (controlFd !== undefined) argv.push('-c', String(controlFd));
  if (plan.stdio === 'pty') argv.push('-t');
  return [...argv, '--', ...plan.command];
}

// The filter as the addon copies it in one go; the default profile's plan is cached (seccomp.ts),
// and so is its array.
const filterArrays = new WeakMap<number[], Uint32Array>();
function filterArray(words: number[]): Uint32Array {
  let a = filterArrays.get(words);
  if (!a) filterArrays.set(words, (a = Uint32Array.from(words)));
  return a;
}

export function compilePlan(plan: Plan, fds: RuntimeFds): Compiled {
  const steps: WireStep[] = [];
  const meta: StepMeta[] = [];
  const pauses: Step[] = [];
  const emit = (s: Step, w: WireStep, object?: string) => {
    steps.push(w);
    meta.push({ step: 'name' in s ? s.name : s.kind, object });
  };
  for (const s of plan.steps) {
    if (plan.step && s.kind !== 'await-id-maps') {
      steps.push({ op: OP.STEP_WAIT });
      meta.push({ step: 'step' });
      pauses.push(s);
    }
    switch (s.kind) {
      case 'await-id-maps':
        emit(s, { op: OP.AWAIT_GO, n1: plan.step ? 1 : 0 });
        break;
      case 'unshare-time':
        emit(s, { op: OP.UNSHARE, n1: CLONE_NEWTIME }, 'time namespace');
        break;
      case 'unshare-net':
        emit(s, { op: OP.UNSHARE, n1: CLONE_FLAG.net }, 'network namespace');
        break;
      case 'unshare-cgroup':
        emit(s, { op: OP.UNSHARE, n1: CLONE_FLAG.cgroup }, 'cgroup namespace');
        break;
      case 'make-private':
        emit(s, { op: OP.MOUNT, s1: 'none', s2: '/', n1: MS_REC | MS_PRIVATE }, '/');
        break;
      case 'mount-proc':
        emit(s, { op: OP.MOUNT, s1: 'proc', s2: '/proc', s3: 'proc', n1: PROC_FLAGS }, '/proc');
        break;
      case 'mount-devpts':
        emit(s, { op: OP.MOUNT, s1: 'devpts', s2: '/dev/pts', s3: 'devpts', n1: MS_NOSUID | MS_NOEXEC, s4: DEVPTS_OPTIONS }, '/dev/pts');
        break;
      case 'sethostname':
        emit(s, { op: OP.SETHOSTNAME, s1: s.hostname }, s.hostname);
        break;
      case 'loopback-up':
        emit(s, { op: OP.LOOPBACK_UP, s1: 'lo' }, 'lo');
        break;
      case 'pty': {
        const ws = fds.winsize ?? { rows: 0, cols: 0 };
        emit(s, { op: OP.PTY, n1: fds.ptySocket ?? -1, n2: ((ws.rows & 0xffff) << 16) | (ws.cols & 0xffff), s1: s.ptmx }, s.ptmx);
        break;
      }
      case 'setsid':
        emit(s, { op: OP.SETSID });
        break;
      case 'stdio':
        if (s.mode === 'inherit' && !s.relay.some(Boolean)) emit(s, { op: OP.STDIO_INHERIT });
        else
          fds.stdio!.forEach((fd, i) =>
            // a pipe from nsrun, or (inherit, not a terminal) our own fd i, kept across exec
            emit(s, { op: OP.DUP2, n1: s.mode === 'pipe' || s.relay[i] ? fd : i, n2: i }, `fd ${i}`),
          );
        break;
      case 'close-fds':
        emit(s, { op: OP.CLOSE_FROM, n1: s.from });
        break;
      case 'preserve-fds':
        // fds nsrun opened for the child sit above the preserved ones (they were open first)
        for (const fd of [fds.initFd, fds.controlFd, fds.ptySocket, fds.rootfsFd, ...(fds.stdio ?? [])])
          if (fd !== undefined && fd >= 3 && fd < 3 + s.count) throw new Error(`compilePlan: nsrun's fd ${fd} is inside --preserve-fds`);
        // dup2(fd, fd) clears close-on-exec: these are the only fds above 2 the command gets
        for (let fd = 3; fd < 3 + s.count; fd++) emit(s, { op: OP.DUP2, n1: fd, n2: fd }, `fd ${fd}`);
        break;
      case 'rlimit':
        emit(s, { op: OP.SETRLIMIT, n1: RLIMITS[s.resource].resource, s1: wireLimit(s.soft), s2: wireLimit(s.hard) }, `${s.resource}=${limitText(s.soft)}:${limitText(s.hard)}`);
        break;
      case 'control-fd':
        emit(s, { op: OP.DUP2, n1: fds.controlFd!, n2: fds.controlFd! }, `fd ${fds.controlFd}`);
        break;
      case 'identity':
        if (s.groups !== undefined) emit(s, { op: OP.SETGROUPS, ids: s.groups }, `groups ${s.groups.join(',') || '(none)'}`);
        if (s.gid !== undefined) emit(s, { op: OP.SETRESGID, n1: s.gid }, `gid ${s.gid}`);
        if (s.uid !== undefined) emit(s, { op: OP.SETRESUID, n1: s.uid }, `uid ${s.uid}`);
        break;
      case 'chdir':
        emit(s, { op: OP.CHDIR, s1: s.dir }, s.dir);
        break;
      case 'die-with-parent':
        emit(s, { op: OP.PDEATHSIG, n1: 9 });
        break;
      case 'bind-rootfs':
        emit(s, { op: OP.MOUNT, s1: s.root, s2: s.root, n1: MS_BIND | MS_REC }, s.root);
        break;
      case 'reopen-rootfs':
        emit(s, { op: OP.REOPEN, s1: s.root, n1: fds.rootfsFd ?? -1 }, s.root);
        break;
      case 'capture':
        emit(s, { op: OP.OPEN_TREE, s1: s.source, n1: s.slot, n2: s.recursive ? 1 : 0 }, s.source);
        break;
      case 'pivot-root':
        emit(s, { op: OP.PIVOT_ROOT, s1: s.newRoot }, s.newRoot);
        break;
      case 'mount': {
        const data = s.data?.replace(ROOTFS_FD_TOKEN, String(fds.rootfsFd ?? -1));
        emit(s, { op: s.noFollow ? OP.MOUNT_AT : OP.MOUNT, s1: s.source, s2: s.target, s3: s.fstype, n1: s.flags, s4: data, optional: s.optional ? 1 : 0 }, s.target);
        break;
      }
      case 'mount-point':
        emit(s, { op: s.type === 'dir' ? OP.MKDIR : OP.MKFILE, s1: s.path, n1: s.mode }, s.path);
        break;
      case 'symlink':
        emit(s, { op: OP.SYMLINK, s1: s.target, s2: s.path }, s.path);
        break;
      case 'attach':
        emit(s, { op: OP.MOVE_MOUNT, n1: s.slot, s1: s.target }, `${s.source} on ${s.target}`);
        break;
      case 'remount-ro':
        emit(s, { op: OP.REMOUNT_RO, s1: s.path, optional: s.optional ? 1 : 0 }, s.path);
        break;
      case 'check-cwd':
        emit(s, { op: OP.CHECK_CWD });
        break;
      case 'join-cgroup':
        emit(s, { op: OP.WRITE_FILE, s1: s.file, s2: '0' }, s.file);
        break;
      case 'non-dumpable':
        emit(s, { op: OP.DUMPABLE, n1: 0 });
        break;
      case 'setns': {
        let mask = 0;
        for (const t of s.types) mask |= CLONE_FLAG[t];
        emit(s, { op: OP.SETNS_PIDFD, n1: s.pidfd, n2: mask }, `pid ${s.pid} (${s.types.join(',')})`);
        break;
      }
      case 'setns-fd':
        emit(s, { op: OP.SETNS_FD, n1: s.fd, n2: CLONE_FLAG[s.type] }, s.path);
        break;
      case 'fork':
        emit(s, { op: OP.FORK, n1: s.ownMemory ? 1 : 0 });
        break;
      case 'enter-root':
        emit(s, { op: OP.FCHROOT, n1: s.fd }, s.path);
        break;
      case 'enter-cwd':
        emit(s, { op: OP.FCHDIR, n1: s.fd }, s.path);
        break;
      case 'cap-bounding':
        // up to 63: capabilities newer than our table are dropped too (the child stops at EINVAL)
        emit(s, { op: OP.CAP_BOUNDING, ids: capMask(s.keep), n1: 63, n2: s.keepCaps ? 1 : 0 });
        break;
      case 'capabilities': {
        const { effective, permitted, inheritable, ambient } = s.sets;
        emit(s, { op: OP.CAPSET, ids: [...capMask(effective), ...capMask(permitted), ...capMask(inheritable), ...capMask(ambient)] });
        break;
      }
      case 'no-new-privs':
        emit(s, { op: OP.NO_NEW_PRIVS });
        break;
      case 'seccomp':
        emit(s, { op: OP.SECCOMP, ids: filterArray(s.filter.words) }, s.filter.profile);
        break;
      case 'exec':
        if (s.viaInit) emit(s, { op: OP.EXEC, n1: fds.initFd }, 'nsrun-init');
        else emit(s, { op: OP.EXEC, n1: -1, s1: plan.command[0], s2: envValue(plan.env, 'PATH') }, plan.command[0]);
        break;
    }
  }
  let cloneFlags = 0;
  const lateCgroupns = plan.steps.some((s) => s.kind === 'unshare-cgroup');
  const lateNetns = plan.steps.some((s) => s.kind === 'unshare-net');
  if (plan.mode === 'create')
    for (const ns of plan.namespaces)
      if (ns !== 'time' && !(ns === 'cgroup' && lateCgroupns) && !(ns === 'net' && lateNetns)) cloneFlags |= CLONE_FLAG[ns];
  return {
    wire: {
      cloneFlags,
      steps,
      argv: plan.init ? initArgv(plan, fds.controlFd) : plan.command,
      envp: plan.env,
    },
    meta,
    pauses,
  };
}
