// The nsrun command line. The first word picks the subcommand (run is the default, so
// `nsrun -p ps` runs ps while `nsrun ps` lists sandboxes); each has its own yargs parser. Every
// failure ends as one `nsrun: ...` line (and a hint), exit 125.
import type { Argv } from 'yargs';
import { isNsrunError, usageError } from '../errors';
import { doctorBuilder, doctorHandler } from './doctor';
import { execBuilder, execHandler, extractNamespacePaths, splitExecCommand } from './exec';
import { inspectBuilder, inspectHandler, killBuilder, killHandler, pauseBuilder, pauseHandler, psBuilder, psHandler, resumeBuilder, resumeHandler } from './manage';
import type { NamespaceType } from '../linux';
import type { ParsedArgs } from './parse';
import { runBuilder, runHandler } from './run';
import { fastRunArgs, reportFailure, type SubcommandName } from './run-main';
import { statsBuilder, statsHandler } from './stats';

// as in run-main.ts: bin/nsrun.cjs hands over the addon it loaded to map this bundle
export { adoptNative } from '../native/binding';

/** Turns yargs' own failure messages into nsrun's one-line form. */
function yargsFailure(msg: string, sub: string, args: string[]): Error {
  const help = sub === 'run' ? 'see nsrun --help' : `see nsrun ${sub} --help`;
  const unknown = /^Unknown arguments?: (.*)$/.exec(msg);
  if (unknown) {
    const first = unknown[1].split(', ')[0];
    // yargs reads --no-X as X=false, and then reports X
    const given = (flag: string) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
    if (first.length > 1 && given(`--no-${first}`) && !given(`--${first}`)) return usageError(`--no-${first}`, 'unknown option', help);
    return usageError(first.length === 1 ? `-${first}` : `--${first}`, 'unknown option', help);
  }
  const missing = /^Not enough arguments following: (.*)$/.exec(msg);
  if (missing) return usageError(`--${missing[1]}`, 'needs a value', help);
  return usageError(undefined, msg, help);
}

const COMMANDS = `Commands:
  nsrun [run] [options] -- COMMAND   run a command in new namespaces (this page)
  nsrun exec TARGET -- COMMAND       run a command inside a running sandbox
  nsrun ps                           list running named sandboxes
  nsrun inspect TARGET               what a sandbox isolates and shares
  nsrun kill TARGET [SIGNAL]         signal a sandbox
  nsrun pause TARGET                 freeze a sandbox (cgroup freezer)
  nsrun resume TARGET                thaw a paused sandbox
  nsrun stats [TARGET...]            live CPU, memory, network, block I/O, PIDs
  nsrun doctor [--json]              check what this host lets nsrun do`;

const RUN_USAGE = `nsrun [run] [options] -- COMMAND [ARG...]\n\nRun COMMAND in new Linux namespaces.\n\n${COMMANDS}`;

/** What a handler gets besides the parsed arguments. */
interface Context {
  /** The subcommand's arguments as given (run: the order of --bind/--tmpfs matters). */
  rawArgs: string[];
  /** exec: --TYPE=FILE namespace files, taken out before yargs saw the arguments. */
  paths: Partial<Record<NamespaceType, string>>;
}

type Sub = {
  builder: (y: Argv) => Argv;
  handler: (argv: ParsedArgs, ctx: Context) => number | Promise<number>;
  positional: boolean;
  /** Stop option parsing at the first word (run: everything from the command on is the command's). */
  haltAtWord?: boolean;
};

const SUBCOMMANDS: Record<SubcommandName, Sub> = {
  run: { builder: (y) => runBuilder(y).usage(RUN_USAGE), handler: (a, c) => runHandler(a, c.rawArgs), positional: true, haltAtWord: true },
  exec: { builder: execBuilder, handler: (a, c) => execHandler(a, c.paths), positional: true },
  ps: { builder: psBuilder, handler: psHandler, positional: false },
  inspect: { builder: inspectBuilder, handler: inspectHandler, positional: true },
  kill: { builder: killBuilder, handler: killHandler, positional: true },
  pause: { builder: pauseBuilder, handler: pauseHandler, positional: true },
  resume: { builder: resumeBuilder, handler: resumeHandler, positional: true },
  stats: { builder: statsBuilder, handler: statsHandler, positional: true },
  doctor: { builder: doctorBuilder, handler: doctorHandler, positional: false },
};

/** yargs, loaded only for lines the fast path leaves to it. Its CommonJS factory: the package
 *  root would also build (and discard) a singleton parser of process.argv. */
function loadYargs(): typeof import('yargs/yargs') {
  return require('yargs/yargs') as typeof import('yargs/yargs');
}

/** The yargs parser configuration of every subcommand. Numbers in words stay strings: `sleep 1e3`
 *  must not become `sleep 1000`. */
function parserConfiguration(sub: SubcommandName): Record<string, boolean> {
  return { 'halt-at-non-option': !!SUBCOMMANDS[sub].haltAtWord, 'populate--': true, 'camel-case-expansion': false, 'parse-positional-numbers': false };
}

/** The yargs parser for a subcommand's words, as main() uses it (exported for tests). */
export function parserFor(sub: SubcommandName, rest: string[]): Argv {
  return SUBCOMMANDS[sub].builder(
    loadYargs()(rest)
      .scriptName(sub === 'run' ? 'nsrun' : `nsrun ${sub}`)
      .parserConfiguration(parserConfiguration(sub))
      .strictOptions()
      .exitProcess(false)
      .help()
      .alias('help', 'h')
      .version()
      // the terminal width matters only for --help; asking for it costs a tty stream otherwise
      .wrap(rest.includes('--help') || rest.includes('-h') ? Math.min(110, process.stdout.columns || 100) : null)
      .fail((msg, err) => {
        throw isNsrunError(err) ? err : yargsFailure(msg ?? err?.message ?? 'invalid arguments', sub, rest);
      }),
  );
}

export async function main(args: string[]): Promise<number> {
  const explicit = args[0] !== undefined && Object.hasOwn(SUBCOMMANDS, args[0]);
  const sub = (explicit ? args[0] : 'run') as SubcommandName;
  let rest = explicit ? args.slice(1) : args;
  try {
    const ctx: Context = { rawArgs: rest, paths: {} };
    if (sub === 'exec') ({ args: rest, paths: ctx.paths } = extractNamespacePaths(splitExecCommand(rest)));
    const spec = SUBCOMMANDS[sub];
    const argv = (sub === 'run' ? fastRunArgs(rest) : undefined) ?? ((await parserFor(sub, rest).parseAsync()) as unknown as ParsedArgs);
    if (argv.help || argv.version) return 0; // yargs printed them
    const words = [...argv._, ...(argv['--'] ?? [])];
    if (!spec.positional && words.length) throw usageError(String(words[0]), 'unexpected argument', `see nsrun ${sub} --help`);
    return await spec.handler(argv, ctx);
  } catch (e) {
    return reportFailure(e);
  }
}
