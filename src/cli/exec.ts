// `nsrun exec TARGET [options] -- COMMAND [ARG...]`
import type { Argv } from 'yargs';
import { usageError } from '../errors';
import { NAMESPACE_FLAGS, type NamespaceType } from '../linux';
import { gatherHostFacts } from '../parent/host';
import { prepareJoin, type ExecOptions } from '../parent/join';
import { explainPlan } from '../plan/explain';
import { spawnPlan } from '../sandbox';
import { list, parseCount, parseEnv, securityFromArgv, single, type ParsedArgs } from './parse';
import { SECURITY_OPTIONS } from './run';
import { supervise } from './supervise';
import * as fs from 'node:fs';

export function execBuilder(y: Argv): Argv {
  for (const f of NAMESPACE_FLAGS) {
    y.option(f.long, { alias: f.short, type: 'boolean', group: 'Namespaces to enter (default: every one that differs from yours):', describe: `the target's ${f.type} namespace; --${f.long}=FILE enters a namespace file instead (e.g. /run/netns/NAME)` });
  }
  return y
    .usage('nsrun exec TARGET [options] -- COMMAND [ARG...]\n\nRun COMMAND inside a running sandbox: TARGET is a sandbox name, a PID, or omitted when namespace files are given.')
    .option('env-from-target', { type: 'boolean', group: 'Process:', describe: "use the target's environment instead of yours" })
    .option('env', { alias: 'e', type: 'string', requiresArg: true, group: 'Process:', describe: 'set KEY=VALUE (repeatable)' })
    .option('chdir', { alias: 'w', type: 'string', requiresArg: true, group: 'Process:', describe: "working directory inside (default: the target's)" })
    .option('preserve-fds', { type: 'string', requiresArg: true, group: 'Process:', describe: 'pass fds 3 to 3+N-1 on to the command (all other fds above 2 are closed)' })
    .options(SECURITY_OPTIONS)
    .option('explain', { type: 'boolean', group: 'Teaching:', describe: 'print every step before running it' })
    .example('$0 exec box -- sh', 'a shell inside the sandbox named box')
    .example('$0 exec --net=/run/netns/blue -- ip addr', 'like ip netns exec blue ip addr');
}

const VALUED = new Set(['--env', '-e', '--chdir', '-w', '--cap-add', '--cap-drop', '--seccomp', '--preserve-fds']);

/**
 * `exec [options] TARGET [options] COMMAND...`: options may come before and after TARGET, and the
 * first word after TARGET starts the command. Inserts the `--` that says so, unless one is there.
 */
export function splitExecCommand(args: string[]): string[] {
  let words = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return args;
    if (a.startsWith('-') && a !== '-') {
      if (VALUED.has(a)) i++;
      continue;
    }
    words++;
    // with namespace files the TARGET is optional: then the first word is the command
    const hasPaths = args.slice(0, i).some((x) => /^--[a-z]+=/.test(x) && !/^--(env|chdir|cap-add|cap-drop|seccomp)=/.test(x));
    if (words === 2 || (words === 1 && hasPaths)) return [...args.slice(0, i), '--', ...args.slice(i)];
  }
  return args;
}

/** Pulls --TYPE=FILE out of the arguments (yargs would take a following word as the value). */
export function extractNamespacePaths(args: string[]): { args: string[]; paths: Partial<Record<NamespaceType, string>> } {
  const paths: Partial<Record<NamespaceType, string>> = {};
  const rest: string[] = [];
  let done = false;
  for (const a of args) {
    const m = done ? null : /^--([a-z]+)=(.*)$/.exec(a);
    const f = m && NAMESPACE_FLAGS.find((x) => x.long === m[1]);
    if (a === '--') done = true;
    if (m && f) {
      if (paths[f.type] !== undefined) throw usageError(`--${f.long}`, 'given more than once');
      if (m[2] === '') throw usageError(`--${f.long}`, 'needs a namespace file after =');
      paths[f.type] = m[2];
    } else rest.push(a);
  }
  return { args: rest, paths };
}

export async function execHandler(argv: ParsedArgs, paths: Partial<Record<NamespaceType, string>>): Promise<number> {
  // argv._ holds TARGET (if any), argv['--'] the command (splitExecCommand put the `--`).
  const before = argv._.map(String);
  if (before.length > 1) throw usageError(before[1], 'unexpected argument before --', 'usage: nsrun exec TARGET [options] -- COMMAND [ARG...]');
  const target: string | undefined = before[0];
  const command = (argv['--'] ?? []).map(String);
  if (!target && Object.keys(paths).length === 0) throw usageError('TARGET', 'no target given', 'usage: nsrun exec TARGET [options] -- COMMAND [ARG...]');
  const opts: ExecOptions = { target, command, namespacePaths: paths, stdio: 'auto' };
  const ns = NAMESPACE_FLAGS.filter((f) => argv[f.long] === true).map((f) => f.type);
  if (ns.length) opts.namespaces = ns;
  if (argv['env-from-target']) opts.envFromTarget = true;
  const env = list(argv, 'env');
  if (env.length) opts.env = parseEnv(env);
  const cwd = single(argv, 'chdir', '--chdir');
  if (cwd !== undefined) opts.cwd = cwd;
  const preserve = single(argv, 'preserve-fds', '--preserve-fds');
  if (preserve !== undefined) opts.preserveFds = parseCount(preserve, '--preserve-fds', 'a number of fds');
  Object.assign(opts, securityFromArgv(argv));

  const facts = gatherHostFacts();
  const prepared = prepareJoin(opts, facts);
  if (argv.explain) fs.writeSync(2, [...explainPlan(prepared.plan), ...prepared.notes.map((n) => `note: ${n}`)].map((l) => `${l}\n`).join(''));
  return supervise(prepared.plan, (extras) => spawnPlan(prepared.plan, facts, { ...extras, planFds: prepared.fds }));
}
