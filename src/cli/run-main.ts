// The CLI's first stop, bundled alone as dist/nsrun.js: a plain `nsrun [run] [options] -- COMMAND`
// line (most starts) is parsed by the fast parser and run from this bundle, which holds neither
// yargs nor the other subcommands: less than half the code to read and deserialize at every start.
// For any other line (another subcommand, --help, anything the fast parser leaves to yargs)
// runMain returns undefined and bin/nsrun.cjs loads the whole CLI (main.ts, dist/nsrun-full.js).
import * as fs from 'node:fs';
import { formatError, isNsrunError } from '../errors';
import { fastParse, type OptionDecl, type OptionTable, recordOptions, tableOf } from './fast-args';
import type { ParsedArgs } from './parse';
import { runBuilder, runHandler } from './run';

/** The first words that name a subcommand (main.ts has one entry for each, checked by the types). */
// bin/nsrun.cjs loads the addon before the bundle (it maps the bundle with it) and hands it over
export { adoptNative } from '../native/binding';

export const SUBCOMMAND_NAMES = ['run', 'exec', 'ps', 'inspect', 'kill', 'pause', 'resume', 'stats', 'doctor'] as const;
export type SubcommandName = (typeof SUBCOMMAND_NAMES)[number];

// The run options as runBuilder declares them, recorded when the CLI was bundled (scripts/bundle.js):
// a start then does not call the builder (~0.5 ms). null: the builder uses something the fast
// parser does not know. The unbundled modules have none and record it on each call.
declare const __NSRUN_RUN_OPTIONS__: OptionDecl[] | null | undefined;

/** The run options' table for the fast parser; undefined: every line goes to yargs. */
export function runOptionTable(): OptionTable | undefined {
  if (typeof __NSRUN_RUN_OPTIONS__ !== 'undefined') return __NSRUN_RUN_OPTIONS__ ? tableOf(__NSRUN_RUN_OPTIONS__) : undefined;
  return recordOptions(runBuilder);
}

/** The run line parsed without yargs, when the fast path is sure of it (./fast-args.ts). */
export function fastRunArgs(rest: string[]): ParsedArgs | undefined {
  const table = runOptionTable();
  return table && fastParse(rest, table, 'nsrun');
}

/** Every failure ends as one `nsrun: ...` line (and a hint); the exit status it calls for. */
export function reportFailure(e: unknown): number {
  fs.writeSync(2, formatError(e).map((l) => `${l}\n`).join(''));
  return isNsrunError(e) ? e.exitCode : 125;
}

/** Runs a plain run line; undefined: the line is not one (main.ts, in the full bundle, takes it). */
export function runMain(args: string[]): Promise<number> | undefined {
  if (args[0] !== undefined && args[0] !== 'run' && (SUBCOMMAND_NAMES as readonly string[]).includes(args[0])) return undefined;
  const rest = args[0] === 'run' ? args.slice(1) : args;
  const argv = fastRunArgs(rest);
  if (!argv) return undefined;
  return runHandler(argv, rest).catch(reportFailure);
}
