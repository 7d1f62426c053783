// --preserve-fds, --rlimit and the fault hook as plan data: parsing, checks, step order, the wire
// form the child executes. No addon, no privileges.
import { describe, expect, test } from 'vitest';
import { OP } from '../../src/native/binding';
import type { SandboxOptions } from '../../src/options';
import { parseFault, withFaultPauses } from '../../src/parent/fault';
import type { HostFacts } from '../../src/parent/host';
import { buildPlan } from '../../src/plan/build';
import { compilePlan } from '../../src/plan/compile';
import { explainPlan } from '../../src/plan/explain';
import { parseLimit, parseRlimitArg, resolveRlimits, RLIM_INFINITY } from '../../src/plan/rlimit';
import { nsrunError } from '../helpers/errors';

const facts: HostFacts = {
  euid: 0, egid: 0, userName: 'root', supported: ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup', 'time'], subuid: [], subgid: [],
  stdinTty: false, stdoutTty: false, stderrTty: false,
};
const plan = (o: Partial<SandboxOptions>) => buildPlan({ command: ['true'], stdio: 'inherit', ...o }, facts);
const usage = (fn: () => unknown): string => nsrunError(fn).message;

describe('--rlimit', () => {
  test('NAME=SOFT[:HARD]: one value sets both, sizes for byte limits, unlimited, any case', () => {
    expect(parseRlimitArg('nofile=64:128')).toEqual(['nofile', { soft: 64, hard: 128 }]);
    expect(parseRlimitArg('NOFILE=64')).toEqual(['nofile', 64]);
    expect(parseRlimitArg('RLIMIT_AS=1g:unlimited')).toEqual(['as', { soft: 2 ** 30, hard: 'unlimited' }]);
    expect(parseLimit('64k', 'stack')).toBe(65536);
    expect(parseLimit('infinity', 'cpu')).toBe('unlimited');
    expect(resolveRlimits({ core: 0, nproc: { soft: 10, hard: 'unlimited' } })).toEqual([
      { name: 'core', soft: 0, hard: 0 },
      { name: 'nproc', soft: 10, hard: 'unlimited' },
    ]);
  });
  test('bad input is refused with the name and what is wrong', () => {
    expect(usage(() => parseRlimitArg('nofile=5k'))).toBe("options: --rlimit: nofile: '5k' is not a number (open files) or unlimited");
    expect(usage(() => resolveRlimits({ nofile: { soft: 'unlimited', hard: 5 } }))).toBe('options: --rlimit: nofile: the soft limit unlimited is above the hard limit 5');
    expect(usage(() => resolveRlimits({ nofile: 1, NOFILE: 2 }))).toBe('options: --rlimit: nofile is given more than once');
    expect(usage(() => resolveRlimits({ nofile: -1 }))).toBe("options: --rlimit: nofile: -1 is not a limit (a non-negative integer or 'unlimited')");
    expect(usage(() => plan({ rlimits: { files: 1 } }))).toContain("options: --rlimit: 'files' is not a resource limit");
  });
  test('one prlimit step per limit, after the identity switch, before capabilities are dropped (raising needs CAP_SYS_RESOURCE); the wire form is decimal text', () => {
    const p = plan({ namespaces: ['pid'], uid: 0, rlimits: { nofile: { soft: 64, hard: 128 }, as: 'unlimited' } });
    const kinds = p.steps.map((s) => s.kind);
    expect(kinds.indexOf('rlimit')).toBeGreaterThan(kinds.indexOf('identity'));
    expect(kinds.lastIndexOf('rlimit')).toBeLessThan(kinds.indexOf('die-with-parent'));
    if (kinds.includes('capabilities')) expect(kinds.lastIndexOf('rlimit')).toBeLessThan(kinds.indexOf('capabilities'));
    const wire = compilePlan(p, { initFd: 10, controlFd: 11 }).wire.steps.filter((s) => s.op === OP.SETRLIMIT);
    expect(wire).toEqual([
      { op: OP.SETRLIMIT, n1: 7, s1: '64', s2: '128' },
      { op: OP.SETRLIMIT, n1: 9, s1: RLIM_INFINITY, s2: RLIM_INFINITY },
    ]);
    expect(explainPlan(p).join('\n')).toContain('prlimit(RLIMIT_AS, soft unlimited, hard unlimited)');
  });
});

describe('--preserve-fds', () => {
  test('after close-fds, each fd is kept by dup2 onto itself (which clears close-on-exec)', () => {
    const p = plan({ namespaces: ['pid'], preserveFds: 2 });
    const kinds = p.steps.map((s) => s.kind);
    expect(kinds.indexOf('preserve-fds')).toBe(kinds.indexOf('close-fds') + 1);
    const c = compilePlan(p, { initFd: 10, controlFd: 11 });
    const i = c.wire.steps.findIndex((s) => s.op === OP.CLOSE_FROM);
    expect(c.wire.steps.slice(i, i + 3)).toEqual([{ op: OP.CLOSE_FROM, n1: 3 }, { op: OP.DUP2, n1: 3, n2: 3 }, { op: OP.DUP2, n1: 4, n2: 4 }]);
    expect(c.meta.slice(i + 1, i + 3)).toEqual([{ step: 'preserve-fds', object: 'fd 3' }, { step: 'preserve-fds', object: 'fd 4' }]);
    expect(explainPlan(p).join('\n')).toContain('keep fds 3-4 open across exec (--preserve-fds 2)');
  });
  test('an fd nsrun opened for the child inside the range is an internal error, not a silent leak', () => {
    expect(() => compilePlan(plan({ preserveFds: 3 }), { initFd: 4, controlFd: 11 })).toThrow(/nsrun's fd 4 is inside --preserve-fds/);
  });
  test('the count is checked', () => {
    expect(usage(() => plan({ preserveFds: -1 }))).toBe('options: --preserve-fds: -1 is not a number of fds (0-1024)');
    expect(usage(() => plan({ preserveFds: 1.5 }))).toBe('options: --preserve-fds: 1.5 is not a number of fds (0-1024)');
  });
});

describe('fault hook', () => {
  test('POINT[#N][:after] and trace', () => {
    expect(parseFault('mount-point#3:after')).toEqual({ point: 'mount-point', nth: 3, when: 'after' });
    expect(parseFault('clone')).toEqual({ point: 'clone', nth: 1, when: 'before' });
    expect(parseFault('trace')).toMatchObject({ point: 'trace' });
    expect(parseFault(undefined)).toBeUndefined();
    expect(() => parseFault('Clone!')).toThrow(/is not POINT/);
  });
  test('a plan without pauses gets them, and the wait for the parent first (a join has none)', () => {
    const p = plan({});
    expect(p.step).toBe(false);
    const f = withFaultPauses(p);
    expect(f.step).toBe(true);
    expect(f.steps[0].kind).toBe('await-id-maps');
    expect(f.steps.slice(1)).toEqual(p.steps);
    expect(withFaultPauses(f)).toBe(f);
  });
});
