// The nsrun command line. Every failure ends as one `nsrun: ...` line (and a hint), exit 125.
import * as fs from 'node:fs';
import yargs from 'yargs';
import { formatError, isNsrunError, usageError } from '../errors';
import { runBuilder, runHandler } from './run';
import type { ParsedArgs } from './parse';

function writeErr(lines: string[]): void {
  fs.writeSync(2, lines.map((l) => `${l}\n`).join(''));
}

/** Turns yargs' own failure messages into nsrun's one-line form. */
function yargsFailure(msg: string): Error {
  const unknown = /^Unknown arguments?: (.*)$/.exec(msg);
  if (unknown) {
    const first = unknown[1].split(', ')[0];
    return usageError(first.length === 1 ? `-${first}` : `--${first}`, 'unknown option', 'see nsrun --help');
  }
  const missing = /^Not enough arguments following: (.*)$/.exec(msg);
  if (missing) return usageError(`--${missing[1]}`, 'needs a value', 'see nsrun --help');
  return usageError(undefined, msg, 'see nsrun --help');
}

export async function main(args: string[]): Promise<number> {
  let code = 0;
  let handled: Promise<number> | undefined;
  try {
    const parser = yargs(args)
      .scriptName('nsrun')
      .usage('nsrun [run] [options] -- COMMAND [ARG...]\n\nRun COMMAND in new Linux namespaces.')
      .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true, 'camel-case-expansion': false })
      .command(['run [command..]', '$0 [command..]'], 'run a command in new namespaces', runBuilder, (argv) => {
        handled = runHandler(argv as unknown as ParsedArgs);
      })
      .strict()
      .exitProcess(false)
      .help()
      .alias('help', 'h')
      .version()
      .wrap(Math.min(110, process.stdout.columns || 100))
      .fail((msg, err) => {
        throw isNsrunError(err) ? err : yargsFailure(msg ?? err?.message ?? 'invalid arguments');
      });
    await parser.parseAsync();
    if (handled) code = await handled;
  } catch (e) {
    writeErr(formatError(e));
    code = isNsrunError(e) ? e.exitCode : 125;
  }
  return code;
}
