// `nsrun stats [TARGET...] [--no-stream] [--json]`: docker stats for sandboxes and any PID's cgroup.
import * as fs from 'node:fs';
import type { Argv } from 'yargs';
import { list } from '../parent/registry';
import { exitedLine, formatTable, jsonLine } from '../stats/format';
import { watchStats, type StatsTick } from '../stats/watch';
import { commandOf, type ParsedArgs } from './parse';

const USAGE = 'nsrun stats [TARGET...] [--no-stream] [--json]';

export function statsBuilder(y: Argv): Argv {
  return y
    .usage(`${USAGE}\n\nCPU, memory, network and block I/O and PIDs of sandboxes, like docker stats, redrawn every second until Ctrl-C. TARGET: a sandbox name or any PID (its cgroup); none: every running named sandbox.`)
    .option('stream', { type: 'boolean', hidden: true })
    .option('no-stream', { type: 'boolean', describe: 'print one reading (CPU % over half a second) and exit' })
    .option('json', { type: 'boolean', describe: 'one JSON object per target per reading (bytes and ratios), for scripts' });
}

/** stdout; false once the reader went away (EPIPE: `nsrun stats | head`). */
function write(text: string): boolean {
  try {
    fs.writeSync(1, text);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return false;
    throw e;
  }
}

export async function statsHandler(argv: ParsedArgs): Promise<number> {
  const targets = commandOf(argv);
  const once = argv.stream === false;
  const json = argv.json === true;
  if (targets.length === 0 && list().length === 0) {
    fs.writeSync(2, 'nsrun stats: no running named sandboxes (start one with nsrun --name NAME -- COMMAND, or give a PID)\n');
    return 0;
  }
  // a terminal gets the table redrawn in place (as docker does); a pipe gets one table per reading
  const redraw = !json && !once && (require('node:tty') as typeof import('node:tty')).isatty(1);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let frames = 0;
  const show = (tick: StatsTick): boolean => {
    if (json) return write([...tick.stats.map(jsonLine), ...tick.exited.map((t) => exitedLine(t, tick.time))].map((l) => `${l}\n`).join(''));
    const lines = formatTable(tick.stats);
    if (redraw) return write(`${frames++ === 0 ? '\x1b[2J' : ''}\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\n\x1b[J`);
    return write(`${frames++ && !once ? '\n' : ''}${lines.join('\n')}\n`);
  };
  try {
    for await (const tick of watchStats(targets, { intervalMs: once ? 500 : 1000, signal: stop.signal })) {
      if (!show(tick) || once) break;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return 0;
}
