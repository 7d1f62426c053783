// What the CLI does while a sandbox (nsrun run) or a joined command (nsrun exec) runs: forward
// signals, relay the terminal, and return the status a shell expects. Once the command runs, this
// is handed to nsrun-supervise (./handoff.ts), which does the same without keeping Node resident;
// Node supervises itself when it is missing or NSRUN_SUPERVISOR=node.
import * as fs from 'node:fs';
import type { OomInfo } from '../cgroup/driver';
import { formatBytes } from '../cgroup/limits';
import type { Plan } from '../plan/types';
import { systemError } from '../errors';
import { native } from '../native/binding';
import { shellStatus, type Sandbox, type SpawnExtras } from '../sandbox';
import { type ExecArgs, execArgs, handOff, handoffTarget } from './handoff';
import { attachTerminal } from './terminal';

/** Signals a user sends to nsrun that the command should get instead (nsrun-supervise's list,
 *  native/protocol.h, is these and SIGWINCH: a test holds the two together). */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * `onSignal`: also told of every forwarded signal (--step: SIGINT ends the stepping). The
 * signals are read from a signalfd, not through process.on (see watchSignals in the addon): none
 * is lost at the handoff, and Node's own handlers for them are not used meanwhile.
 */
export async function supervise(plan: Plan, start: (extras: SpawnExtras) => Promise<Sandbox>, onSignal?: (sig: NodeJS.Signals) => void): Promise<number> {
  // Signals that arrive while the sandbox starts are delivered once it exists.
  let sandbox: Sandbox | undefined;
  const pending: NodeJS.Signals[] = [];
  const forward = (sig: NodeJS.Signals) => (sandbox ? sandbox.kill(sig) : pending.push(sig));
  const n = native();
  const names = new Map(FORWARDED_SIGNALS.map((sig) => [n.supervisedSignals[sig], sig]));
  const rc = n.watchSignals([...names.keys()], (signo) => {
    const sig = names.get(signo)!;
    onSignal?.(sig);
    forward(sig);
  });
  if (rc < 0) throw systemError({ step: 'signals', object: 'signalfd', syscall: 'signalfd', errno: -rc, side: 'parent' });

  let restore = () => {};
  const supervisor = handoffTarget();
  try {
    const winsize = plan.stdio === 'pty' ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined;
    let args: ExecArgs | undefined;
    // the handoff's groundwork, while the sandbox sets itself up: nsrun-supervise's argv and
    // environment, and Node's other threads told to hold the signals (for the exec)
    const whileStarting = supervisor
      ? () => {
          n.holdInOtherThreads();
          args = execArgs();
        }
      : undefined;
    sandbox = await start({ winsize, handoff: supervisor !== undefined, whileStarting });
    for (const sig of pending.splice(0)) sandbox.kill(sig);
    if (supervisor) return await handOff(supervisor, sandbox, plan, args);
    if (plan.stdio === 'pty') restore = attachTerminal(sandbox);
    const r = await sandbox.exited;
    const status = shellStatus(r);
    if (r.oom && status === 137) fs.writeSync(2, `${oomMessage(plan, r.oom)}\n`);
    return status;
  } finally {
    restore();
    n.releaseSignals();
  }
}

/** The one line for a sandbox the memory limit killed. */
export function oomMessage(plan: Plan, oom: OomInfo): string {
  return `${oomPrefix(plan, oom.source)}${oom.kills})`;
}

/** That line up to the number of kills (nsrun-supervise adds the number). */
export function oomPrefix(plan: Plan, source: string): string {
  const limit = plan.cgroup?.limits.memory;
  const what = limit !== undefined ? `the memory limit (--memory ${formatBytes(limit)})` : 'its memory limit';
  return `nsrun: the sandbox was killed by ${what}: out of memory (${source}: oom_kill `;
}
