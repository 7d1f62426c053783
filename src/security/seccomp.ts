// Seccomp profiles: nsrun's default, Docker/OCI-format JSON files, and --disable-userns; resolved
// for this machine (architecture, capabilities, kernel) and compiled to classic BPF (./bpf.ts).
// Pure apart from reading the profile file and the kernel's release.
import * as fs from 'node:fs';
import { usageError } from '../errors';
import { kernelRelease } from '../linux';
import { type Arch, type ArgCond, type CmpOp, compileFilter, filterWords, type ResolvedRule, SECCOMP_RET } from './bpf';
import { type CapName, capLabel } from './capabilities';
import { syscallsAarch64, syscallsX86_64 } from './syscall-table';

/** A profile in Docker's format (a superset of the OCI runtime spec's linux.seccomp). */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  syscalls?: SeccompRule[];
  flags?: string[];
  [key: string]: unknown;
}

export interface SeccompRule {
  names?: string[];
  /** The old Docker format: one name per rule. */
  name?: string;
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number | string; valueTwo?: number | string; op: string }[];
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  excludes?: { caps?: string[]; arches?: string[] };
  /** nsrun's default profile only: the rule applies on kernels older than this. */
  belowKernel?: string;
  comment?: string;
}

const EPERM = 1;
const ENOSYS = 38;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
const CLONE_NEWUSER = 0x10000000;

const deny = (names: string[], comment: string, excludeCaps?: CapName[]): SeccompRule => ({
  names,
  action: 'SCMP_ACT_ERRNO',
  errnoRet: EPERM,
  comment,
  ...(excludeCaps ? { excludes: { caps: excludeCaps.map(capLabel) } } : {}),
});

const low32 = (value: number) => ({ index: 1, op: 'SCMP_CMP_MASKED_EQ', value: 0xffffffff, valueTwo: value });

let defaultRules: SeccompRule[] | undefined;

/**
 * nsrun's default: everything is allowed except what Docker's default profile keeps from
 * containers (a deny list, like bubblewrap's and Flatpak's, rather than Docker's allow list: the
 * sandbox runs the host's own programs, and a new syscall the table does not know yet should not
 * break them). A denied call fails with EPERM; a --cap-add of the capability the kernel itself
 * would demand lifts the rule, as in Docker.
 */
export const DEFAULT_PROFILE: SeccompProfile = {
  defaultAction: 'SCMP_ACT_ALLOW',
  // built on first read: a CLI start takes the default filter from its bundle and never reads them
  get syscalls(): SeccompRule[] {
    return (defaultRules ??= [
      deny(['add_key', 'keyctl', 'request_key'], 'kernel keyring: not namespaced'),
      { names: ['ioctl'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [low32(TIOCSTI)], comment: 'TIOCSTI: push input into a terminal (CVE-2017-5226); only the low 32 bits of the command count (CVE-2019-10063)' },
      { names: ['ioctl'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [low32(TIOCLINUX)], comment: 'TIOCLINUX: console selection can inject input too' },
      deny(['bpf'], 'eBPF programs', ['sys_admin', 'bpf']),
      deny(['perf_event_open'], 'performance monitoring: leaks kernel addresses', ['sys_admin', 'perfmon']),
      deny(['kexec_load', 'kexec_file_load', 'reboot'], 'load a new kernel, reboot', ['sys_boot']),
      deny(['init_module', 'finit_module', 'delete_module'], 'kernel modules', ['sys_module']),
      deny(['create_module', 'get_kernel_syms', 'query_module', 'nfsservctl', 'uselib', '_sysctl', 'sysfs', 'ustat', 'vm86', 'vm86old'], 'obsolete'),
      deny(['iopl', 'ioperm'], 'raw I/O ports', ['sys_rawio']),
      deny(['swapon', 'swapoff'], 'swap devices', ['sys_admin']),
      deny(['acct'], 'process accounting', ['sys_pacct']),
      deny(['settimeofday', 'clock_settime', 'clock_adjtime', 'stime'], 'set the clock: the realtime clock is not namespaced', ['sys_time']),
      deny(
        ['mount', 'umount', 'umount2', 'pivot_root', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'open_tree', 'move_mount', 'mount_setattr'],
        'mounts (allowed with --cap-add SYS_ADMIN, as in Docker)',
        ['sys_admin'],
      ),
      deny(['lookup_dcookie', 'quotactl', 'quotactl_fd', 'fanotify_init'], 'administration', ['sys_admin']),
      deny(['vhangup'], 'terminal hangup', ['sys_tty_config']),
      deny(['syslog'], 'kernel log', ['syslog']),
      deny(['userfaultfd'], 'userfaultfd: widens kernel race windows', ['sys_ptrace']),
      deny(['open_by_handle_at'], 'open_by_handle_at: opens files outside the root by handle (shocker)', ['dac_read_search']),
      deny(['io_uring_setup', 'io_uring_enter', 'io_uring_register'], 'io_uring: a large kernel attack surface (Docker blocks it too)'),
      ...[0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((v) => ({
        names: ['personality'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, op: 'SCMP_CMP_EQ', value: v }],
        comment: 'personality: only PER_LINUX, PER_LINUX32, UNAME26 and the query',
      })),
      deny(['personality'], 'personality: other execution domains (e.g. READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE)'),
      {
        ...deny(['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp'], 'before Linux 4.8 ptrace could bypass seccomp', ['sys_ptrace']),
        belowKernel: '4.8',
      },
    ]);
  },
};

/** --disable-userns: no new user namespaces. clone3 passes its flags in memory, which a filter
 *  cannot read, so it fails with ENOSYS and libc falls back to clone (Docker does the same). */
export const NO_USERNS_RULES: SeccompRule[] = [
  { names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, op: 'SCMP_CMP_MASKED_EQ', value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER }], comment: '--disable-userns' },
  { names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, op: 'SCMP_CMP_MASKED_EQ', value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER }], comment: '--disable-userns' },
  // an always-true condition: checked before anything a profile says about clone3
  { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, args: [{ index: 0, op: 'SCMP_CMP_MASKED_EQ', value: 0, valueTwo: 0 }], comment: '--disable-userns' },
];

/** --seccomp=unconfined --disable-userns: only the NO_USERNS_RULES. */
export const USERNS_ONLY_PROFILE: SeccompProfile = { defaultAction: 'SCMP_ACT_ALLOW' };

const ACTIONS: Record<string, number> = {
  SCMP_ACT_ALLOW: SECCOMP_RET.ALLOW,
  SCMP_ACT_ERRNO: SECCOMP_RET.ERRNO,
  SCMP_ACT_KILL: SECCOMP_RET.KILL_THREAD,
  SCMP_ACT_KILL_THREAD: SECCOMP_RET.KILL_THREAD,
  SCMP_ACT_KILL_PROCESS: SECCOMP_RET.KILL_PROCESS,
  SCMP_ACT_TRAP: SECCOMP_RET.TRAP,
  SCMP_ACT_TRACE: SECCOMP_RET.TRACE,
  SCMP_ACT_LOG: SECCOMP_RET.LOG,
};

const OPS: Record<string, CmpOp> = {
  SCMP_CMP_EQ: 'EQ', SCMP_CMP_NE: 'NE', SCMP_CMP_LT: 'LT', SCMP_CMP_LE: 'LE',
  SCMP_CMP_GT: 'GT', SCMP_CMP_GE: 'GE', SCMP_CMP_MASKED_EQ: 'MASKED_EQ',
};

/** Names profiles use for this machine: SCMP_ARCH_* and Docker's Go names in includes.arches. */
const ARCH_NAMES: Record<Arch, { scmp: string; go: string; table: () => Readonly<Record<string, number>> }> = {
  x86_64: { scmp: 'SCMP_ARCH_X86_64', go: 'amd64', table: syscallsX86_64 },
  aarch64: { scmp: 'SCMP_ARCH_AARCH64', go: 'arm64', table: syscallsAarch64 },
};

/** The seccomp architecture of this process, or a one-line refusal. */
export function nativeArch(nodeArch: string = process.arch): Arch {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'aarch64';
  throw usageError('--seccomp', `no syscall table for this architecture (${nodeArch}): nsrun's filters know x86_64 and aarch64`, 'run with --seccomp=unconfined');
}

export function syscallTable(arch: Arch): Readonly<Record<string, number>> {
  return ARCH_NAMES[arch].table();
}

function kernelAtLeast(release: string, want: string): boolean {
  const have = release.split(/[.-]/).slice(0, 2).map(Number);
  const need = want.split('.').map(Number);
  for (let i = 0; i < 2; i++) {
    const h = have[i] || 0;
    const n = need[i] || 0;
    if (h !== n) return h > n;
  }
  return true;
}

export interface ResolveContext {
  arch: Arch;
  /** The sandbox's bounding set: includes.caps / excludes.caps test against it. */
  caps: readonly CapName[];
  kernel?: string;
  disableUserns?: boolean;
}

export interface SeccompPlan {
  /** 'default', 'unconfined' (with --disable-userns only), or the profile file. */
  profile: string;
  defaultAction: string;
  /** Syscalls the filter says something about. */
  filtered: string[];
  /** Names the profile uses that this architecture does not have (skipped, as runc does). */
  unknown: string[];
  instructions: number;
  /** struct sock_filter[] as 32-bit word pairs (see bpf.ts filterWords). */
  words: number[];
}

function bad(where: string, reason: string): never {
  throw usageError('--seccomp', `${where}: ${reason}`);
}

function toBig(v: unknown, where: string): bigint {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) bad(where, `${v} is not a non-negative integer`);
    if (!Number.isSafeInteger(v)) bad(where, `${v} cannot be represented exactly in JSON; write it as a string`);
    return BigInt(v);
  }
  if (typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v)) {
    const b = BigInt(v);
    if (b > 0xffffffffffffffffn) bad(where, `${v} does not fit in 64 bits`);
    return b;
  }
  bad(where, `${JSON.stringify(v)} is not a number`);
}

function errnoOf(v: unknown, where: string): number {
  if (v === undefined) return EPERM;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 4095) bad(where, `errnoRet ${JSON.stringify(v)} is not an errno (0-4095)`);
  return v;
}

function actionOf(name: unknown, errno: number, where: string): number {
  if (typeof name !== 'string') bad(where, 'action is missing');
  if (name === 'SCMP_ACT_NOTIFY') bad(where, 'SCMP_ACT_NOTIFY needs a seccomp agent, which nsrun does not run');
  const base = ACTIONS[name];
  if (base === undefined) bad(where, `unknown action '${name}' (one of ${Object.keys(ACTIONS).join(', ')})`);
  return base === SECCOMP_RET.ERRNO || base === SECCOMP_RET.TRACE ? (base | errno) >>> 0 : base;
}

function capsIn(list: unknown, where: string): string[] {
  if (list == null) return [];
  if (!Array.isArray(list) || list.some((c) => typeof c !== 'string')) bad(where, 'caps must be a list of names');
  return (list as string[]).map((c) => c.toLowerCase().replace(/^cap_/, ''));
}

/** What the rules of a profile test: the capabilities they name and the kernel releases they
 *  compare with. Worked out once per profile (nsrun's own are constants; the CLI bundle carries
 *  the default profile's: walking its rules cold was ~0.7 ms of a start). */
export interface RuleInputs {
  caps: string[];
  kernels: string[];
}
const ruleInputsOf = new WeakMap<SeccompProfile, RuleInputs>();

export function ruleInputs(p: SeccompProfile): RuleInputs {
  if (p === DEFAULT_PROFILE && prebuilt) return prebuilt.inputs;
  let inputs = ruleInputsOf.get(p);
  if (!inputs) {
    const caps = new Set<string>();
    const kernels = new Set<string>();
    for (const r of [...NO_USERNS_RULES, ...(p.syscalls ?? [])]) {
      for (const c of [...capsIn(r.includes?.caps, ''), ...capsIn(r.excludes?.caps, '')]) caps.add(c);
      if (r.includes?.minKernel != null && r.includes.minKernel !== '') kernels.add(String(r.includes.minKernel));
      if (r.belowKernel !== undefined) kernels.add(r.belowKernel);
    }
    inputs = { caps: [...caps].sort(), kernels: [...kernels].sort() };
    ruleInputsOf.set(p, inputs);
  }
  return inputs;
}

/**
 * What the filter of one of nsrun's own profiles depends on: the profile, the architecture, the
 * label its messages use, --disable-userns, which of the capabilities its rules name the sandbox
 * has, and which of the kernel releases they compare with this kernel reaches: together these
 * decide which rules apply. Sandboxes whose capabilities differ in nothing the rules name share it.
 */
export function ownProfileKey(p: SeccompProfile, ctx: ResolveContext, label: string): string {
  const { caps, kernels } = ruleInputs(p);
  const kernel = ctx.kernel ?? kernelRelease();
  const has = caps.filter((c) => (ctx.caps as readonly string[]).includes(c)).join(',');
  const reaches = kernels.map((k) => (kernelAtLeast(kernel, k) ? '1' : '0')).join('');
  return `${p === DEFAULT_PROFILE ? 'default' : 'userns-only'} ${ctx.arch} ${label} ${!!ctx.disableUserns} [${has}] ${reaches}`;
}

// The default profile compiled when the CLI was bundled (scripts/bundle.js, from this module's
// defaultFilterTable), by ownProfileKey, with what its rules test: a CLI start then neither
// compiles it (~1.5 ms of a start, most of it code running for the first time) nor walks its
// rules. The unbundled modules (the library) have none.
export interface DefaultFilters {
  inputs: RuleInputs;
  filters: Record<string, SeccompPlan>;
}
// In the bundle each filter is JSON text, parsed when used: as object literals all of them were
// built at every start (~0.15 ms).
declare const __NSRUN_DEFAULT_FILTERS__: { inputs: RuleInputs; filters: Record<string, string> } | null | undefined;
const prebuilt = typeof __NSRUN_DEFAULT_FILTERS__ === 'undefined' ? undefined : __NSRUN_DEFAULT_FILTERS__;

/** The default profile's filters for the usual sandboxes on `arch` (scripts/bundle.js). */
export function defaultFilterTable(arch: Arch, capSets: readonly (readonly CapName[])[], kernel = kernelRelease()): DefaultFilters {
  const filters: Record<string, SeccompPlan> = {};
  for (const caps of capSets)
    for (const disableUserns of [false, true]) {
      const ctx = { arch, caps, kernel, disableUserns };
      filters[ownProfileKey(DEFAULT_PROFILE, ctx, 'default')] = compileProfile(DEFAULT_PROFILE, ctx, 'default');
    }
  return { inputs: ruleInputs(DEFAULT_PROFILE), filters };
}

// Spawning from the library builds a plan each time: nsrun's own profiles are compiled once per
// key, and the key (a pass over the rules) is worked out once per sandbox context.
const compiled = new Map<string, SeccompPlan>();
const byContext = new Map<string, SeccompPlan>();

/** Checks a profile and turns it into the filter for this sandbox. */
export function resolveProfile(p: SeccompProfile, ctx: ResolveContext, label: string): SeccompPlan {
  // only nsrun's own profiles: a caller's object may change between calls
  if (p !== DEFAULT_PROFILE && p !== USERNS_ONLY_PROFILE) return compileProfile(p, ctx, label);
  const context = `${p === DEFAULT_PROFILE ? 'default' : 'userns-only'} ${ctx.arch} ${ctx.caps.join(',')} ${ctx.kernel ?? kernelRelease()} ${!!ctx.disableUserns} ${label}`;
  let plan = byContext.get(context);
  if (plan) return plan;
  const key = ownProfileKey(p, ctx, label);
  plan = compiled.get(key);
  if (!plan) {
    const text = p === DEFAULT_PROFILE ? prebuilt?.filters[key] : undefined;
    compiled.set(key, (plan = text !== undefined ? (JSON.parse(text) as SeccompPlan) : compileProfile(p, ctx, label)));
  }
  byContext.set(context, plan);
  return plan;
}

/** Whether a rule applies to this sandbox (includes/excludes: capabilities, architectures, kernel). */
function ruleApplies(r: SeccompRule, ctx: ResolveContext, archGo: string, kernel: string, where: string): boolean {
  const inc = r.includes ?? {};
  const exc = r.excludes ?? {};
  const caps = ctx.caps as readonly string[];
  if (capsIn(inc.caps, where).some((c) => !caps.includes(c))) return false;
  if (capsIn(exc.caps, where).some((c) => caps.includes(c))) return false;
  if (inc.arches != null && inc.arches.length > 0 && !inc.arches.includes(archGo)) return false;
  if (exc.arches != null && exc.arches.includes(archGo)) return false;
  if (inc.minKernel != null && inc.minKernel !== '' && !kernelAtLeast(kernel, String(inc.minKernel))) return false;
  if (r.belowKernel !== undefined && kernelAtLeast(kernel, r.belowKernel)) return false;
  return true;
}

function compileProfile(p: SeccompProfile, ctx: ResolveContext, label: string): SeccompPlan {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) bad(label, 'a profile is a JSON object');
  const arch = ARCH_NAMES[ctx.arch];
  // Go writes empty lists and objects as null: null means absent everywhere
  const defaultAction = actionOf(p.defaultAction, errnoOf(p.defaultErrnoRet ?? undefined, `${label}: defaultErrnoRet`), `${label}: defaultAction`);
  if (p.syscalls != null && !Array.isArray(p.syscalls)) bad(label, 'syscalls must be a list');
  if (p.flags != null && (!Array.isArray(p.flags) || p.flags.length > 0))
    bad(label, 'flags (SECCOMP_FILTER_FLAG_*) are not supported');
  if (p.architectures != null && !Array.isArray(p.architectures)) bad(label, 'architectures must be a list');
  if (p.archMap != null && !Array.isArray(p.archMap)) bad(label, 'archMap must be a list');
  const listed = [...(p.architectures ?? []), ...(p.archMap ?? []).map((m) => m?.architecture)];
  if (listed.length > 0 && !listed.includes(arch.scmp))
    bad(label, `the profile does not list this machine's architecture ${arch.scmp} (it lists ${listed.join(', ')})`);

  const kernel = ctx.kernel ?? kernelRelease();
  const table = arch.table();
  const syscalls = new Map<number, ResolvedRule[]>();
  const filtered = new Set<string>();
  const unknown = new Set<string>();
  const rules = [...(ctx.disableUserns ? NO_USERNS_RULES : []), ...(p.syscalls ?? [])];
  rules.forEach((r: SeccompRule, i) => {
    const where = `${label}: syscalls[${i - (ctx.disableUserns ? NO_USERNS_RULES.length : 0)}]`;
    if (typeof r !== 'object' || r === null) bad(where, 'a rule is an object');
    const names = r.names ?? (r.name != null ? [r.name] : undefined);
    if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string' || n === ''))
      bad(where, 'names must be a non-empty list of syscall names');
    const action = actionOf(r.action, errnoOf(r.errnoRet ?? undefined, where), where);
    if (r.args != null && !Array.isArray(r.args)) bad(where, 'args must be a list');
    const args: ArgCond[] = (r.args ?? []).map((a, j) => {
      const aw = `${where}.args[${j}]`;
      if (typeof a !== 'object' || a === null) bad(aw, 'an argument condition is an object');
      if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) bad(aw, `index ${JSON.stringify(a.index)} is not 0-5`);
      const op = OPS[a.op];
      if (!op) bad(aw, `unknown op '${a.op}' (one of ${Object.keys(OPS).join(', ')})`);
      const value = toBig(a.value, aw);
      const valueTwo = a.valueTwo == null ? 0n : toBig(a.valueTwo, aw);
      return { index: a.index, op, value, valueTwo };
    });
    if (!ruleApplies(r, ctx, arch.go, kernel, where)) return;
    for (const name of names as string[]) {
      const nr = table[name];
      if (nr === undefined) {
        unknown.add(name);
        continue;
      }
      filtered.add(name);
      const list = syscalls.get(nr) ?? [];
      // the first unconditional rule of a syscall wins; argument rules are tried before it
      if (args.length === 0 && list.some((x) => x.args.length === 0)) continue;
      list.push({ args, action });
      syscalls.set(nr, list);
    }
  });
  const prog = compileFilter({ arch: ctx.arch, defaultAction, syscalls });
  return {
    profile: label,
    defaultAction: p.defaultAction,
    filtered: [...filtered].sort(),
    unknown: [...unknown].sort(),
    instructions: prog.length,
    words: filterWords(prog),
  };
}

/** --seccomp FILE: read and parse, every problem as one line. */
export function readProfile(file: string): SeccompProfile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw usageError('--seccomp', `${file}: cannot read the profile (${code ?? String(e)})`);
  }
  try {
    return JSON.parse(text) as SeccompProfile;
  } catch (e) {
    throw usageError('--seccomp', `${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}
