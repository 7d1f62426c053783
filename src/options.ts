// The options of a sandbox, as the library API takes them. The CLI builds the same object.
import type { CgroupLimits } from './cgroup/limits';
import type { NamespaceType } from './linux';
import type { SecurityOptions } from './plan/security';

/** A range of ids: `count` ids starting at `outer` on the host appear from `inner` inside. */
export interface IdRange {
  outer: number;
  inner: number;
  count: number;
}

export type StdioMode =
  /** The command uses nsrun's own fds 0-2 (files, pipes, or the caller's terminal after setsid). */
  | 'inherit'
  /** Pipes; the Sandbox object exposes stdin/stdout/stderr streams. */
  | 'pipe'
  /** A new pseudo-terminal for the sandbox, relayed to nsrun's terminal in raw mode. */
  | 'pty';

/** A resource limit: one number sets soft and hard alike (as prlimit(1) and docker do). */
export type RlimitValue = number | 'unlimited' | { soft: number | 'unlimited'; hard: number | 'unlimited' };

/** A mount into the sandbox's root filesystem (needs rootfs). */
export type MountSpec =
  | { type: 'bind'; source: string; target: string; readOnly?: boolean }
  | { type: 'tmpfs'; target: string; size?: string };

export interface SandboxOptions extends SecurityOptions {
  /** The command and its arguments; command[0] is looked up in the sandbox's PATH. */
  command: string[];
  /** Namespace types to create. */
  namespaces?: NamespaceType[];
  /** Every namespace type the kernel supports. */
  all?: boolean;
  /** UTS hostname (needs the uts namespace). */
  hostname?: string;
  /** Map the caller to root inside (util-linux -r). */
  mapRootUser?: boolean;
  /** Map the caller to this uid inside. */
  mapUser?: number;
  /** Map the caller's group to this gid inside. */
  mapGroup?: number;
  /** Extra uid ranges (written by root, or by newuidmap from /etc/subuid when unprivileged). */
  mapUsers?: IdRange[];
  mapGroups?: IdRange[];
  /** Identity the command runs as inside the sandbox. */
  uid?: number;
  gid?: number;
  groups?: number[];
  /** Working directory inside the sandbox. */
  cwd?: string;
  /** Environment additions (or, with clearEnv, the whole environment). */
  env?: Record<string, string>;
  clearEnv?: boolean;
  /** Run the command as PID 1 itself instead of under nsrun-init. */
  asPid1?: boolean;
  /** How stdio reaches the command; 'auto' (the CLI's default) picks 'pty' when stdin and stdout are terminals. */
  stdio?: StdioMode | 'auto';
  /** Run in this root filesystem (pivot_root), with /proc, a minimal /dev, /sys, /tmp. */
  rootfs?: string;
  /** Extra mounts inside the rootfs, in order. */
  mounts?: MountSpec[];
  /** Make the new root read-only. */
  readOnly?: boolean;
  /** A writable tmpfs layer over the rootfs, discarded at exit (the rootfs is never modified). */
  overlay?: boolean;
  /** Pause before each setup step (see SpawnExtras.stepper). */
  step?: boolean;
  /** Register the sandbox under this name (nsrun ps/exec/inspect/kill NAME). */
  name?: string;
  /** Pass fds 3..3+N-1 of this process to the command (as runc/crun --preserve-fds); every other fd is closed at exec. */
  preserveFds?: number;
  /** Resource limits set in the sandbox before exec (prlimit64): { nofile: 1024, core: 0, as: { soft: 1e9, hard: 2e9 } }. */
  rlimits?: Partial<Record<string, RlimitValue>>;
  /** The environment the command inherits unless clearEnv (defaults to process.env). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Resource limits: the sandbox gets a cgroup of its own (v1 or v2), removed when it ends. */
  limits?: CgroupLimits;
  /** Where the sandbox's cgroup goes, as a path inside the hierarchy (default: next to or under yours). */
  cgroupParent?: string;
}
