// `nsrun [run] [options] -- COMMAND [ARG...]`
import * as fs from 'node:fs';
import type { Argv } from 'yargs';
import { prepareCgroup } from '../cgroup/sandbox-cgroup';
import { NAMESPACE_FLAGS, NAMESPACE_ISOLATES } from '../linux';
import { gatherHostFacts } from '../parent/host';
import { probeRootfs } from '../parent/rootfs';
import { buildPlan } from '../plan/build';
import { explainPlan } from '../plan/explain';
import { startPlan } from '../sandbox';
import { optionsFromArgv, type ParsedArgs } from './parse';
import { terminalStepper } from './step';
import { supervise } from './supervise';

/** Shared by run and exec. */
export const SECURITY_OPTIONS = {
  'cap-add': { type: 'string', requiresArg: true, group: 'Security:', describe: 'add a capability to the default set (NET_ADMIN, CAP_SYS_ADMIN, ALL; repeatable; names in capabilities(7))' },
  'cap-drop': { type: 'string', requiresArg: true, group: 'Security:', describe: 'remove a capability from the default set (ALL: start from none; repeatable)' },
  'allow-new-privs': { type: 'boolean', group: 'Security:', describe: 'leave no_new_privs off: setuid programs and file capabilities work inside' },
  seccomp: { type: 'string', requiresArg: true, group: 'Security:', describe: 'seccomp: unconfined (no filter) or FILE, a Docker/OCI JSON profile (default: nsrun\'s profile)' },
  'disable-userns': { type: 'boolean', group: 'Security:', describe: 'processes inside cannot create user namespaces' },
} as const;

export function runBuilder(y: Argv): Argv {
  for (const f of NAMESPACE_FLAGS) {
    y.option(f.long, { alias: f.short, type: 'boolean', group: 'Namespaces:', describe: `new ${f.type} namespace: ${NAMESPACE_ISOLATES[f.type]}` });
  }
  return y
    .option('all', { type: 'boolean', group: 'Namespaces:', describe: 'every namespace type this kernel supports' })
    .option('hostname', { type: 'string', requiresArg: true, group: 'Namespaces:', describe: 'hostname inside (needs --uts)' })
    .option('map-root-user', { alias: 'r', type: 'boolean', group: 'User namespace and IDs:', describe: 'map your uid/gid to root inside (the default when a user namespace is created)' })
    .option('map-user', { type: 'string', requiresArg: true, group: 'User namespace and IDs:', describe: 'map your uid to UID (number or name) inside' })
    .option('map-group', { type: 'string', requiresArg: true, group: 'User namespace and IDs:', describe: 'map your gid to GID inside' })
    .option('map-users', { type: 'string', requiresArg: true, group: 'User namespace and IDs:', describe: 'map a uid range OUTER:INNER:COUNT (repeatable; unprivileged: via newuidmap and /etc/subuid)' })
    .option('map-groups', { type: 'string', requiresArg: true, group: 'User namespace and IDs:', describe: 'map a gid range OUTER:INNER:COUNT (repeatable; unprivileged: via newgidmap and /etc/subgid)' })
    .option('uid', { type: 'string', requiresArg: true, group: 'User namespace and IDs:', describe: 'run the command as this uid inside' })
    .option('gid', { type: 'string', requiresArg: true, group: 'User namespace and IDs:', describe: 'run the command as this gid inside' })
    .option('groups', { type: 'string', requiresArg: true, group: 'User namespace and IDs:', describe: 'supplementary groups inside, comma-separated' })
    .option('rootfs', { type: 'string', requiresArg: true, group: 'Root filesystem:', describe: 'pivot_root into DIR, with /proc, a minimal /dev, /sys (with --net) and /tmp' })
    .option('bind', { type: 'string', requiresArg: true, group: 'Root filesystem:', describe: 'bind-mount host SRC on DST inside: SRC[:DST] (repeatable)' })
    .option('ro-bind', { type: 'string', requiresArg: true, group: 'Root filesystem:', describe: 'the same, read-only' })
    .option('tmpfs', { type: 'string', requiresArg: true, group: 'Root filesystem:', describe: 'a tmpfs on DST inside: DST[:size=N] (repeatable)' })
    .option('read-only', { type: 'boolean', group: 'Root filesystem:', describe: 'make the new root read-only' })
    .option('overlay', { type: 'boolean', group: 'Root filesystem:', describe: 'a writable tmpfs layer over the rootfs, discarded at exit (the rootfs is never modified)' })
    .option('chdir', { alias: 'w', type: 'string', requiresArg: true, group: 'Process:', describe: 'working directory inside (absolute)' })
    .option('env', { alias: 'e', type: 'string', requiresArg: true, group: 'Process:', describe: 'set KEY=VALUE in the environment (repeatable)' })
    .option('clear-env', { type: 'boolean', group: 'Process:', describe: 'start from an empty environment' })
    .option('as-pid-1', { type: 'boolean', group: 'Process:', describe: 'run the command as PID 1 itself, without nsrun-init' })
    .option('preserve-fds', { type: 'string', requiresArg: true, group: 'Process:', describe: 'pass fds 3 to 3+N-1 on to the command (all other fds above 2 are closed)' })
    .option('rlimit', { type: 'string', requiresArg: true, group: 'Process:', describe: 'set a resource limit NAME=SOFT[:HARD], e.g. nofile=1024, as=1G (repeatable)' })
    .option('name', { type: 'string', requiresArg: true, group: 'Process:', describe: 'register the sandbox under NAME for nsrun ps/exec/inspect/kill' })
    .options(SECURITY_OPTIONS)
    .option('memory', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'memory limit, e.g. 512m (OOM-killed above it: exit 137)' })
    .option('memory-swap', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'memory plus swap (needs --memory; -1: unlimited swap)' })
    .option('cpus', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'CPU time as a number of CPUs, e.g. 0.5 (a quota per 100 ms)' })
    .option('cpu-weight', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'CPU priority 1-10000 (default 100; cpu.shares on v1)' })
    .option('cpu-shares', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'CPU priority on the v1 scale 2-262144 (default 1024; converted on v2)' })
    .option('cpuset', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'CPUs to run on, e.g. 0 or 0-1,3' })
    .option('pids', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'maximum number of processes and threads' })
    .option('io-weight', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'I/O priority 1-10000 (blkio.weight on v1, needs BFQ)' })
    .option('io-max', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'throttle a disk: DEV:rbps=N,wbps=N,riops=N,wiops=N, DEV as MAJ:MIN or a path (repeatable)' })
    .option('cgroup-parent', { type: 'string', requiresArg: true, group: 'Resource limits (cgroups):', describe: 'create the sandbox\'s cgroup under PATH (inside each hierarchy) instead of next to yours' })
    .option('step', { type: 'boolean', group: 'Teaching:', describe: 'pause before each setup step, show what to look at from another terminal, go on with Enter' })
    .option('explain', { type: 'boolean', group: 'Teaching:', describe: 'print every step of the plan before running it' })
    .example('$0 --pid --net --uts --hostname box -- /bin/sh', 'a shell with its own PIDs, network and hostname')
    .example('$0 -r --explain -- id', 'show the plan, then run id as root in a user namespace')
    .epilog('Once COMMAND runs, nsrun replaces its Node process by nsrun-supervise (same PID, a few hundred KB) to forward signals, relay the terminal and clean up. NSRUN_SUPERVISOR=node keeps Node supervising.');
}

function writeErr(lines: string[]): void {
  fs.writeSync(2, lines.map((l) => `${l}\n`).join(''));
}

export async function runHandler(argv: ParsedArgs, rawArgs: string[] = []): Promise<number> {
  const opts = optionsFromArgv(argv, rawArgs);
  const facts = gatherHostFacts();
  const plan = buildPlan({ ...opts, stdio: 'auto', step: !!argv.step }, facts, probeRootfs(opts));
  // every limit is checked against the host before anything is created (and shown by --explain)
  if (plan.cgroup) await prepareCgroup(plan.cgroup, plan.caller.rootless);
  if (argv.explain) writeErr(explainPlan(plan));

  if (!argv.step) return supervise(plan, (extras) => startPlan(plan, facts, opts.name, extras));
  const stepper = terminalStepper();
  let stepping = true;
  return await supervise(
    plan,
    async (extras) => {
      try {
        return await startPlan(plan, facts, opts.name, { ...extras, stepper });
      } finally {
        stepping = false;
        stepper.close();
      }
    },
    // Ctrl-C while stepping ends the stepping (and, forwarded, the sandbox)
    (sig) => {
      if (sig === 'SIGINT' && stepping) stepper.abort();
    },
  );
}
