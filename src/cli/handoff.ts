// The CLI's handoff (parent side, in Node): once the command runs, exec nsrun-supervise in place
// of Node, so what stays on the host while a sandbox runs is a small static program instead of a
// Node process (same PID: the shell, the terminal's job and the sandbox's parent do not change).
// Everything it will do is decided here and written down as its options.
import * as fs from 'node:fs';
import { errnoName } from '../errors';
import { native, packageFile, supervisorPath } from '../native/binding';
import type { Plan } from '../plan/types';
import type { Sandbox } from '../sandbox';
import { oomPrefix } from './supervise';

/** nsrun-supervise, unless it is missing or NSRUN_SUPERVISOR=node asks Node to stay. */
export function handoffTarget(): string | undefined {
  if (process.env.NSRUN_SUPERVISOR === 'node') return undefined;
  return supervisorPath();
}

/** The supervisor's options, as NUL-separated key/value pairs (see native/supervise). */
export function supervisorOptions(sb: Sandbox, plan: Plan): { options: [string, string][]; keep: number[] } {
  const d = sb.detach();
  const options: [string, string][] = [];
  const keep: number[] = [];
  const fd = (key: string, v: number | undefined) => {
    if (v === undefined || v < 0) return;
    options.push([key, String(v)]);
    keep.push(v);
  };
  if (d.pidfd !== undefined) fd('pidfd', d.pidfd);
  else options.push(['status', String(d.waitStatus ?? 125 << 8)]);
  fd('control', d.control);
  fd('pty', d.master);
  if (d.relay) ['relay-in', 'relay-out', 'relay-err'].forEach((k, i) => fd(k, d.relay![i]));
  if (d.registration) options.push(['unregister', d.registration.file], ['unregister-id', d.registration.id]);
  if (d.cgroup) {
    const c = d.cgroup.handoff();
    if (c.oomFile) options.push(['oom-file', c.oomFile], ['oom-prefix', oomPrefix(plan, c.oomSource!)]);
    for (const dir of c.dirs) options.push(['cgroup', dir]);
    options.push(['cgroup-record', c.record]);
    for (const a of [process.execPath, packageFile('dist/cli/cleanup-cgroup.js'), c.record]) options.push(['cleanup', a]);
  }
  return { options, keep };
}

/** nsrun-supervise's argv and environment: made while the sandbox starts (SpawnExtras.whileStarting). */
export interface ExecArgs {
  argv: string[];
  env: string[];
}

export function execArgs(): ExecArgs {
  return {
    // ps keeps showing the user's own command line
    argv: ['nsrun', ...process.argv.slice(2)],
    env: Object.entries(process.env).map(([k, v]) => `${k}=${v}`),
  };
}

/**
 * Exec nsrun-supervise for a started handoff sandbox. Returns only if the exec failed: then the
 * sandbox is stopped and cleaned up here, and the status is 125.
 */
export async function handOff(file: string, sb: Sandbox, plan: Plan, args: ExecArgs = execArgs()): Promise<number> {
  // From here on a signal stays pending for the supervisor: supervise() watched them on a
  // signalfd (forwarded as they came), so none waits anywhere else.
  native().holdSignals();
  const { options, keep } = supervisorOptions(sb, plan);
  const buf = Buffer.from(options.map(([k, v]) => `${k}\0${v}\0`).join(''));
  const rc = native().execSupervisor(file, args.argv, args.env, keep, buf);
  fs.writeSync(2, `nsrun: cannot run ${file} (execve: ${errnoName(-rc)}): stopping the sandbox\n`);
  sb.kill('SIGKILL');
  await sb.exited;
  const d = sb.detach();
  await d.cgroup?.remove();
  d.registration?.unregister();
  return 125;
}
