// --step for the CLI: before each setup step, say what comes and what to look at from another
// terminal, and wait for Enter on the controlling terminal (the command's stdin is left alone).
import * as fs from 'node:fs';
import type * as readline from 'node:readline';
import type { Readable } from 'node:stream';
import type * as tty from 'node:tty';
import { usageError } from '../errors';
import type { StepInfo, Stepper } from '../sandbox';

export interface TerminalStepper extends Stepper {
  /** Reject the pause in progress (Ctrl-C): the sandbox is torn down. */
  abort(): void;
  close(): void;
}

export function terminalStepper(write: (text: string) => void = (t) => fs.writeSync(2, t)): TerminalStepper {
  let input: Readable;
  try {
    // node:tty and node:readline only for --step (loading them costs every other start a few ms)
    input = new (require('node:tty') as typeof tty).ReadStream(fs.openSync('/dev/tty', fs.constants.O_RDONLY | fs.constants.O_NOCTTY));
  } catch {
    throw usageError('--step', 'needs a terminal to read Enter from (no /dev/tty)');
  }
  const rl = (require('node:readline') as typeof readline).createInterface({ input, terminal: false });
  let current: { resolve: () => void; reject: (e: Error) => void } | undefined;
  rl.on('line', () => {
    const c = current;
    current = undefined;
    c?.resolve();
  });
  return {
    pause(info: StepInfo): Promise<void> {
      const lines = [
        `[${info.index}/${info.total}] ${info.name}: ${info.text}`,
        `      the child is PID ${info.pid}; from another terminal, look:`,
        ...info.look.map((l) => `        ${l}`),
        '      press Enter to go on (Ctrl-C to stop here)',
      ];
      write(`${lines.join('\n')}\n`);
      return new Promise((resolve, reject) => (current = { resolve, reject }));
    },
    abort() {
      const c = current;
      current = undefined;
      c?.reject(usageError('--step', 'stopped before the sandbox started'));
    },
    close() {
      rl.close();
      input.destroy();
    },
  };
}
