// Capabilities, the BPF compiler (run through a reference interpreter) and profile parsing: pure.
import { describe, expect, test } from 'vitest';
import { hintFor } from '../../src/errors';
import type { SandboxOptions } from '../../src/options';
import type { HostFacts } from '../../src/parent/host';
import { buildPlan } from '../../src/plan/build';
import { compilePlan } from '../../src/plan/compile';
import { explainPlan } from '../../src/plan/explain';
import { inheritSecurity } from '../../src/plan/security';
import { AUDIT_ARCH, compileFilter, type Insn, runFilter, SECCOMP_RET } from '../../src/security/bpf';
import { allowedCaps, capMask, capSets, parseCapName } from '../../src/security/capabilities';
import { DEFAULT_PROFILE, defaultFilterTable, nativeArch, ownProfileKey, resolveProfile, ruleInputs, type SeccompProfile } from '../../src/security/seccomp';
import { syscallsAarch64, syscallsX86_64 } from '../../src/security/syscall-table';
import { nsrunError } from '../helpers/errors';

const usage = (f: () => unknown): string => nsrunError(f).message;

const X86: number = AUDIT_ARCH.x86_64;
const nr = (name: string) => syscallsX86_64()[name];
const ERRNO = (e: number) => (SECCOMP_RET.ERRNO | e) >>> 0;

/** The filter's words back into instructions. */
function program(words: number[]): Insn[] {
  const out: Insn[] = [];
  for (let i = 0; i < words.length; i += 2) {
    out.push({ code: words[i] & 0xffff, jt: (words[i] >>> 16) & 0xff, jf: (words[i] >>> 24) & 0xff, k: words[i + 1] });
  }
  return out;
}

/** How many instructions a run for `nr` executes until it returns at `end`. */
function depth(prog: Insn[], n: number, end: number): number {
  let count = 0;
  let acc = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    count++;
    if (pc === end) return count;
    const { code, jt, jf, k } = prog[pc];
    if ((code & 0x07) === 0x00) acc = k === 0 ? n : k === 4 ? X86 : 0;
    else if ((code & 0x07) === 0x05) {
      const op = code & 0xf0;
      if (op === 0x00) pc += k;
      else pc += (op === 0x10 ? acc === k : op === 0x20 ? acc > k : acc >= k) ? jt : jf;
    }
  }
  return count;
}

function filterFor(p: SeccompProfile, caps: Parameters<typeof resolveProfile>[1]['caps'] = allowedCaps({}), extra: Partial<Parameters<typeof resolveProfile>[1]> = {}) {
  return program(resolveProfile(p, { arch: 'x86_64', caps, kernel: '6.1.0', ...extra }, 'test').words);
}

describe('capabilities', () => {
  test('names: with or without CAP_, any case; unknown names are a usage error', () => {
    expect(parseCapName('NET_ADMIN', '--cap-add')).toBe('net_admin');
    expect(parseCapName('cap_sys_admin', '--cap-add')).toBe('sys_admin');
    expect(parseCapName('All', '--cap-drop')).toBe('all');
    expect(usage(() => parseCapName('CAP_FLY', '--cap-add'))).toBe("options: --cap-add: unknown capability 'CAP_FLY'");
  });
  test("the default set is Docker's 14", () => {
    expect(allowedCaps({})).toEqual(['chown', 'dac_override', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'net_bind_service', 'net_raw', 'sys_chroot', 'mknod', 'audit_write', 'setfcap']);
    expect(capMask(allowedCaps({}))).toEqual([0xa80425fb, 0]);
  });
  test('add, drop, ALL', () => {
    expect(allowedCaps({ capAdd: ['NET_ADMIN'], capDrop: ['KILL', 'net_raw'] })).not.toContain('kill');
    expect(allowedCaps({ capAdd: ['NET_ADMIN'] })).toContain('net_admin');
    expect(allowedCaps({ capDrop: ['ALL'] })).toEqual([]);
    expect(allowedCaps({ capDrop: ['ALL'], capAdd: ['chown'] })).toEqual(['chown']);
    expect(allowedCaps({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] })).toHaveLength(40);
    expect(capMask(allowedCaps({ capAdd: ['ALL'] }))).toEqual([0xffffffff, 0x1ff]);
    expect(usage(() => allowedCaps({ capAdd: ['kill'], capDrop: ['CAP_KILL'] }))).toContain('CAP_KILL is both added and dropped');
  });
  test('root keeps the set (no inheritable); another uid keeps only what was added, as ambient', () => {
    expect(capSets({}, 0)).toMatchObject({ inheritable: [], ambient: [] });
    expect(capSets({}, 1000)).toEqual({ bounding: allowedCaps({}), effective: [], permitted: [], inheritable: [], ambient: [] });
    expect(capSets({ capAdd: ['net_admin'] }, 1000)).toMatchObject({ effective: ['net_admin'], ambient: ['net_admin'], inheritable: ['net_admin'] });
  });
});

describe('BPF compiler (reference interpreter)', () => {
  const rules = new Map([
    [1, [{ args: [], action: ERRNO(1) }]],
    [2, [{ args: [{ index: 1, op: 'MASKED_EQ' as const, value: 0xffffffffn, valueTwo: 0x5412n }], action: ERRNO(13) }]],
    [3, [{ args: [{ index: 0, op: 'EQ' as const, value: 0x100000005n }], action: SECCOMP_RET.ALLOW }, { args: [], action: ERRNO(2) }]],
    [4, [{ args: [{ index: 2, op: 'NE' as const, value: 7n }], action: ERRNO(4) }]],
    [5, [{ args: [{ index: 0, op: 'GT' as const, value: 0x100000000n }], action: ERRNO(5) }]],
    [6, [{ args: [{ index: 0, op: 'GE' as const, value: 10n }, { index: 1, op: 'LT' as const, value: 20n }], action: ERRNO(6) }]],
    [7, [{ args: [{ index: 0, op: 'LE' as const, value: 0x200000003n }], action: ERRNO(7) }]],
  ]);
  const prog = compileFilter({ arch: 'x86_64', defaultAction: SECCOMP_RET.ALLOW, syscalls: rules });
  const run = (n: number, args: bigint[] = [], arch = X86) => runFilter(prog, { nr: n, arch, args });

  test('wrong architecture and the x32 ABI are killed', () => {
    expect(run(1, [], AUDIT_ARCH.aarch64)).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(run(0x40000000 + 39)).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(run(0xffffffff)).toBe(SECCOMP_RET.ALLOW); // -1: a tracer skipping a call
    expect(run(39)).toBe(SECCOMP_RET.ALLOW);
  });
  test('unconditional rules', () => {
    expect(run(1)).toBe(ERRNO(1));
  });
  test('MASKED_EQ on the low 32 bits ignores high bits (CVE-2019-10063)', () => {
    expect(run(2, [0n, 0x5412n])).toBe(ERRNO(13));
    expect(run(2, [0n, 0xdead00005412n])).toBe(ERRNO(13));
    expect(run(2, [0n, 0x5413n])).toBe(SECCOMP_RET.ALLOW);
  });
  test('EQ compares all 64 bits; the fallback applies otherwise', () => {
    expect(run(3, [0x100000005n])).toBe(SECCOMP_RET.ALLOW);
    expect(run(3, [5n])).toBe(ERRNO(2));
    expect(run(3, [0x200000005n])).toBe(ERRNO(2));
  });
  test('NE', () => {
    expect(run(4, [0n, 0n, 7n])).toBe(SECCOMP_RET.ALLOW);
    expect(run(4, [0n, 0n, 0x100000007n])).toBe(ERRNO(4));
    expect(run(4, [0n, 0n, 8n])).toBe(ERRNO(4));
  });
  test('GT, GE, LT, LE as unsigned 64-bit comparisons', () => {
    expect(run(5, [0x100000000n])).toBe(SECCOMP_RET.ALLOW);
    expect(run(5, [0x100000001n])).toBe(ERRNO(5));
    expect(run(5, [0x200000000n])).toBe(ERRNO(5));
    expect(run(5, [0xffffffffn])).toBe(SECCOMP_RET.ALLOW);
    expect(run(6, [10n, 19n])).toBe(ERRNO(6));
    expect(run(6, [9n, 19n])).toBe(SECCOMP_RET.ALLOW);
    expect(run(6, [10n, 20n])).toBe(SECCOMP_RET.ALLOW);
    expect(run(6, [10n, 0x100000000n])).toBe(SECCOMP_RET.ALLOW);
    expect(run(7, [0x200000003n])).toBe(ERRNO(7));
    expect(run(7, [0x100000009n])).toBe(ERRNO(7));
    expect(run(7, [0x200000004n])).toBe(SECCOMP_RET.ALLOW);
    expect(run(7, [0x300000000n])).toBe(SECCOMP_RET.ALLOW);
  });
  test('the binary search decides every syscall number as the rules say (against a reference)', () => {
    // rules on scattered numbers, some with argument conditions; the reference reads the map directly
    const syscalls = new Map<number, { args: { index: number; op: 'EQ'; value: bigint }[]; action: number }[]>();
    for (let n = 0; n < 460; n += 1 + ((n * 7) % 5)) {
      if (n % 3 === 0) syscalls.set(n, [{ args: [{ index: 0, op: 'EQ', value: BigInt(n) }], action: ERRNO(n % 4095) }, { args: [], action: SECCOMP_RET.ALLOW }]);
      else syscalls.set(n, [{ args: [], action: n % 2 ? ERRNO(1) : SECCOMP_RET.ALLOW }]);
    }
    const defaultAction = SECCOMP_RET.LOG;
    const reference = (n: number, arg: bigint) => {
      const rules = syscalls.get(n);
      if (!rules) return defaultAction;
      for (const r of rules) if (r.args.every((c) => c.value === arg)) return r.action >>> 0;
      return defaultAction;
    };
    const p = compileFilter({ arch: 'x86_64', defaultAction, syscalls });
    for (let n = 0; n < 520; n++)
      for (const arg of [0n, BigInt(n)]) expect(runFilter(p, { nr: n, arch: X86, args: [arg] }), `nr ${n} arg ${arg}`).toBe(reference(n, arg));
    // and nsrun's default profile: every number of the table and beyond, as a linear scan of its rules
    const prog = filterFor(DEFAULT_PROFILE);
    const resolved = resolveProfile(DEFAULT_PROFILE, { arch: 'x86_64', caps: allowedCaps({}), kernel: '6.1.0' }, 'test');
    for (let n = 0; n < 600; n++) {
      const name = Object.entries(syscallsX86_64()).find(([, v]) => v === n)?.[0];
      const want = name !== undefined && resolved.filtered.includes(name) && !['ioctl', 'personality', 'clone', 'unshare'].includes(name) ? ERRNO(1) : SECCOMP_RET.ALLOW;
      expect(runFilter(prog, { nr: n, arch: X86 }), `${name ?? n}`).toBe(want);
    }
  });
  test('a call is decided in a few comparisons, not one per rule', () => {
    const syscalls = new Map(Array.from({ length: 200 }, (_, i) => [i * 2, [{ args: [], action: ERRNO(1) }]]));
    const p = compileFilter({ arch: 'x86_64', defaultAction: SECCOMP_RET.ALLOW, syscalls });
    // count the instructions a run executes: a copy of the program whose returns report the pc
    let worst = 0;
    for (let n = 0; n < 420; n++) {
      const traced = p.map((i, pc) => ((i.code & 0x07) === 0x06 ? { ...i, k: pc } : i));
      const end = runFilter(traced, { nr: n, arch: X86 });
      worst = Math.max(worst, depth(p, n, end));
    }
    expect(worst).toBeLessThan(30); // a linear scan: up to 400
  });
  test('an allow list of 400 syscalls fits and keeps jumps in range', () => {
    const many = new Map(Array.from({ length: 400 }, (_, i) => [i, [{ args: [{ index: 0, op: 'EQ' as const, value: BigInt(i) }], action: SECCOMP_RET.ALLOW }]]));
    const p = compileFilter({ arch: 'x86_64', defaultAction: ERRNO(1), syscalls: many });
    expect(runFilter(p, { nr: 399, arch: X86, args: [399n] })).toBe(SECCOMP_RET.ALLOW);
    expect(runFilter(p, { nr: 399, arch: X86, args: [1n] })).toBe(ERRNO(1));
    expect(runFilter(p, { nr: 500, arch: X86 })).toBe(ERRNO(1));
  });
});

describe('the default profile', () => {
  const prog = filterFor(DEFAULT_PROFILE);
  const run = (name: string, args: bigint[] = []) => runFilter(prog, { nr: nr(name), arch: X86, args });
  test('denies the keyring, bpf, modules, kexec, clock changes, mounts, open_by_handle_at with EPERM', () => {
    for (const n of ['keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'init_module', 'finit_module', 'kexec_load', 'clock_settime', 'settimeofday', 'mount', 'umount2', 'fsopen', 'move_mount', 'open_by_handle_at', 'userfaultfd', 'iopl', 'swapon', 'reboot', 'acct', 'io_uring_setup'])
      expect(run(n), n).toBe(ERRNO(1));
  });
  test('allows ordinary calls, ptrace on kernels since 4.8, and unshare', () => {
    for (const n of ['read', 'openat', 'execve', 'clone', 'clone3', 'unshare', 'ptrace', 'capset', 'setresuid', 'prctl', 'wait4', 'kill', 'setpgid'])
      expect(run(n), n).toBe(SECCOMP_RET.ALLOW);
  });
  test('ioctl: TIOCSTI and TIOCLINUX denied, even with high bits set; others allowed', () => {
    expect(run('ioctl', [0n, 0x5412n])).toBe(ERRNO(1));
    expect(run('ioctl', [0n, 0x1_0000_5412n])).toBe(ERRNO(1));
    expect(run('ioctl', [0n, 0x541cn])).toBe(ERRNO(1));
    expect(run('ioctl', [0n, 0x5410n])).toBe(SECCOMP_RET.ALLOW); // TIOCSPGRP: nsrun-init needs it
  });
  test('personality: only the safe values', () => {
    expect(run('personality', [0n])).toBe(SECCOMP_RET.ALLOW);
    expect(run('personality', [0xffffffffn])).toBe(SECCOMP_RET.ALLOW);
    expect(run('personality', [0x0040000n])).toBe(ERRNO(1)); // ADDR_NO_RANDOMIZE
  });
  test('a capability the kernel would demand lifts its rule, as in Docker', () => {
    const withAdmin = filterFor(DEFAULT_PROFILE, allowedCaps({ capAdd: ['SYS_ADMIN'] }));
    expect(runFilter(withAdmin, { nr: nr('mount'), arch: X86 })).toBe(SECCOMP_RET.ALLOW);
    expect(runFilter(withAdmin, { nr: nr('keyctl'), arch: X86 })).toBe(ERRNO(1));
  });
  test('ptrace is denied on kernels older than 4.8', () => {
    const old = filterFor(DEFAULT_PROFILE, allowedCaps({}), { kernel: '4.4.0-200' });
    expect(runFilter(old, { nr: nr('ptrace'), arch: X86 })).toBe(ERRNO(1));
  });
  test('--disable-userns: CLONE_NEWUSER refused in clone and unshare, clone3 ENOSYS', () => {
    const p = filterFor(DEFAULT_PROFILE, allowedCaps({}), { disableUserns: true });
    const r = (name: string, args: bigint[] = []) => runFilter(p, { nr: nr(name), arch: X86, args });
    expect(r('unshare', [0x10000000n])).toBe(ERRNO(1));
    expect(r('unshare', [0x10020000n])).toBe(ERRNO(1));
    expect(r('unshare', [0x20000n])).toBe(SECCOMP_RET.ALLOW);
    expect(r('clone', [0x10000000n | 17n])).toBe(ERRNO(1));
    expect(r('clone', [17n])).toBe(SECCOMP_RET.ALLOW);
    expect(r('clone3')).toBe(ERRNO(38));
    expect(r('keyctl')).toBe(ERRNO(1));
  });
  test('its filter is shared by sandboxes whose capabilities differ in nothing a rule tests', () => {
    const key = (caps: Parameters<typeof resolveProfile>[1]['caps'], kernel = '6.1.0', disableUserns = false) =>
      ownProfileKey(DEFAULT_PROFILE, { arch: 'x86_64', caps, kernel, disableUserns }, 'default');
    expect(key(allowedCaps({}))).toBe(key([]));
    expect(key(allowedCaps({ capDrop: ['CHOWN'] }))).toBe(key([]));
    // a capability that lifts a rule, a kernel that adds one, --disable-userns: another filter
    expect(key(allowedCaps({ capAdd: ['SYS_ADMIN'] }))).not.toBe(key([]));
    expect(key(allowedCaps({ capAdd: ['SYS_TIME'] }))).not.toBe(key(allowedCaps({ capAdd: ['SYS_ADMIN'] })));
    expect(key([], '4.4.0')).not.toBe(key([]));
    expect(key([], '6.1.0', true)).not.toBe(key([]));
  });
  test('the table the CLI bundle carries holds, under each key, what compiling gives', () => {
    const table = defaultFilterTable('x86_64', [allowedCaps({}), allowedCaps({ capAdd: ['SYS_ADMIN'] }), []], '6.1.0');
    const contexts = [allowedCaps({}), allowedCaps({ capAdd: ['SYS_ADMIN'] })].flatMap((caps) =>
      [false, true].map((disableUserns) => ({ arch: 'x86_64' as const, caps, kernel: '6.1.0', disableUserns })));
    expect(Object.keys(table.filters).sort()).toEqual(contexts.map((c) => ownProfileKey(DEFAULT_PROFILE, c, 'default')).sort());
    expect(table.inputs).toEqual(ruleInputs(DEFAULT_PROFILE));
    for (const c of contexts) {
      const fresh = resolveProfile(DEFAULT_PROFILE, { ...c, caps: [...c.caps] }, 'default');
      expect(table.filters[ownProfileKey(DEFAULT_PROFILE, c, 'default')]).toEqual(fresh);
    }
  });
  test('aarch64 compiles with its own numbers and arch check', () => {
    const p = program(resolveProfile(DEFAULT_PROFILE, { arch: 'aarch64', caps: [], kernel: '6.1' }, 'default').words);
    expect(runFilter(p, { nr: syscallsAarch64().keyctl, arch: AUDIT_ARCH.aarch64 })).toBe(ERRNO(1));
    expect(runFilter(p, { nr: syscallsAarch64().getpid, arch: AUDIT_ARCH.aarch64 })).toBe(SECCOMP_RET.ALLOW);
    expect(runFilter(p, { nr: syscallsAarch64().getpid, arch: X86 })).toBe(SECCOMP_RET.KILL_PROCESS);
  });
});

describe('Docker/OCI profiles', () => {
  test('an allow list with defaultErrnoRet, errnoRet, includes/excludes and arg ops', () => {
    const p: SeccompProfile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        { names: ['read', 'write', 'not_a_syscall_here'], action: 'SCMP_ACT_ALLOW' },
        { name: 'getpid', action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['chroot'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['amd64'] } },
        { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 9, op: 'SCMP_CMP_NE' }] },
        { names: ['close'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '99.0' } },
      ],
    };
    const plan = resolveProfile(p, { arch: 'x86_64', caps: allowedCaps({}), kernel: '6.1' }, 'p.json');
    expect(plan.unknown).toEqual(['not_a_syscall_here']);
    const prog = program(plan.words);
    const run = (name: string, args: bigint[] = []) => runFilter(prog, { nr: nr(name), arch: X86, args });
    expect(run('read')).toBe(SECCOMP_RET.ALLOW);
    expect(run('getpid')).toBe(ERRNO(13));
    expect(run('mount')).toBe(ERRNO(38));
    expect(run('chroot')).toBe(ERRNO(38));
    expect(run('kill', [1n, 15n])).toBe(SECCOMP_RET.ALLOW);
    expect(run('kill', [1n, 9n])).toBe(ERRNO(38));
    expect(run('close')).toBe(ERRNO(38));
    expect(run('openat')).toBe(ERRNO(38));
  });
  const bad = (p: unknown) => usage(() => resolveProfile(p as SeccompProfile, { arch: 'x86_64', caps: [], kernel: '6.1' }, 'p.json'));
  test.each([
    [{}, "options: --seccomp: p.json: defaultAction: action is missing"],
    [{ defaultAction: 'SCMP_ACT_MAYBE' }, "options: --seccomp: p.json: defaultAction: unknown action 'SCMP_ACT_MAYBE'"],
    [{ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_PPC64LE'] }, "does not list this machine's architecture SCMP_ARCH_X86_64"],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: {} }, 'syscalls must be a list'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ALLOW' }] }, 'syscalls[0]: names must be a non-empty list'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }] }, 'SCMP_ACT_NOTIFY needs a seccomp agent'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 5000 }] }, 'errnoRet 5000 is not an errno'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }, 'args[0]: index 6 is not 0-5'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_LIKE' }] }] }, "unknown op 'SCMP_CMP_LIKE'"],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }, '-1 is not a non-negative integer'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG'] }, 'flags (SECCOMP_FILTER_FLAG_*) are not supported'],
  ])('bad profile %#', (p, message) => {
    expect(bad(p)).toContain(message);
  });
  test('64-bit values can be given as strings', () => {
    const p = resolveProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: '0xffffffffffffffff', op: 'SCMP_CMP_EQ' }] }] }, { arch: 'x86_64', caps: [] }, 'p');
    expect(runFilter(program(p.words), { nr: nr('kill'), arch: X86, args: [-1n] })).toBe(ERRNO(1));
  });
  test('other architectures are refused with a clear error', () => {
    expect(nativeArch('x64')).toBe('x86_64');
    expect(nativeArch('arm64')).toBe('aarch64');
    expect(usage(() => nativeArch('riscv64'))).toContain('no syscall table for this architecture (riscv64)');
  });
});

describe('security steps in a plan', () => {
  const rootFacts: HostFacts = {
    euid: 0, egid: 0, userName: 'root', supported: ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup'], subuid: [], subgid: [],
    stdinTty: false, stdoutTty: false, stderrTty: false, capEff: allowedCaps({ capAdd: ['ALL'] }),
  };
  const userFacts: HostFacts = { ...rootFacts, euid: 1000, egid: 1000, userName: 'alice', capEff: [] };
  const kinds = (o: Partial<SandboxOptions>, f = rootFacts) => buildPlan({ command: ['true'], stdio: 'inherit', ...o }, f).steps.map((s) => s.kind);

  test('bounding set before the uid switch; capset after it; no_new_privs and seccomp right before exec', () => {
    expect(kinds({ namespaces: ['pid'], uid: 5 }).slice(-8)).toEqual(['control-fd', 'cap-bounding', 'identity', 'capabilities', 'die-with-parent', 'no-new-privs', 'seccomp', 'exec']);
  });
  test('--allow-new-privs: the filter goes first, while CAP_SYS_ADMIN is there', () => {
    expect(kinds({ namespaces: ['pid'], allowNewPrivs: true }).slice(-5)).toEqual(['seccomp', 'cap-bounding', 'capabilities', 'die-with-parent', 'exec']);
  });
  test('--seccomp=unconfined: no filter step; with --disable-userns, a filter of the userns rules only', () => {
    expect(kinds({ seccomp: 'unconfined' })).not.toContain('seccomp');
    const p = buildPlan({ command: ['true'], stdio: 'inherit', seccomp: 'unconfined', disableUserns: true }, rootFacts);
    expect(p.security?.seccomp?.filtered).toEqual(['clone', 'clone3', 'unshare']);
  });
  test('keepcaps only when a non-root uid keeps added capabilities', () => {
    const steps = buildPlan({ command: ['true'], stdio: 'inherit', namespaces: ['pid'], uid: 5, capAdd: ['NET_ADMIN'] }, rootFacts).steps;
    expect(steps.find((s) => s.kind === 'cap-bounding')).toMatchObject({ keepCaps: true });
    expect(steps.find((s) => s.kind === 'capabilities')).toMatchObject({ sets: { ambient: ['net_admin'] } });
  });
  test('unprivileged without a user namespace: nothing to drop, --cap-add and --allow-new-privs refused', () => {
    expect(kinds({}, userFacts)).not.toContain('cap-bounding');
    expect(usage(() => kinds({ capAdd: ['KILL'] }, userFacts))).toContain('cannot add capabilities: you are not root and the sandbox has no user namespace');
    expect(usage(() => kinds({ allowNewPrivs: true }, userFacts))).toContain('a seccomp filter without no_new_privs needs CAP_SYS_ADMIN');
    // in a user namespace of its own it is privileged there
    expect(kinds({ namespaces: ['user'] }, userFacts)).toContain('cap-bounding');
  });
  test('the wire plan: cap masks as 32-bit halves, the filter as word pairs', () => {
    const p = buildPlan({ command: ['true'], stdio: 'inherit', namespaces: ['user'], capAdd: ['CHECKPOINT_RESTORE'] }, rootFacts);
    const wire = compilePlan(p, { initFd: 9, controlFd: 10 }).wire.steps;
    expect(wire.find((s) => s.op === 40)).toMatchObject({ ids: [0xa80425fb, 0x100], n1: 63, n2: 0 });
    expect(wire.find((s) => s.op === 41)?.ids).toEqual([0xa80425fb, 0x100, 0xa80425fb, 0x100, 0, 0, 0, 0]);
    const filter = wire.find((s) => s.op === 43)!;
    expect(filter.ids!.length % 2).toBe(0);
    expect(runFilter(program([...filter.ids!]), { nr: nr('keyctl'), arch: X86 })).toBe(ERRNO(1));
  });
  test('--explain sums up what the command runs with', () => {
    const text = explainPlan(buildPlan({ command: ['true'], stdio: 'inherit', namespaces: ['user'], uid: 0, disableUserns: true }, rootFacts)).join('\n');
    expect(text).toContain('the command runs with:');
    expect(text).toContain('capabilities  CAP_CHOWN, CAP_DAC_OVERRIDE');
    expect(text).toContain('no_new_privs  1');
    expect(text).toMatch(/seccomp +default profile, default allow, rules for: .*keyctl/);
    expect(text).toContain('userns        cannot be created inside');
  });
  test('nsrun exec inherits a named sandbox\'s options; its own replace them (capabilities as one)', () => {
    const target = { capAdd: ['SYS_ADMIN'], seccomp: 'unconfined' as const, disableUserns: true };
    expect(inheritSecurity(target, {})).toEqual({ capAdd: ['SYS_ADMIN'], capDrop: undefined, allowNewPrivs: undefined, seccomp: 'unconfined', disableUserns: true });
    expect(inheritSecurity(target, { capDrop: ['ALL'], seccomp: 'default' })).toMatchObject({ capAdd: undefined, capDrop: ['ALL'], seccomp: 'default', disableUserns: true });
    expect(inheritSecurity(undefined, { capAdd: ['KILL'] })).toEqual({ capAdd: ['KILL'] });
  });
  test('hints for the new steps', () => {
    expect(hintFor('seccomp', 'EACCES', {})).toContain('--allow-new-privs');
    expect(hintFor('seccomp', 'EINVAL', {})).toContain('--seccomp=unconfined');
    expect(hintFor('capabilities', 'EPERM', {})).toContain('capset');
    expect(hintFor('cap-bounding', 'EPERM', {})).toContain('CAP_SETPCAP');
    expect(hintFor('exec', 'EPERM', {})).toContain('seccomp');
  });
});
