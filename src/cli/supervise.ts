// What the CLI does while a sandbox (nsrun run) or a joined command (nsrun exec) runs: forward
// signals, relay the terminal, and return the status a shell expects.
import type { Plan } from '../plan/types';
import { shellStatus, type Sandbox, type SpawnExtras } from '../sandbox';
import { attachTerminal } from './terminal';

/** Signals a user sends to nsrun that the command should get instead. */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export async function supervise(plan: Plan, start: (extras: SpawnExtras) => Promise<Sandbox>): Promise<number> {
  // Signals that arrive while the sandbox starts are delivered once it exists.
  let sandbox: Sandbox | undefined;
  const pending: NodeJS.Signals[] = [];
  const forward = (sig: NodeJS.Signals) => (sandbox ? sandbox.kill(sig) : pending.push(sig));
  for (const sig of FORWARDED_SIGNALS) process.on(sig, forward);

  let restore = () => {};
  try {
    const winsize = plan.stdio === 'pty' ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined;
    sandbox = await start({ winsize });
    if (plan.stdio === 'pty') restore = attachTerminal(sandbox);
    for (const sig of pending.splice(0)) sandbox.kill(sig);
    return shellStatus(await sandbox.exited);
  } finally {
    restore();
    for (const sig of FORWARDED_SIGNALS) process.off(sig, forward);
  }
}
