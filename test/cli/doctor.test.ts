// `nsrun doctor` on this machine, as a user runs it: every check present, text and JSON agreeing,
// and verdicts that match what the test itself can see of the host (computed here independently).
import * as fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CHECKS, type Check } from '../../src/doctor';
import { nsrun } from '../helpers/cli';
import { gated, hasPython, isRoot, NOBODY, timeNamespaces, unprivilegedUserns } from '../helpers/caps';

const VERDICTS = ['ok', 'warn', 'fail', 'info'];

function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8'))!;
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
}

const unfiltered = /^Seccomp:\s*0$/m.test(fs.readFileSync('/proc/self/status', 'utf8'));
const fstypes = fs
  .readFileSync('/proc/self/mountinfo', 'utf8')
  .split('\n')
  .map((l) => l.split(' - ')[1]?.split(' ')[0]);
const expectedLayout = fstypes.includes('cgroup') && fstypes.includes('cgroup2') ? 'hybrid' : fstypes.includes('cgroup2') ? 'v2' : fstypes.includes('cgroup') ? 'v1' : 'none';

function runJson(opts: Parameters<typeof nsrun>[1] = {}): { status: number | null; checks: Record<string, Check>; list: Check[] } {
  const r = nsrun(['doctor', '--json'], opts);
  expect(r.stderr).toBe('');
  const list = JSON.parse(r.stdout) as Check[];
  return { status: r.status, list, checks: Object.fromEntries(list.map((c) => [c.id, c])) };
}

describe('nsrun doctor on this host', () => {
  const text = nsrun(['doctor']);
  const json = runJson();

  test('exit 0: nothing fails here, and the summary says so', () => {
    expect(text.stderr).toBe('');
    expect(text.status).toBe(0);
    expect(json.status).toBe(0);
    expect(json.list.filter((c) => c.verdict === 'fail')).toEqual([]);
    expect(text.stdout.trimEnd().split('\n').pop()).toMatch(/^23 checks: \d+ ok, \d+ warn, 0 fail, \d+ info; nothing fails$/);
  });

  test('every check is there once, in order, in text and in JSON', () => {
    expect(json.list.map((c) => c.id)).toEqual(CHECKS.map((c) => c.id));
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(CHECKS.length + 1);
    lines.slice(0, -1).forEach((line, i) => {
      const c = json.list[i];
      expect(line.startsWith(`${c.verdict.padEnd(6)}${c.title} `)).toBe(true);
      expect(line).toContain(c.detail);
      if (c.verdict !== 'ok' && c.fix) expect(line.endsWith(` — fix: ${c.fix}`)).toBe(true);
    });
  });

  test('JSON entries are {id, title, verdict, detail, fix?}, with a fix for anything not ok', () => {
    for (const c of json.list) {
      expect(VERDICTS).toContain(c.verdict);
      expect(Object.keys(c).sort()).toEqual(c.fix === undefined ? ['detail', 'id', 'title', 'verdict'] : ['detail', 'fix', 'id', 'title', 'verdict']);
      expect(c.detail.length).toBeGreaterThan(0);
      if (c.verdict !== 'ok') expect(c.fix, c.id).toBeTruthy();
    }
  });

  const probeable = hasPython && unfiltered && kernelAtLeast(5, 11);
  test.skipIf(!probeable)(gated(probeable, 'kernel features are probed and all supported', 'needs python3, no seccomp filter and Linux 5.11+'), () => {
    for (const id of ['pidfd-open', 'clone3', 'setns-pidfd', 'openat2', 'close-range', 'mount-api', 'memfd']) expect(json.checks[id].verdict, id).toBe('ok');
    expect(json.checks['close-range'].detail).toContain('CLOSE_RANGE_CLOEXEC');
    expect(json.checks.kernel).toMatchObject({ verdict: 'ok', detail: `Linux ${fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}` });
  });

  test('time namespaces as /proc/self/ns shows them', () => {
    expect(json.checks['time-ns'].verdict).toBe(timeNamespaces ? 'ok' : 'warn');
  });

  test(`the cgroup layout is detected (${expectedLayout} here)`, () => {
    const c = json.checks['cgroup-layout'];
    expect(c.detail.startsWith(expectedLayout === 'none' ? 'no cgroup' : expectedLayout)).toBe(true);
    expect(c.verdict).toBe({ v2: 'ok', hybrid: 'info', v1: 'info', none: 'warn' }[expectedLayout]);
  });

  test('the container check sees /.dockerenv when there is one', () => {
    expect(json.checks.container.verdict === 'ok').toBe(!fs.existsSync('/.dockerenv') && !fs.existsSync('/run/.containerenv'));
  });

  test.skipIf(!isRoot)(gated(isRoot, 'as root: no subordinate ids needed, every cgroup writable, unprivileged userns as the probe found', 'needs root'), () => {
    expect(json.checks.subids).toMatchObject({ verdict: 'ok', detail: expect.stringMatching(/^root writes id maps itself/) });
    expect(json.checks['cgroup-delegation'].verdict).toBe('ok');
    expect(json.checks['userns-probe'].verdict).toBe(unprivilegedUserns ? 'ok' : 'warn');
  });

  test('the same numbers in the summary as in the JSON', () => {
    const n = (v: string) => json.list.filter((c) => c.verdict === v).length;
    expect(text.stdout).toContain(`${json.list.length} checks: ${n('ok')} ok, ${n('warn')} warn, ${n('fail')} fail, ${n('info')} info`);
  });
});

describe.skipIf(!unprivilegedUserns)(gated(unprivilegedUserns, 'nsrun doctor as nobody', 'needs root, setpriv, user namespaces for nobody'), () => {
  test('runs unprivileged: the probe ok, no subordinate ids, no delegation', () => {
    const r = runJson({ asUser: NOBODY });
    expect(r.status).toBe(0);
    expect(r.checks['userns-probe']).toMatchObject({ verdict: 'ok', detail: 'nobody (uid 65534) created a user namespace (unshare -U true)' });
    const hasEntry = /^(nobody|65534):/m.test(fs.existsSync('/etc/subuid') ? fs.readFileSync('/etc/subuid', 'utf8') : '');
    expect(r.checks.subids.verdict).toBe(hasEntry ? 'ok' : 'warn');
    if (!hasEntry) expect(r.checks.subids.fix).toMatch(/^as root: usermod --add-subuids \d+-\d+ --add-subgids \d+-\d+ nobody$/);
    expect(r.checks['setns-pidfd'].verdict).not.toBe('fail');
  });
});

describe('the command line', () => {
  test('doctor takes no words', () => {
    const r = nsrun(['doctor', 'now']);
    expect(r.status).toBe(125);
    expect(r.stderr).toBe('nsrun: options: now: unexpected argument\nhint: see nsrun doctor --help\n');
  });
  test('--help documents the exit status; nsrun --help lists doctor', () => {
    expect(nsrun(['doctor', '--help']).stdout).toMatch(/Exit status: 0 when nothing fails, 1 when a check fails/);
    expect(nsrun(['--help']).stdout).toMatch(/nsrun doctor \[--json\]/);
  });
});
