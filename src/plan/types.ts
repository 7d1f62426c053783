// The plan: what nsrun will do, in order, as data. Built and checked in TypeScript, printed by
// --explain, compiled to the wire form the native child executes.
import type { CgroupPlan } from '../cgroup/sandbox-cgroup';
import type { NamespaceType } from '../linux';
import type { IdRange } from '../options';
import type { Limit, RlimitName } from './rlimit';
import type { CapName, CapSets } from '../security/capabilities';
import type { SeccompPlan } from '../security/seccomp';
import type { SecurityOptions } from './security';

export interface IdMaps {
  uid: IdRange[];
  gid: IdRange[];
  /** 'deny' is required before an unprivileged gid_map write (CVE-2014-8989). */
  setgroups: 'allow' | 'deny';
  /** How each map is written: directly by the parent, or by newuidmap/newgidmap (setuid helpers). */
  uidVia: 'write' | 'newuidmap';
  gidVia: 'write' | 'newgidmap';
}

/** Child-side steps, in execution order. `kind` is the stable step name used in errors. */
export type Step =
  | { kind: 'await-id-maps' }
  | { kind: 'unshare-time' }
  | { kind: 'unshare-cgroup' }
  /** The network namespace, made by the child after "go" rather than by clone(). */
  | { kind: 'unshare-net' }
  | { kind: 'make-private' }
  | { kind: 'mount-proc' }
  | { kind: 'mount-devpts' }
  | { kind: 'sethostname'; hostname: string }
  | { kind: 'loopback-up' }
  | { kind: 'pty'; ptmx: string }
  | { kind: 'setsid' }
  | { kind: 'stdio'; mode: 'inherit' | 'pipe'; relay: [boolean, boolean, boolean] }
  | { kind: 'control-fd' }
  | { kind: 'close-fds'; from: number }
  | { kind: 'preserve-fds'; count: number }
  | { kind: 'rlimit'; resource: RlimitName; soft: Limit; hard: Limit }
  | { kind: 'identity'; uid?: number; gid?: number; groups?: number[]; why?: string }
  | { kind: 'chdir'; dir: string }
  | { kind: 'die-with-parent' }
  | { kind: 'exec'; viaInit: boolean }
  // capabilities, no_new_privs, seccomp (src/plan/security.ts)
  | { kind: 'cap-bounding'; keep: CapName[]; keepCaps: boolean }
  | { kind: 'capabilities'; sets: CapSets }
  | { kind: 'no-new-privs' }
  | { kind: 'seccomp'; filter: SeccompPlan }
  // root filesystems (--rootfs); paths after pivot-root are inside the new root
  | { kind: 'bind-rootfs'; root: string }
  | { kind: 'capture'; source: string; slot: number; recursive: boolean }
  | { kind: 'pivot-root'; newRoot: string }
  | { kind: 'mount'; name: string; source: string; target: string; fstype?: string; flags: number; data?: string; optional?: boolean; noFollow?: boolean }
  | { kind: 'reopen-rootfs'; root: string }
  | { kind: 'mount-point'; path: string; type: 'dir' | 'file'; mode: number }
  | { kind: 'symlink'; target: string; path: string }
  | { kind: 'attach'; slot: number; source: string; target: string }
  | { kind: 'remount-ro'; name: string; path: string; optional?: boolean }
  | { kind: 'check-cwd' }
  // joining a running sandbox (nsrun exec)
  | { kind: 'join-cgroup'; file: string }
  | { kind: 'non-dumpable' }
  | { kind: 'setns'; pidfd: number; pid: number; types: NamespaceType[] }
  | { kind: 'setns-fd'; fd: number; type: NamespaceType; path: string }
  /** ownMemory: a plain fork (a copy of the memory), needed to enter a time namespace after it. */
  | { kind: 'fork'; ownMemory?: boolean }
  | { kind: 'enter-root'; fd: number; path: string }
  | { kind: 'enter-cwd'; fd: number; path: string };

export interface Plan {
  /** 'create': new namespaces (nsrun run); 'join': enter a running sandbox's (nsrun exec). */
  mode: 'create' | 'join';
  command: string[];
  /** Namespace types created (or, for a join, entered), in NAMESPACE_TYPES order. */
  namespaces: NamespaceType[];
  /** Why each namespace is there when the user did not ask for it directly. */
  implied: Partial<Record<NamespaceType, string>>;
  idMaps?: IdMaps;
  /** The root filesystem (--rootfs), resolved. */
  rootfs?: { root: string; overlay: boolean; readOnly: boolean };
  steps: Step[];
  /** nsrun-init runs as PID 1 (or as the subreaper without a PID namespace). */
  init: boolean;
  stdio: 'inherit' | 'pipe' | 'pty';
  /**
   * With 'inherit': which of fds 0-2 are terminals, relayed through pipes by nsrun instead of
   * passed on. A process holding the caller's terminal could push input into it with TIOCSTI
   * (CVE-2017-5226): setsid() stops that only for processes without CAP_SYS_ADMIN.
   */
  relay: [boolean, boolean, boolean];
  env: string[];
  /** --step: the child waits before each step until the parent says go. */
  step?: boolean;
  /** What the command may do once it runs (capabilities, no_new_privs, seccomp). */
  security?: SecuritySummary;
  /** A cgroup of its own with these limits (the child waits until it is attached). */
  cgroup?: CgroupPlan;
  /** The caller, for messages: host euid/egid and whether unprivileged. */
  caller: { uid: number; gid: number; rootless: boolean };
}

export interface SecuritySummary {
  /** The command's capability sets; undefined when nsrun cannot change them (no privilege to). */
  caps?: CapSets;
  /** Why the sets are what they are, for --explain. */
  capsNote?: string;
  noNewPrivs: boolean;
  seccomp?: SeccompPlan;
  disableUserns: boolean;
  /** The options behind it (a profile file read into its object): nsrun exec into a named
   *  sandbox applies them again, as docker exec applies the container's. */
  options: SecurityOptions;
}
