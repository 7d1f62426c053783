// Classic BPF for seccomp: a tiny assembler with labels, and the compiler from resolved rules to a
// program. Pure; the child only hands the finished instructions to seccomp(2).
//
// Program shape:
//   load arch; wrong architecture -> kill the process
//   load nr; (x86_64) nr >= 0x40000000 (the x32 ABI), except -1 -> kill the process
//   a binary search over the syscall numbers with rules (nr >= M ? right half : left half), down
//   to runs of at most LEAF numbers, each:  nr == N ? its action or block : next;  then the default
//   (a call is decided in ~log2(rules) + LEAF comparisons, not one per rule: every allowed call
//   of the sandbox, nsrun-init's included, runs the filter)
//   blocks: the argument rules of one syscall in order, first match returns its action, then the
//           syscall's own fallback (an unconditional rule, or the default)

export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

export const AUDIT_ARCH = { x86_64: 0xc000003e, aarch64: 0xc00000b7 } as const;
export type Arch = keyof typeof AUDIT_ARCH;
export const X32_SYSCALL_BIT = 0x40000000;
/** The kernel refuses longer programs (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

// opcodes (linux/bpf_common.h)
const BPF_LD = 0x00, BPF_ALU = 0x04, BPF_JMP = 0x05, BPF_RET = 0x06;
const BPF_W = 0x00, BPF_ABS = 0x20, BPF_K = 0x00;
const BPF_AND = 0x50;
const BPF_JA = 0x00, BPF_JEQ = 0x10, BPF_JGT = 0x20, BPF_JGE = 0x30;

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// seccomp_data offsets: nr, arch, instruction_pointer, args[6] (little-endian 64-bit words)
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLo = (i: number) => 16 + 8 * i;
const argHi = (i: number) => 20 + 8 * i;

type Target = string | number; // a label, or 0 = the next instruction
interface Pending {
  code: number;
  k: number;
  jt?: Target;
  jf?: Target;
  ja?: string;
}

class Assembler {
  private code: (Pending | { label: string })[] = [];
  private n = 0;
  private next = 0;

  fresh(prefix: string): string {
    return `${prefix}${this.next++}`;
  }
  label(name: string): void {
    this.code.push({ label: name });
  }
  ld(offset: number): void {
    this.code.push({ code: BPF_LD | BPF_W | BPF_ABS, k: offset });
  }
  and(k: number): void {
    this.code.push({ code: BPF_ALU | BPF_AND | BPF_K, k: k >>> 0 });
  }
  jmp(op: number, k: number, jt: Target, jf: Target): void {
    this.code.push({ code: BPF_JMP | op | BPF_K, k: k >>> 0, jt, jf });
  }
  ja(label: string): void {
    this.code.push({ code: BPF_JMP | BPF_JA, k: 0, ja: label });
  }
  ret(k: number): void {
    this.code.push({ code: BPF_RET | BPF_K, k: k >>> 0 });
  }

  assemble(): Insn[] {
    const at = new Map<string, number>();
    let pc = 0;
    for (const c of this.code) {
      if ('label' in c) at.set(c.label, pc);
      else pc++;
    }
    this.n = pc;
    const out: Insn[] = [];
    const rel = (from: number, t: Target | undefined, short: boolean): number => {
      if (t === undefined || typeof t === 'number') return t ?? 0;
      const dest = at.get(t);
      if (dest === undefined) throw new Error(`bpf: undefined label ${t}`);
      const d = dest - from - 1;
      if (d < 0 || (short && d > 255)) throw new Error(`bpf: jump to ${t} out of range (${d})`);
      return d;
    };
    for (const c of this.code) {
      if ('label' in c) continue;
      const pcNow = out.length;
      if (c.ja !== undefined) out.push({ code: c.code, jt: 0, jf: 0, k: rel(pcNow, c.ja, false) });
      else out.push({ code: c.code, k: c.k, jt: rel(pcNow, c.jt, true), jf: rel(pcNow, c.jf, true) });
    }
    if (out.length !== this.n) throw new Error('bpf: assembler miscount');
    return out;
  }
}

export type CmpOp = 'EQ' | 'NE' | 'LT' | 'LE' | 'GT' | 'GE' | 'MASKED_EQ';

/** One argument condition: args[index] OP value (MASKED_EQ: (args[index] & value) == valueTwo). */
export interface ArgCond {
  index: number;
  op: CmpOp;
  value: bigint;
  valueTwo?: bigint;
}

export interface ResolvedRule {
  /** All must hold (empty: the rule always matches). */
  args: ArgCond[];
  /** SECCOMP_RET_* value including its data (errno). */
  action: number;
}

export interface ResolvedFilter {
  arch: Arch;
  defaultAction: number;
  /** Rules per syscall number, in profile order. */
  syscalls: Map<number, ResolvedRule[]>;
}

const lo32 = (v: bigint) => Number(v & 0xffffffffn);
const hi32 = (v: bigint) => Number((v >> 32n) & 0xffffffffn);

/** Emits code that falls through when the condition holds and jumps to `fail` when not. */
function emitCond(a: Assembler, c: ArgCond, fail: string): void {
  const v = BigInt.asUintN(64, c.value);
  switch (c.op) {
    case 'EQ':
    case 'MASKED_EQ': {
      const mask = c.op === 'MASKED_EQ' ? v : 0xffffffffffffffffn;
      const want = c.op === 'MASKED_EQ' ? BigInt.asUintN(64, c.valueTwo ?? 0n) : v;
      if (hi32(mask) !== 0) {
        a.ld(argHi(c.index));
        if (hi32(mask) !== 0xffffffff) a.and(hi32(mask));
        a.jmp(BPF_JEQ, hi32(want), 0, fail); // bits of want outside the mask never match
      } else if (hi32(want) !== 0) {
        a.ja(fail); // (x & 0) can never equal a nonzero value
        return;
      }
      if (lo32(mask) !== 0) {
        a.ld(argLo(c.index));
        if (lo32(mask) !== 0xffffffff) a.and(lo32(mask));
        a.jmp(BPF_JEQ, lo32(want), 0, fail);
      } else if (lo32(want) !== 0) a.ja(fail);
      return;
    }
    case 'NE': {
      // holds unless both halves are equal
      const ok = a.fresh('ne');
      a.ld(argHi(c.index));
      a.jmp(BPF_JEQ, hi32(v), 0, ok);
      a.ld(argLo(c.index));
      a.jmp(BPF_JEQ, lo32(v), fail, 0);
      a.label(ok);
      return;
    }
    default: {
      // unsigned 64-bit order: decide on the high word unless it is equal, then on the low word
      const ok = a.fresh('cmp');
      const lowWord = a.fresh('low');
      a.ld(argHi(c.index));
      const strictOk = c.op === 'GT' || c.op === 'GE'; // hi > vhi holds for GT/GE, fails for LT/LE
      a.jmp(BPF_JGT, hi32(v), strictOk ? ok : fail, 0);
      a.jmp(BPF_JEQ, hi32(v), lowWord, strictOk ? fail : ok);
      a.label(lowWord);
      a.ld(argLo(c.index));
      if (c.op === 'GT') a.jmp(BPF_JGT, lo32(v), 0, fail);
      else if (c.op === 'GE') a.jmp(BPF_JGE, lo32(v), 0, fail);
      else if (c.op === 'LT') a.jmp(BPF_JGE, lo32(v), fail, 0);
      else a.jmp(BPF_JGT, lo32(v), fail, 0); // LE
      a.label(ok);
      return;
    }
  }
}

/** The longest run of syscall numbers compared one by one at the bottom of the search. */
const LEAF = 4;

export function compileFilter(f: ResolvedFilter): Insn[] {
  const a = new Assembler();
  a.ld(OFF_ARCH);
  a.jmp(BPF_JEQ, AUDIT_ARCH[f.arch], 1, 0);
  a.ret(SECCOMP_RET.KILL_PROCESS);
  a.ld(OFF_NR);
  if (f.arch === 'x86_64') {
    // x32 calls have bit 30 set; -1 is not one: a tracer sets it to skip a call (seccomp runs
    // again after ptrace), and it matches no rule below
    a.jmp(BPF_JGE, X32_SYSCALL_BIT, 0, 2);
    a.jmp(BPF_JEQ, 0xffffffff, 1, 0);
    a.ret(SECCOMP_RET.KILL_PROCESS);
  }
  const blocks: [string, ResolvedRule[]][] = [];
  // each syscall to decide: its number and what a match does (an action, or a block of arg rules)
  const entries: { nr: number; action?: number; block?: string }[] = [];
  for (const [nr, rules] of [...f.syscalls].sort((x, y) => x[0] - y[0])) {
    const conditional = rules.filter((r) => r.args.length > 0);
    const fallback = rules.find((r) => r.args.length === 0)?.action ?? f.defaultAction;
    if (conditional.length === 0) {
      if (fallback === f.defaultAction) continue; // nothing to say about it
      entries.push({ nr, action: fallback });
      continue;
    }
    const block = a.fresh('sys');
    entries.push({ nr, block });
    blocks.push([block, [...conditional, { args: [], action: fallback }]]);
  }
  const search = (lo: number, hi: number): void => {
    if (hi - lo <= LEAF) {
      for (const e of entries.slice(lo, hi)) {
        a.jmp(BPF_JEQ, e.nr, 0, 1);
        if (e.block !== undefined) a.ja(e.block);
        else a.ret(e.action!);
      }
      a.ret(f.defaultAction);
      return;
    }
    const mid = (lo + hi) >> 1;
    const upper = a.fresh('ge');
    // (jt/jf reach 255 instructions at most: the far half goes through a ja)
    a.jmp(BPF_JGE, entries[mid].nr, 0, 1);
    a.ja(upper);
    search(lo, mid);
    a.label(upper);
    search(mid, hi);
  };
  search(0, entries.length);
  for (const [block, rules] of blocks) {
    a.label(block);
    for (const r of rules) {
      if (r.args.length === 0) {
        a.ret(r.action);
        break;
      }
      const fail = a.fresh('rule');
      for (const c of r.args) emitCond(a, c, fail);
      a.ret(r.action);
      a.label(fail);
    }
  }
  const prog = a.assemble();
  if (prog.length > BPF_MAXINSNS) throw new Error(`the filter has ${prog.length} instructions, more than the kernel's ${BPF_MAXINSNS}`);
  return prog;
}

/** struct sock_filter as pairs of 32-bit words (code | jt << 16 | jf << 24, k), little-endian. */
export function filterWords(prog: Insn[]): number[] {
  const out: number[] = [];
  for (const i of prog) out.push((i.code | (i.jt << 16) | (i.jf << 24)) >>> 0, i.k >>> 0);
  return out;
}

/** A reference interpreter (tests): runs the program on one seccomp_data. */
export function runFilter(prog: Insn[], data: { nr: number; arch: number; args?: bigint[] }): number {
  const word = (off: number): number => {
    if (off === OFF_NR) return data.nr >>> 0;
    if (off === OFF_ARCH) return data.arch >>> 0;
    const i = Math.floor((off - 16) / 8);
    const v = BigInt.asUintN(64, data.args?.[i] ?? 0n);
    return (off - 16) % 8 === 0 ? lo32(v) : hi32(v);
  };
  let acc = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc];
    const cls = code & 0x07;
    if (cls === BPF_LD) acc = word(k);
    else if (cls === BPF_ALU) acc = (acc & k) >>> 0;
    else if (cls === BPF_RET) return k >>> 0;
    else if (cls === BPF_JMP) {
      const op = code & 0xf0;
      if (op === BPF_JA) pc += k;
      else {
        const t = op === BPF_JEQ ? acc === k : op === BPF_JGT ? acc > k : acc >= k;
        pc += t ? jt : jf;
      }
    } else throw new Error(`bpf: unexpected opcode ${code}`);
  }
  throw new Error('bpf: fell off the end');
}
