// A shell in a sandbox, driven like a user drives it: through a real terminal (tmux). Covers the
// sandbox's own pty, Ctrl-C, Ctrl-Z/fg (inside a shell and on a plain command), the exit status,
// the caller's terminal mode afterwards, window-size changes, and TIOCSTI (CVE-2017-5226).
//
// The host side is `bash --norc --noprofile` in /work/main running ./bin/nsrun.cjs. Prompts carry a
// random marker, written so that the typed command line never matches the prompt it sets:
// PS1='[h:'ID']$ ' types as [h:'ID'] but shows as [h:ID].
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, onTestFailed, test } from 'vitest';
import { gated, hasPython, hasTmux } from '../helpers/caps';
import { NSRUN, ROOT } from '../helpers/cli';
import { TmuxServer, waitUntil, type TmuxSession } from '../helpers/tmux';

const ID = randomBytes(3).toString('hex');
/** The caller's bash prompt: [h:ID]$ */
const HOST = new RegExp(`\\[h:${ID}\\]\\$`);
/** The sandbox shell's prompt: [s:ID]# */
const BOX = new RegExp(`\\[s:${ID}\\]#`);
const BOX_PS1 = `PS1='[s:'${ID}']# '`;

/** Files the TIOCSTI payloads would create if injection reached the caller's shell. */
const INJECTED = {
  pty: `/tmp/nsrun-tiocsti-${ID}-pty`,
  passthrough: `/tmp/nsrun-tiocsti-${ID}-passthrough`,
  passthroughUserns: `/tmp/nsrun-tiocsti-${ID}-passthrough-userns`,
};

/**
 * python3 -c argument (bash $'...' quoting) that pushes "touch FILE\n" into the terminal on fd 0
 * with TIOCSTI, one character at a time, and prints STI-OK or STI-ERRNO <errno>.
 */
function tiocstiScript(file: string): string {
  return (
    `$'import fcntl, termios\\n` +
    `try:\\n` +
    `    for ch in "touch ${file}\\\\n": fcntl.ioctl(0, termios.TIOCSTI, ch.encode())\\n` +
    `    print("STI-OK", flush=True)\\n` +
    `except OSError as e:\\n` +
    `    print("STI-ERRNO", e.errno, flush=True)'`
  );
}
const STI_RESULT = /STI-(OK|ERRNO (\d+))$/m;

let server: TmuxServer;
let marker = 0;

/** A fresh terminal running the caller's bash at the [h:ID]$ prompt in the project directory. */
async function hostShell(): Promise<TmuxSession> {
  const s = server.newSession({ command: 'bash --norc --noprofile', cwd: ROOT, cols: 100, rows: 30 });
  onTestFailed(() => {
    console.log(s.dump());
  });
  s.type(`PS1='[h:'${ID}']$ '; HISTFILE=`);
  await s.waitFor(HOST);
  return s;
}

/** Starts `/bin/sh` (or `shell`) in a sandbox with these nsrun options and waits for its prompt. */
async function sandboxShell(s: TmuxSession, options: string, shell = '/bin/sh'): Promise<void> {
  // The prefix assignment puts PS1 in nsrun's environment, which the sandbox inherits.
  s.type(`${BOX_PS1} ./bin/nsrun.cjs ${options} -- ${shell}`);
  await s.waitFor(BOX);
}

/**
 * Runs `cmd` at a shell prompt and returns exactly what it printed, between two markers the
 * typed line cannot contain (echo "@@""B1" prints @@B1), then waits for the next `prompt`.
 */
async function run(s: TmuxSession, cmd: string, prompt: RegExp): Promise<string> {
  const n = ++marker;
  s.type(`echo "@@""B${n}"; ${cmd}; echo "@@""E${n}"`);
  const m = await s.waitFor(new RegExp(`^@@B${n}\\n([\\s\\S]*?)^@@E${n}$`, 'm'));
  await s.waitFor(prompt);
  return m[1].replace(/\n$/, '');
}

/** Runs `stty -a` in the caller's bash and checks the terminal is back in canonical mode with echo. */
async function expectSaneTerminal(s: TmuxSession): Promise<void> {
  const flags = (await run(s, 'stty -a', HOST)).split(/[\s;]+/);
  expect(flags).toContain('icanon');
  expect(flags).toContain('echo');
  expect(flags).not.toContain('-icanon');
  expect(flags).not.toContain('-echo');
}

/** The exit status of the last command in the caller's bash. */
async function lastStatus(s: TmuxSession): Promise<number> {
  s.type('echo rc=$?');
  const m = await s.waitFor(/^rc=(\d+)$/m);
  await s.waitFor(HOST);
  return Number(m[1]);
}

/** A `sleep` started in this terminal, running (not stopped) in the foreground of its terminal. */
function foregroundSleep(s: TmuxSession, pid?: number) {
  return s.waitForProcess(
    'sleep',
    (p) => (pid === undefined || p.pid === pid) && p.state === 'S' && p.pgrp === p.tpgid,
    'sleeping in the foreground process group of its terminal',
  );
}

/**
 * Passthrough mode (stdout piped to cat, so no pty): the caller's terminal on stdin is relayed by
 * nsrun through a pipe, so the sandbox never holds it: TIOCSTI on fd 0 fails with ENOTTY (25) and
 * nothing may reach the caller's bash. (A terminal fd in a new session would not be enough: a
 * process with CAP_SYS_ADMIN, e.g. root without a user namespace, may TIOCSTI any terminal.)
 */
async function expectNoInjectionPassthrough(options: string, file: string): Promise<void> {
  fs.rmSync(file, { force: true });
  const s = await hostShell();
  try {
    s.type(`./bin/nsrun.cjs ${options} -- python3 -c ${tiocstiScript(file)} | cat`);
    const m = await s.waitFor(STI_RESULT);
    await s.waitFor(HOST);
    // Anything pushed into the caller's terminal would be read by bash before this line.
    s.type('echo "sync""-passthrough"');
    await s.waitFor(/^sync-passthrough$/m);
    await s.waitFor(HOST);
    expect.soft(m[1], "the sandbox's fd 0 should not be a terminal (ENOTTY, 25)").toBe('ERRNO 25');
    expect(fs.existsSync(file), `${file} was created: the injected command ran in the caller's bash`).toBe(false);
  } finally {
    s.kill();
    fs.rmSync(file, { force: true });
  }
}

describe.skipIf(!hasTmux)(gated(hasTmux, 'interactive terminal through tmux', 'tmux not installed'), () => {
  beforeAll(() => {
    server = new TmuxServer('nsrun-test');
  });

  afterAll(() => {
    server?.kill();
    for (const f of Object.values(INJECTED)) fs.rmSync(f, { force: true });
  });

  test('a shell in --pid --net --uts: hostname box, its own pty, only its own processes, only lo', async () => {
    const s = await hostShell();
    try {
      await sandboxShell(s, '--pid --net --uts --hostname box');
      expect(await run(s, 'hostname', BOX)).toBe('box');
      expect(await run(s, 'tty', BOX)).toMatch(/^\/dev\/pts\/\d+$/);

      // -e: every process this PID namespace can see, not only those on this terminal.
      const ps = (await run(s, 'ps -e -o pid,comm', BOX)).split('\n');
      expect(ps[0].trim().split(/\s+/)).toEqual(['PID', 'COMMAND']);
      const procs = ps.slice(1).map((l) => {
        const [pid, comm] = l.trim().split(/\s+/);
        return { pid: Number(pid), comm };
      });
      expect(procs.find((p) => p.pid === 1)?.comm).toBe('nsrun-init');
      expect(procs.map((p) => p.comm).sort()).toEqual(['nsrun-init', 'ps', 'sh']);

      const dev = await run(s, 'cat /proc/net/dev', BOX);
      const ifaces = dev
        .split('\n')
        .map((l) => /^\s*([^\s:|]+):/.exec(l)?.[1])
        .filter(Boolean);
      expect(ifaces).toEqual(['lo']);
    } finally {
      s.kill();
    }
  });

  test('nsrun exec into a named sandbox gets a terminal of its own too: Ctrl-C, exit status', async () => {
    const name = `tty-${ID}`;
    const target = spawn(process.execPath, [NSRUN, '--name', name, '--pid', '--uts', '--hostname', 'joined', '--', 'sleep', '1000'], { stdio: 'ignore' });
    try {
      await waitUntil(() => spawnSync(process.execPath, [NSRUN, 'ps']).stdout.toString().includes(name) || undefined, 'the named sandbox', 5000);
      const s = await hostShell();
      try {
        s.type(`${BOX_PS1} ./bin/nsrun.cjs exec ${name} -- /bin/sh`);
        await s.waitFor(BOX);
        expect(await run(s, 'hostname', BOX)).toBe('joined');
        expect(await run(s, 'tty', BOX)).toMatch(/^\/dev\/pts\/\d+$/);
        s.type('sleep 30');
        await foregroundSleep(s);
        s.key('C-c');
        await s.waitFor(BOX, 5000); // typed before the prompt, the line would not be echoed after it
        expect(await run(s, 'echo alive', BOX)).toBe('alive');
        s.type('exit 4');
        await s.waitFor(HOST);
        expect(await lastStatus(s)).toBe(4);
        await expectSaneTerminal(s);
      } finally {
        s.kill();
      }
    } finally {
      target.kill('SIGKILL');
    }
  });

  test('--step pauses before every setup step until Enter; Ctrl-C at a pause stops cleanly', async () => {
    const s = await hostShell();
    try {
      s.type('./bin/nsrun.cjs --step --pid --uts --hostname stepbox -- hostname');
      const first = await s.waitFor(/^\[1\/(\d+)\] clone: .*$/m);
      const total = Number(first[1]);
      const pid = Number((await s.waitFor(/the child is PID (\d+);/))[1]);
      // the child waits in its new namespaces: it exists, and has not exec'd anything yet
      expect(fs.readlinkSync(`/proc/${pid}/ns/uts`)).not.toBe(fs.readlinkSync('/proc/self/ns/uts'));
      for (let i = 2; i <= total; i++) {
        s.key('Enter');
        await s.waitFor(new RegExp(`^\\[${i}/${total}\\] `, 'm'));
      }
      s.key('Enter');
      await s.waitFor(/^stepbox$/m);
      await s.waitFor(HOST);
      expect(await lastStatus(s)).toBe(0);

      s.type('./bin/nsrun.cjs --step --pid -- true');
      await s.waitFor(/^\[1\/\d+\] clone/m);
      const pid2 = Number((await s.waitFor(/the child is PID (\d+);/))[1]);
      s.key('Enter');
      await s.waitFor(/^\[2\/\d+\] /m);
      s.key('C-c');
      await s.waitFor(/nsrun: options: --step: stopped before the sandbox started$/m);
      await s.waitFor(HOST);
      expect(await lastStatus(s)).toBe(125);
      expect(fs.existsSync(`/proc/${pid2}`)).toBe(false);
      await expectSaneTerminal(s);
    } finally {
      s.kill();
    }
  });

  test('Ctrl-C at the sandbox prompt gives a fresh prompt; Ctrl-C on sleep 30 interrupts it and the shell goes on', async () => {
    const s = await hostShell();
    try {
      await sandboxShell(s, '--pid --net --uts --hostname box');

      s.key('C-c');
      await s.waitFor(/\^C\n/);
      await s.waitFor(BOX, 3000);
      expect(await run(s, 'echo alive', BOX)).toBe('alive');

      s.type('sleep 30');
      const sleep = await foregroundSleep(s);
      const t0 = Date.now();
      s.key('C-c');
      await s.waitFor(BOX, 5000);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(s.processes().some((p) => p.pid === sleep.pid)).toBe(false);
      // The shell survived (the prompt came back) and the next command runs.
      expect(await run(s, 'echo next', BOX)).toBe('next');
    } finally {
      s.kill();
    }
  });

  test('inside sh: sleep 30, Ctrl-Z stops the job, fg resumes it, Ctrl-C ends it', async () => {
    const s = await hostShell();
    try {
      await sandboxShell(s, '--pid --net --uts --hostname box');

      s.type('sleep 30');
      const sleep = await foregroundSleep(s);
      s.key('C-z');
      // ^Z is echoed first, on the same line.
      await s.waitFor(/\[1\] \+ Stopped\s+sleep 30$/m);
      await s.waitFor(BOX);
      // The sh job stopped, not nsrun: the caller's bash printed nothing, nsrun is still running.
      expect(s.processes().find((p) => p.pid === sleep.pid)?.state).toBe('T');
      // (nsrun-supervise names itself nsrun: it replaced Node once the sandbox ran)
      const nsrun = s.processes().find((p) => p.comm === 'nsrun');
      expect(nsrun).toBeDefined();
      expect(nsrun!.state).not.toBe('T');
      expect(s.unread()).not.toMatch(HOST);

      s.type('fg');
      await s.waitFor(/^sleep 30$/m);
      await foregroundSleep(s, sleep.pid);
      s.key('C-c');
      await s.waitFor(BOX, 5000);
      expect(s.processes().some((p) => p.pid === sleep.pid)).toBe(false);
      expect(await run(s, 'jobs; echo alive', BOX)).toBe('alive');
    } finally {
      s.kill();
    }
  });

  test('exit 7 leaves the sandbox with status 7 and the terminal sane', async () => {
    const s = await hostShell();
    try {
      await sandboxShell(s, '--pid --net --uts --hostname box');
      s.type('exit 7');
      await s.waitFor(HOST);
      expect(await lastStatus(s)).toBe(7);
      expect(s.processes()).toEqual([]);
      await expectSaneTerminal(s);
    } finally {
      s.kill();
    }
  });

  test('a non-shell command: Ctrl-Z stops nsrun in the caller\'s bash, fg resumes, Ctrl-C gives 130, terminal sane', async () => {
    const s = await hostShell();
    try {
      s.type('./bin/nsrun.cjs --pid -- sleep 30');
      const sleep = await foregroundSleep(s);
      // nsrun relays in raw mode: Ctrl-Z travels as a byte to the sandbox's terminal.
      await waitUntil(() => s.termFlags().has('-icanon'), "the caller's terminal in raw mode");

      s.key('C-z');
      await s.waitFor(/^\[1\]\+\s+Stopped\s+\.\/bin\/nsrun\.cjs --pid -- sleep 30$/m);
      await s.waitFor(HOST);
      const procs = s.processes();
      expect(procs.find((p) => p.pid === sleep.pid)?.state).toBe('T');
      expect(procs.find((p) => p.comm === 'nsrun')?.state).toBe('T');

      s.type('fg');
      await s.waitFor(/^\.\/bin\/nsrun\.cjs --pid -- sleep 30$/m);
      await foregroundSleep(s, sleep.pid);
      await waitUntil(() => s.termFlags().has('-icanon'), "the caller's terminal back in raw mode");

      s.key('C-c');
      await s.waitFor(HOST, 5000);
      expect(await lastStatus(s)).toBe(130);
      await expectSaneTerminal(s);
    } finally {
      s.kill();
    }
  });

  test('passthrough (stdout piped): typed input reaches the command through the relay, Ctrl-D ends it', async () => {
    const s = await hostShell();
    try {
      s.type(`./bin/nsrun.cjs --pid -- sh -c 'read x; echo "got:$x"; exec wc -c' | cat`);
      await s.waitForProcess('sh', (p) => p.state === 'S', 'the sandbox\'s sh waiting in read');
      s.type('hello');
      await s.waitFor(/^got:hello$/m);
      s.type('abc');
      s.key('C-d');
      await s.waitFor(/^4$/m); // "abc\n": the caller's EOF became the command's
      await s.waitFor(HOST);
      expect(await lastStatus(s)).toBe(0);
      await expectSaneTerminal(s);
    } finally {
      s.kill();
    }
  });

  test('window size: the sandbox terminal starts at the pane size and follows a resize', async () => {
    const s = await hostShell();
    try {
      await sandboxShell(s, '--pid', 'sh');
      expect(s.paneSize()).toBe('30 100');
      expect(await run(s, 'stty size', BOX)).toBe('30 100');

      s.resize(90, 20);
      expect(s.paneSize()).toBe('20 90');
      // The new size reaches the sandbox asynchronously (SIGWINCH to nsrun, then TIOCSWINSZ on
      // its pty): wait until the sandbox shell's terminal has it, read from outside.
      const sh = await s.waitForProcess('sh', () => true, 'in the sandbox');
      await waitUntil(
        () => spawnSync('stty', ['-F', `/proc/${sh.pid}/fd/0`, 'size'], { encoding: 'utf8' }).stdout.trim() === '20 90',
        "the sandbox's terminal at 20 rows, 90 columns",
      );
      expect(await run(s, 'stty size', BOX)).toBe('20 90');
    } finally {
      s.kill();
    }
  });

  test.skipIf(!hasPython)(gated(hasPython, "CVE-2017-5226 TIOCSTI cannot reach the caller's terminal (pty mode)", 'python3 not installed'), async () => {
    const file = INJECTED.pty;
    fs.rmSync(file, { force: true });
    const s = await hostShell();
    try {
      // the terminal layer alone: the default seccomp filter would refuse TIOCSTI before it
      s.type(`./bin/nsrun.cjs --pid --seccomp=unconfined -- python3 -c ${tiocstiScript(file)}`);
      const m = await s.waitFor(STI_RESULT);
      await s.waitFor(HOST);
      // Anything pushed into the caller's terminal would be read by bash before this line.
      s.type('echo "sync""-pty"');
      await s.waitFor(/^sync-pty$/m);
      await s.waitFor(HOST);
      // TIOCSTI works inside (it is the sandbox's controlling terminal), but that is its own pty.
      expect(m[1]).toBe('OK');
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      s.kill();
      fs.rmSync(file, { force: true });
    }
  });

  test.skipIf(!hasPython)(gated(hasPython, 'TIOCSTI is refused by the default seccomp filter, even on the sandbox\'s own terminal (EPERM)', 'python3 not installed'), async () => {
    const file = `${INJECTED.pty}-seccomp`;
    fs.rmSync(file, { force: true });
    const s = await hostShell();
    try {
      s.type(`./bin/nsrun.cjs --pid -- python3 -c ${tiocstiScript(file)}`);
      const m = await s.waitFor(STI_RESULT);
      await s.waitFor(HOST);
      expect(m[1]).toBe('ERRNO 1');
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      s.kill();
      fs.rmSync(file, { force: true });
    }
  });

  test.skipIf(!hasPython)(gated(hasPython, "CVE-2017-5226 TIOCSTI cannot reach the caller's terminal (passthrough: stdout piped, stdin relayed, ENOTTY)", 'python3 not installed'), async () => {
    await expectNoInjectionPassthrough('--pid --seccomp=unconfined', INJECTED.passthrough);
  });

  // The same with a user namespace.
  test.skipIf(!hasPython)(gated(hasPython, "TIOCSTI cannot reach the caller's terminal (passthrough with --user, ENOTTY)", 'python3 not installed'), async () => {
    await expectNoInjectionPassthrough('--user --pid --seccomp=unconfined', INJECTED.passthroughUserns);
  });
});
