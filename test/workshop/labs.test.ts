// Runs every command of the workshop labs (docs/workshop/NN-*.md) and checks the output the lab
// documents, so the labs never rot. The format is described in docs/workshop/README.md:
//
//   ```console [nobody] [cleanup]     a checked block (as root; as nobody; run even after a failure)
//   $ command                          one command, run with sh -c in the lab's working directory
//   expected output                    compared line by line, whitespace runs collapsed
//   ...                                any number of lines (zero included)
//   text {...} text                    {...}: any text within the line
//   ~ regex                            the whole line must match this JavaScript regex
//   [exit N]                           the command's exit status (0 when absent)
//   $ command &                        started in the background, killed at the end of the lab
//
// `{id}` in commands and expected output is replaced by a random suffix per lab run, so
// sandbox names, cgroups and files never collide with a parallel run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { gated, isRoot, NOBODY, timeNamespaces, unprivilegedUserns } from '../helpers/caps';
import { NSRUN, ROOT, setprivPrefix } from '../helpers/cli';

const LAB_DIR = path.join(ROOT, 'docs', 'workshop');
const COMMAND_TIMEOUT_MS = 30_000;
const BACKGROUND_READY_MS = 15_000;
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// ---------------------------------------------------------------------------------------------
// Parsing

type User = 'root' | 'nobody';

interface ExpectedLine {
  text: string;
  /** Line number in the lab file. */
  line: number;
}

interface Command {
  file: string;
  /** Line number of the `$` line in the lab file. */
  line: number;
  user: User;
  cleanup: boolean;
  background: boolean;
  script: string;
  expected: ExpectedLine[];
  /** The documented exit status ([exit N]), 0 when absent. */
  status: number;
}

interface Lab {
  file: string;
  title: string;
  needs: string[];
  commands: Command[];
}

const BLOCK_ATTRS = new Set(['nobody', 'cleanup']);
const EXIT_RE = /^\[exit (\d+)\]$/;

export function parseLab(file: string, text: string): Lab {
  const lines = text.split('\n');
  const title = (lines.find((l) => l.startsWith('# ')) ?? file).replace(/^# /, '').trim();
  const needs = [...text.matchAll(/<!--\s*needs:([^>]*)-->/g)].flatMap((m) => m[1].trim().split(/[\s,]+/).filter(Boolean));
  const commands: Command[] = [];
  const fail = (n: number, msg: string): never => {
    throw new Error(`${file}:${n}: ${msg}`);
  };
  for (let i = 0; i < lines.length; i++) {
    const open = /^```console(?:\s+(.*))?$/.exec(lines[i]);
    if (!open) continue;
    const attrs = (open[1] ?? '').trim().split(/\s+/).filter(Boolean);
    for (const a of attrs) if (!BLOCK_ATTRS.has(a)) fail(i + 1, `unknown console block attribute '${a}' (known: ${[...BLOCK_ATTRS].join(', ')})`);
    const user: User = attrs.includes('nobody') ? 'nobody' : 'root';
    const cleanup = attrs.includes('cleanup');
    let current: Command | undefined;
    let j = i + 1;
    for (; j < lines.length && !/^```\s*$/.test(lines[j]); j++) {
      const l = lines[j];
      if (l.startsWith('$ ')) {
        const start = j;
        let script = l.slice(2);
        while (script.endsWith('\\')) {
          j++;
          if (j >= lines.length || /^```\s*$/.test(lines[j])) fail(start + 1, 'a continued command (ending in \\) has no next line');
          script = `${script.slice(0, -1)}\n${lines[j].replace(/^> /, '')}`;
        }
        const background = /\s&\s*$/.test(script);
        if (background) script = script.replace(/\s&\s*$/, '');
        current = { file, line: start + 1, user, cleanup, background, script, expected: [], status: 0 };
        commands.push(current);
      } else {
        if (!current) fail(j + 1, `output before the first command in a console block: '${l}'`);
        current!.expected.push({ text: l, line: j + 1 });
      }
    }
    if (j >= lines.length) fail(i + 1, 'console block is not closed');
    i = j;
  }
  for (const c of commands) {
    while (c.expected.length && c.expected[c.expected.length - 1].text.trim() === '') c.expected.pop();
    const last = c.expected[c.expected.length - 1];
    const exit = last && EXIT_RE.exec(last.text.trim());
    if (exit) {
      c.status = Number(exit[1]);
      c.expected.pop();
    }
    if (c.expected.some((e) => EXIT_RE.test(e.text.trim()))) fail(c.line, '[exit N] must be the last line of a command\'s output');
    if (c.background && (c.expected.length || c.status)) fail(c.line, 'a background command (&) has no checked output');
  }
  return { file, title, needs, commands };
}

// ---------------------------------------------------------------------------------------------
// Matching: a line-level alignment (edit distance where a pattern line that matches costs 0 and
// `...` absorbs any number of lines at no cost). Cost 0 means the output matches; otherwise the
// alignment is the precise diff to print.

const norm = (s: string) => s.trim().replace(/\s+/g, ' ');

function lineMatcher(pattern: string): (actual: string) => boolean {
  const p = norm(pattern);
  if (p.startsWith('~ ')) {
    const re = new RegExp(`^(?:${p.slice(2)})$`);
    return (a) => re.test(norm(a));
  }
  if (!p.includes('{...}')) return (a) => norm(a) === p;
  const re = new RegExp(`^${p.split('{...}').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return (a) => re.test(norm(a));
}

type DiffLine = { op: '=' | '-' | '+' | '~'; text: string; line?: number };

export function matchOutput(expected: ExpectedLine[], actual: string[]): { ok: boolean; diff: DiffLine[] } {
  const E = expected.length;
  const A = actual.length;
  const isAny = expected.map((e) => e.text.trim() === '...');
  const matchers = expected.map((e) => lineMatcher(e.text));
  const INF = Number.MAX_SAFE_INTEGER;
  const cost: number[][] = Array.from({ length: E + 1 }, () => new Array<number>(A + 1).fill(INF));
  for (let i = E; i >= 0; i--) {
    for (let j = A; j >= 0; j--) {
      if (i === E) {
        cost[i][j] = A - j;
        continue;
      }
      if (isAny[i]) {
        cost[i][j] = Math.min(cost[i + 1][j], j < A ? cost[i][j + 1] : INF);
        continue;
      }
      let best = 1 + cost[i + 1][j];
      if (j < A) {
        best = Math.min(best, 1 + cost[i][j + 1]);
        if (matchers[i](actual[j])) best = Math.min(best, cost[i + 1][j + 1]);
      }
      cost[i][j] = best;
    }
  }
  const diff: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < E || j < A) {
    if (i < E && isAny[i]) {
      if (j < A && cost[i][j] === cost[i][j + 1]) {
        diff.push({ op: '~', text: actual[j], line: expected[i].line });
        j++;
      } else i++;
    } else if (i < E && j < A && matchers[i](actual[j]) && cost[i][j] === cost[i + 1][j + 1]) {
      diff.push({ op: '=', text: actual[j], line: expected[i].line });
      i++;
      j++;
    } else if (i < E && cost[i][j] === 1 + cost[i + 1][j]) {
      diff.push({ op: '-', text: expected[i].text, line: expected[i].line });
      i++;
    } else {
      diff.push({ op: '+', text: actual[j] });
      j++;
    }
  }
  return { ok: cost[0][0] === 0, diff };
}

// ---------------------------------------------------------------------------------------------
// Running

/** What a lab may declare with <!-- needs: ... -->, probed once. */
const NEEDS: Record<string, () => { ok: boolean; reason: string }> = {
  busybox: () => {
    const ok = fs.existsSync('/bin/busybox') && /statically linked|static-pie/.test(spawnSync('file', ['-L', '/bin/busybox'], { encoding: 'utf8' }).stdout ?? '');
    return { ok, reason: 'needs a static /bin/busybox (Debian: busybox-static)' };
  },
  cgroup2: () => {
    const target = spawnSync('findmnt', ['-n', '-t', 'cgroup2', '-o', 'TARGET'], { encoding: 'utf8' }).stdout?.trim().split('\n')[0];
    if (!isRoot || !target) return { ok: false, reason: 'needs root and a mounted cgroup v2 hierarchy' };
    const probe = path.join(target, `nsrun-workshop-probe-${process.pid}-${randomBytes(3).toString('hex')}`);
    try {
      fs.mkdirSync(probe);
      fs.rmdirSync(probe);
      return { ok: true, reason: '' };
    } catch (e) {
      return { ok: false, reason: `needs a writable cgroup v2 hierarchy (mkdir in ${target}: ${(e as Error).message})` };
    }
  },
  time: () => {
    const ok = timeNamespaces && spawnSync('unshare', ['--time', '--monotonic', '1', 'true']).status === 0;
    return { ok, reason: 'needs time namespaces (Linux >= 5.6) and util-linux unshare --time' };
  },
};

interface Gate {
  ok: boolean;
  reason: string;
}

function gate(lab: Lab): Gate {
  if (!isRoot) return { ok: false, reason: 'needs root: the labs run as root and switch to nobody with setpriv' };
  if (lab.commands.some((c) => c.user === 'nobody') && !unprivilegedUserns)
    return { ok: false, reason: 'needs setpriv and user namespaces for nobody (the rootless steps)' };
  for (const n of lab.needs) {
    const probe = NEEDS[n];
    if (!probe) return { ok: false, reason: `unknown need '${n}'` };
    const r = probe();
    if (!r.ok) return r;
  }
  return { ok: true, reason: '' };
}

interface Env {
  workdir: string;
  bindir: string;
  id: string;
}

function substitute(s: string, env: Env): string {
  return s.replaceAll('{id}', env.id);
}

function argvFor(c: Command, env: Env): string[] {
  const sh = ['sh', '-c', substitute(c.script, env)];
  return c.user === 'nobody' ? [...setprivPrefix(NOBODY), ...sh] : sh;
}

function envFor(c: Command, env: Env): NodeJS.ProcessEnv {
  return { PATH: `${env.bindir}:${SYSTEM_PATH}`, LC_ALL: 'C', HOME: c.user === 'root' ? '/root' : '/' };
}

interface Outcome {
  output: string;
  status: number | null;
  timedOut: boolean;
}

function runForeground(c: Command, env: Env): Outcome {
  const out = path.join(os.tmpdir(), `nsrun-workshop-out-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(out, 'w+', 0o600);
  try {
    const [cmd, ...args] = argvFor(c, env);
    // One file for stdout and stderr: the interleaving is the one a terminal would show.
    const r = spawnSync(cmd, args, { cwd: env.workdir, env: envFor(c, env), stdio: ['ignore', fd, fd], timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL' });
    const output = fs.readFileSync(out, 'utf8');
    const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
    const status = r.status ?? (r.signal ? 128 + (os.constants.signals[r.signal] ?? 0) : null);
    return { output, status, timedOut };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(out, { force: true });
  }
}

interface Background {
  command: Command;
  child: ChildProcess;
  outFile: string;
  exited: Promise<void>;
}

function startBackground(c: Command, env: Env): Background {
  const outFile = path.join(os.tmpdir(), `nsrun-workshop-bg-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(outFile, 'w', 0o600);
  const [cmd, ...args] = argvFor(c, env);
  // Its own process group, so the end of the lab can stop it and everything it started.
  const child = spawn(cmd, args, { cwd: env.workdir, env: envFor(c, env), stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return { command: c, child, outFile, exited };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A background `nsrun --name NAME ...` is ready once `nsrun ps` lists NAME, as a user would see. */
async function waitReady(bg: Background, env: Env): Promise<string | undefined> {
  const name = /--name[ =](\S+)/.exec(substitute(bg.command.script, env))?.[1];
  if (!name) return undefined;
  const prefix = bg.command.user === 'nobody' ? setprivPrefix(NOBODY) : [];
  const argv = [...prefix, process.execPath, NSRUN, 'ps', '--json'];
  const deadline = Date.now() + BACKGROUND_READY_MS;
  for (;;) {
    if (bg.child.exitCode !== null || bg.child.signalCode !== null)
      return `the background command ended before sandbox '${name}' was listed by nsrun ps (exit ${bg.child.exitCode ?? bg.child.signalCode})\n${backgroundOutput(bg)}`;
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: envFor(bg.command, env), timeout: 10_000 });
    try {
      if ((JSON.parse(r.stdout) as { name: string }[]).some((e) => e.name === name)) return undefined;
    } catch {
      // not JSON yet (or an error): poll again
    }
    if (Date.now() > deadline) return `sandbox '${name}' was not listed by nsrun ps within ${BACKGROUND_READY_MS} ms\n${backgroundOutput(bg)}`;
    await sleep(50);
  }
}

function backgroundOutput(bg: Background): string {
  let text = '';
  try {
    text = fs.readFileSync(bg.outFile, 'utf8');
  } catch {
    // gone
  }
  return `--- output of the background command (${bg.command.file}:${bg.command.line}) ---\n${text}--- end ---`;
}

/**
 * True while a live process of the group is left (the shell that started it may be gone already).
 * Zombies do not count: an orphan's zombie waits for the host's init to reap it, which can take a
 * while, and a zombie holds nothing.
 */
function groupAlive(pgid: number): boolean {
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // Fields after the command name (which may contain spaces and parentheses): state ppid pgrp ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (groupAlive(pgid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/**
 * Stops a background command's process group: SIGTERM, then SIGKILL after 5 s. Waits for every
 * process of the group, not just its leader: `sh -c 'sh -c "... exec nsrun ..."'` has an outer
 * shell that dies at once while nsrun is still stopping its sandbox.
 */
async function stopBackground(bg: Background): Promise<void> {
  const pgid = bg.child.pid;
  if (pgid !== undefined && groupAlive(pgid)) {
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      // already gone
    }
    if (!(await waitGroupGone(pgid, 5_000))) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
      await waitGroupGone(pgid, 5_000);
    }
  }
  await Promise.race([bg.exited, sleep(1_000)]);
  fs.rmSync(bg.outFile, { force: true });
}

function report(c: Command, env: Env, o: Outcome, diff: DiffLine[]): string {
  const rel = path.relative(ROOT, path.join(LAB_DIR, c.file));
  const width = Math.max(...diff.map((d) => String(d.line ?? '').length), 1);
  const out = [
    `${rel}:${c.line}: the output differs from the lab`,
    `  $ ${substitute(c.script, env).replace(/\n/g, '\n  > ')}`,
    `  (as ${c.user}, sh -c in ${env.workdir}, {id} = ${env.id})`,
    '',
    `  diff (line in ${path.basename(c.file)}; '=' matched, '-' expected but missing, '+' actual but not expected, '~' absorbed by ...):`,
    ...diff.map((d) => `  ${String(d.line ?? '').padStart(width)} ${d.op} ${d.text}`),
  ];
  if (o.timedOut) out.push('', `  the command timed out after ${COMMAND_TIMEOUT_MS} ms and was killed`);
  if (o.status !== c.status) out.push('', `  exit status: expected ${c.status}${c.status ? ` ([exit ${c.status}])` : ' (no [exit N] line)'}, got ${o.status}`);
  return out.join('\n');
}

/** Actual output as lines: trailing whitespace and trailing empty lines dropped. */
function outputLines(output: string): string[] {
  const lines = output.split('\n').map((l) => l.trimEnd());
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

async function runLab(lab: Lab): Promise<void> {
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsrun-workshop-'));
  const bindir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsrun-workshop-bin-'));
  // nobody must reach both (the rootless steps read the lab's files and run nsrun).
  fs.chmodSync(workdir, 0o755);
  fs.chmodSync(bindir, 0o755);
  // `nsrun` on PATH, as after `npm link`: this checkout's CLI.
  fs.writeFileSync(path.join(bindir, 'nsrun'), `#!/bin/sh\nexec '${process.execPath}' '${NSRUN}' "$@"\n`, { mode: 0o755 });
  const env: Env = { workdir, bindir, id: randomBytes(4).toString('hex') };
  const backgrounds: Background[] = [];
  let failure: string | undefined;
  try {
    for (const c of lab.commands) {
      if (failure && !c.cleanup) continue;
      if (c.background) {
        const bg = startBackground(c, env);
        backgrounds.push(bg);
        const err = await waitReady(bg, env);
        if (err && !failure) failure = `${path.relative(ROOT, path.join(LAB_DIR, c.file))}:${c.line}: ${err}`;
        continue;
      }
      if (failure && backgrounds.length) {
        // A cleanup after a failure: stop what the lab left running first (a cgroup with
        // processes in it cannot be removed).
        for (const bg of backgrounds.splice(0)) await stopBackground(bg);
      }
      const o = runForeground(c, env);
      if (failure) continue; // cleanup after a failure: run, not checked
      const expected = c.expected.map((e) => ({ ...e, text: substitute(e.text, env) }));
      const { ok, diff } = matchOutput(expected, outputLines(o.output));
      if (!ok || o.status !== c.status || o.timedOut) {
        failure = report(c, env, o, diff);
        if (backgrounds.length) failure += `\n\n${backgrounds.map(backgroundOutput).join('\n')}`;
      }
    }
  } finally {
    for (const bg of backgrounds) await stopBackground(bg);
    fs.rmSync(workdir, { recursive: true, force: true });
    fs.rmSync(bindir, { recursive: true, force: true });
  }
  if (failure) throw new Error(failure);
}

// ---------------------------------------------------------------------------------------------

const labFiles = fs.existsSync(LAB_DIR) ? fs.readdirSync(LAB_DIR).filter((f) => /^\d\d-.*\.md$/.test(f)).sort() : [];
const labs = labFiles.map((f) => parseLab(f, fs.readFileSync(path.join(LAB_DIR, f), 'utf8')));

describe('workshop labs', () => {
  test('the index lists every lab, and there are at least 8', () => {
    const index = fs.readFileSync(path.join(LAB_DIR, 'README.md'), 'utf8');
    expect(labFiles.length).toBeGreaterThanOrEqual(8);
    for (const f of labFiles) expect(index, `docs/workshop/README.md links ${f}`).toContain(`](${f})`);
    for (const lab of labs) expect(lab.commands.length, `${lab.file} has checked commands`).toBeGreaterThan(0);
  });

  test('the matcher: literal, {...}, ~ regex, ... and a precise diff', () => {
    const exp = (...t: string[]) => t.map((text, i) => ({ text, line: i + 1 }));
    expect(matchOutput(exp('a  b', '...', 'pid {...} here', '~ \\d+ x'), ['a b', 'skipped', 'also', 'pid 42 here', '17 x']).ok).toBe(true);
    expect(matchOutput(exp('...'), []).ok).toBe(true);
    const bad = matchOutput(exp('one', 'two', 'three'), ['one', 'TWO', 'three', 'four']);
    expect(bad.ok).toBe(false);
    expect(bad.diff.map((d) => `${d.op}${d.text}`)).toEqual(['=one', '-two', '+TWO', '=three', '+four']);
  });

  for (const lab of labs) {
    const g = gate(lab);
    test.skipIf(!g.ok)(gated(g.ok, `${lab.file}: ${lab.title} (${lab.commands.length} commands)`, g.reason), () => runLab(lab), 300_000);
  }
});
