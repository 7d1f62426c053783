// `nsrun ps`, `nsrun inspect`, `nsrun kill`: looking at and signalling running sandboxes.
import * as fs from 'node:fs';
import { quoteArgv } from '../quote';
import type { Argv } from 'yargs';
import { inspect, kill, pause, ps, resume } from '../manage';
import { formatInspection } from '../parent/inspect';
import { usageError } from '../errors';
import { commandOf, type ParsedArgs } from './parse';

function out(text: string): void {
  fs.writeSync(1, text.endsWith('\n') ? text : `${text}\n`);
}

function uptime(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

export function psBuilder(y: Argv): Argv {
  return y.usage('nsrun ps [--json]\n\nList the running named sandboxes.').option('json', { type: 'boolean', describe: 'one JSON array, for scripts' });
}

export function psHandler(argv: ParsedArgs): number {
  const rows = ps();
  if (argv.json) {
    out(JSON.stringify(rows.map((r) => ({ name: r.name, pid: r.pid, state: r.state, namespaces: r.isolated, uptimeSeconds: r.uptimeSeconds, command: r.command, createdAt: r.createdAt })), null, 2));
    return 0;
  }
  const table = [['NAME', 'PID', 'STATE', 'NAMESPACES', 'UPTIME', 'COMMAND'], ...rows.map((r) => [r.name, String(r.pid), r.state, r.isolated.join(',') || '-', uptime(r.uptimeSeconds), quoteArgv(r.command)])];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  out(table.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n'));
  return 0;
}

export function inspectBuilder(y: Argv): Argv {
  return y
    .usage('nsrun inspect TARGET [--json]\n\nShow what a sandbox (a name or any PID) isolates and what it shares with you.')
    .option('json', { type: 'boolean', describe: 'JSON, for scripts' });
}

export async function inspectHandler(argv: ParsedArgs): Promise<number> {
  const [target, extra] = commandOf(argv);
  if (extra !== undefined) throw usageError(extra, 'unexpected argument', 'usage: nsrun inspect TARGET [--json]');
  if (!target) throw usageError('TARGET', 'no target given', 'usage: nsrun inspect TARGET [--json]');
  const r = await inspect(target);
  out(argv.json ? JSON.stringify(r, null, 2) : formatInspection(r).join('\n'));
  return 0;
}

export function killBuilder(y: Argv): Argv {
  return y
    .usage('nsrun kill TARGET [SIGNAL]\n\nSend SIGNAL (default TERM) to a sandbox through a pidfd; by name it goes to its nsrun-init, which forwards it to the command. KILL to a sandbox with a cgroup of its own (one started with a limit) kills every process in it at once (cgroup.kill on v2).')
    .option('signal', { alias: 's', type: 'string', requiresArg: true, describe: 'the signal, as a name (TERM, SIGKILL) or a number' });
}

export async function killHandler(argv: ParsedArgs): Promise<number> {
  const [target, signal, extra] = commandOf(argv);
  if (!target) throw usageError('TARGET', 'no target given', 'usage: nsrun kill TARGET [SIGNAL]');
  if (extra !== undefined) throw usageError(extra, 'unexpected argument', 'usage: nsrun kill TARGET [SIGNAL]');
  if (signal !== undefined && argv.signal !== undefined) throw usageError('--signal', 'the signal is given twice');
  await kill(target, signal ?? (argv.signal as string | undefined) ?? 'SIGTERM');
  return 0;
}

export function pauseBuilder(y: Argv): Argv {
  return y.usage('nsrun pause TARGET\n\nFreeze every process of a sandbox (name or PID) with the cgroup freezer; nsrun resume thaws it. Needs a sandbox started with a limit or --cgroup-parent.');
}

export function resumeBuilder(y: Argv): Argv {
  return y.usage('nsrun resume TARGET\n\nThaw a sandbox frozen by nsrun pause.');
}

function oneTarget(argv: ParsedArgs, verb: string): string {
  const [target, extra] = commandOf(argv);
  if (!target) throw usageError('TARGET', 'no target given', `usage: nsrun ${verb} TARGET`);
  if (extra !== undefined) throw usageError(extra, 'unexpected argument', `usage: nsrun ${verb} TARGET`);
  return target;
}

export async function pauseHandler(argv: ParsedArgs): Promise<number> {
  await pause(oneTarget(argv, 'pause'));
  return 0;
}

export async function resumeHandler(argv: ParsedArgs): Promise<number> {
  await resume(oneTarget(argv, 'resume'));
  return 0;
}
