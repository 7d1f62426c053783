// Drives a real terminal through tmux for the interactive tests. Every server runs on its own
// socket (tmux -L <unique name>, no config file), so tests never see or touch anyone else's
// sessions. Waiting is done by polling (every 50 ms) for what a user would see, never by fixed
// sleeps.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';

const POLL_MS = 50;
export const DEFAULT_WAIT_MS = 10_000;

/** Polls `probe` every 50 ms until it returns something other than undefined/false. */
export async function waitUntil<T>(probe: () => T | undefined | false, what: string, timeoutMs = DEFAULT_WAIT_MS, describe?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `\n${describe()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export interface ProcInfo {
  pid: number;
  comm: string;
  /** R, S, D, T (stopped by a signal), t, Z ... */
  state: string;
  ppid: number;
  pgrp: number;
  /** The foreground process group of the process's controlling terminal (-1 without one). */
  tpgid: number;
}

function readStat(pid: number): ProcInfo | undefined {
  let s: string;
  try {
    s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const open = s.indexOf('(');
  const close = s.lastIndexOf(')');
  const f = s.slice(close + 2).split(' ');
  return { pid, comm: s.slice(open + 1, close), state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]), tpgid: Number(f[5]) };
}

/** Every process below `root` (not including it), as the host sees them. */
export function descendants(root: number): ProcInfo[] {
  const all: ProcInfo[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const p = readStat(Number(e));
    if (p) all.push(p);
  }
  const out: ProcInfo[] = [];
  const seen = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!seen.has(p.pid) && seen.has(p.ppid)) {
        seen.add(p.pid);
        out.push(p);
        grew = true;
      }
    }
  }
  return out;
}

export class TmuxServer {
  readonly socket: string;
  private sessions = 0;

  constructor(prefix = 'nsrun-test') {
    this.socket = `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  /** Runs one tmux command against this server and returns its stdout. */
  run(args: string[]): string {
    const env = { ...process.env };
    delete env.TMUX;
    delete env.TMUX_PANE;
    const r = spawnSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env, timeout: 10_000 });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A new detached session running `command` in `cwd`, `cols` x `rows` cells. */
  newSession(opts: { command: string; cwd: string; cols?: number; rows?: number }): TmuxSession {
    const name = `s${++this.sessions}`;
    const args = ['new-session', '-d', '-s', name, '-x', String(opts.cols ?? 100), '-y', String(opts.rows ?? 30), '-c', opts.cwd, opts.command];
    for (let attempt = 0; ; attempt++) {
      try {
        this.run(args);
        break;
      } catch (e) {
        // the previous session's server may still be exiting on this socket: start a new one
        if (attempt >= 3 || !String(e).includes('server exited unexpectedly')) throw e;
        spawnSync('sleep', ['0.1']);
      }
    }
    return new TmuxSession(this, name);
  }

  /** Ends the server and everything running in it. Safe to call when it is not running. */
  kill(): void {
    try {
      this.run(['kill-server']);
    } catch {
      // not running (never started, or already gone)
    }
    // Leave nothing behind: the socket file of a server that is gone.
    try {
      fs.unlinkSync(`/tmp/tmux-${process.getuid?.() ?? 0}/${this.socket}`);
    } catch {
      // already removed by tmux
    }
  }
}

export class TmuxSession {
  /** Offset into capture() up to which earlier waitFor calls have consumed the output. */
  private cursor = 0;

  constructor(
    readonly server: TmuxServer,
    readonly name: string,
  ) {}

  private target(): string {
    return `=${this.name}:`;
  }

  /** Types `text` literally (no Enter). */
  send(text: string): void {
    this.server.run(['send-keys', '-t', this.target(), '-l', '--', text]);
  }

  /** Presses keys by tmux name: 'Enter', 'C-c', 'C-z', ... */
  key(...keys: string[]): void {
    this.server.run(['send-keys', '-t', this.target(), ...keys]);
  }

  /** Types a line and presses Enter. */
  type(line: string): void {
    this.send(line);
    this.key('Enter');
  }

  /**
   * The whole pane, history included, with wrapped lines joined (so a long line is one line
   * whatever the width), trailing spaces and trailing empty lines removed.
   */
  capture(): string {
    const raw = this.server.run(['capture-pane', '-p', '-J', '-S', '-', '-t', this.target()]);
    return raw
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n')
      .replace(/\n+$/, '');
  }

  /** What waitFor has not consumed yet. */
  unread(): string {
    return this.capture().slice(this.cursor);
  }

  /**
   * Waits until `re` matches output that earlier waitFor calls have not consumed, then consumes
   * everything up to the end of the match. So two waits for the same prompt wait for two prompts.
   */
  async waitFor(re: RegExp, timeoutMs = DEFAULT_WAIT_MS): Promise<RegExpExecArray> {
    const plain = new RegExp(re.source, re.flags.replace('g', ''));
    const m = await waitUntil(
      () => {
        const text = this.capture();
        const hit = plain.exec(text.slice(this.cursor));
        if (!hit) return undefined;
        return { hit, end: this.cursor + hit.index + hit[0].length };
      },
      `${re} in tmux pane ${this.name}`,
      timeoutMs,
      () => this.dump(),
    );
    this.cursor = m.end;
    return m.hit;
  }

  dump(): string {
    let text = '';
    try {
      text = this.capture();
    } catch (e) {
      text = `(capture failed: ${(e as Error).message})`;
    }
    return `--- pane ${this.name} (consumed up to offset ${this.cursor}) ---\n${text}\n--- end of pane ---`;
  }

  panePid(): number {
    return Number(this.server.run(['display-message', '-p', '-t', this.target(), '#{pane_pid}']).trim());
  }

  paneTty(): string {
    return this.server.run(['display-message', '-p', '-t', this.target(), '#{pane_tty}']).trim();
  }

  /** The pane size as `stty size` prints it: "ROWS COLS". */
  paneSize(): string {
    return this.server.run(['display-message', '-p', '-t', this.target(), '#{pane_height} #{pane_width}']).trim();
  }

  resize(cols: number, rows: number): void {
    this.server.run(['resize-window', '-t', this.target(), '-x', String(cols), '-y', String(rows)]);
  }

  /** The termios flags of the pane's terminal (the caller's terminal), read from outside. */
  termFlags(): Set<string> {
    const r = spawnSync('stty', ['-F', this.paneTty(), '-a'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`stty -F ${this.paneTty()}: ${r.stderr}`);
    return new Set(r.stdout.split(/[\s;]+/).filter(Boolean));
  }

  /** Every process started in this pane (the shell's descendants). */
  processes(): ProcInfo[] {
    return descendants(this.panePid());
  }

  /** Waits for a process started in this pane with this command name that satisfies `pred`. */
  waitForProcess(comm: string, pred: (p: ProcInfo) => boolean, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<ProcInfo> {
    return waitUntil(
      () => this.processes().find((p) => p.comm === comm && pred(p)),
      `${comm} ${what}`,
      timeoutMs,
      () => `${this.processes().map((p) => `${p.pid} ${p.comm} ${p.state} pgrp=${p.pgrp} tpgid=${p.tpgid}`).join('\n')}\n${this.dump()}`,
    );
  }

  kill(): void {
    try {
      this.server.run(['kill-session', '-t', this.target()]);
    } catch {
      // already gone
    }
  }
}
