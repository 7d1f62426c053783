// The fast path for plain run lines (src/cli/fast-args.ts) gives exactly what yargs gives, and
// leaves every line it is not sure of to yargs (which then parses it or reports the error).
import type { Argv } from 'yargs';
import { describe, expect, test } from 'vitest';
import { fastParse, recordOptions } from '../../src/cli/fast-args';
import { parserFor } from '../../src/cli/main';
import { fastRunArgs } from '../../src/cli/run-main';
import { runBuilder } from '../../src/cli/run';

/** What yargs makes of a run line: the arguments, or the message of the error main() prints. */
async function viaYargs(args: string[]): Promise<unknown> {
  try {
    return JSON.parse(JSON.stringify(await parserFor('run', args).parseAsync()));
  } catch (e) {
    return { error: (e as Error).message };
  }
}

// Lines the fast path parses itself: it must give what yargs gives.
const FAST: string[][] = [
  ['--pid', '--net', '--uts', '--ipc', '--mount', '--', '/bin/true'],
  ['--pid', '--net', '--', 'sh', '-c', 'echo hi'],
  ['-p', '-n', '-u', 'id'],
  ['-pnui', 'id', 'true'],
  ['-pe', 'A=1', 'env'],
  ['-pnuimUCT', '--', 'id'],
  ['--all', '--', 'id'],
  ['ls', '--pid', '-n'],
  ['-p', 'ls', '-l', '--', 'x'],
  ['--pid'],
  [],
  ['--'],
  ['--pid', '--'],
  ['--', '--pid'],
  ['-p', '-', 'x'],
  ['--no-pid', '--pid', 'x'],
  ['--pid', '--no-pid', 'x'],
  ['--pid', '--pid', 'x'],
  ['--no-net', 'x'],
  ['--p', 'x'],
  ['--hostname', 'box', '--uts', 'sh'],
  ['--hostname=box', '-u', 'sh'],
  ['--hostname=', '-u', 'sh'],
  ['--hostname', '', '-u', 'sh'],
  ['--hostname', 'a', '--hostname', 'b', '-u', 'sh'],
  ['--hostname=a=b', '-u', 'sh'],
  ['-e', 'A=1', '--env', 'B=2', '--env=C=3', '-e', 'D', 'env'],
  ['-e', 'A=1', 'env'],
  ['-w', '/tmp', '--chdir', '/', 'pwd'],
  ['--bind', '/a:/b', '--ro-bind', '/c', '--tmpfs', '/t:size=1m', '--rootfs', '/r', '--read-only', '--overlay', 'sh'],
  ['--map-users', '100000:0:65536', '--map-groups', '100000,0,65536', '--uid', '1000', '--gid', '1000', '--groups', '1,2', 'id'],
  ['-r', '--map-user', 'root', '--map-group', '0', 'id'],
  ['--rlimit', 'nofile=64:128', '--rlimit', 'core=0', '--preserve-fds', '2', '--', 'sh'],
  ['--memory', '512m', '--memory-swap', '-1m'.slice(1), '--cpus', '1.5', '--cpu-weight', '100', '--pids', '10', '--io-max', '8:0:rbps=1', 'true'],
  ['--cap-add', 'NET_ADMIN', '--cap-drop', 'ALL', '--allow-new-privs', '--seccomp', 'unconfined', '--disable-userns', 'id'],
  ['--name', 'box', '--explain', '--step', '--clear-env', '--as-pid-1', 'id'],
  ['--pid', '--', 'sleep', '10'],
  ['-p', 'echo', '1e3', '0x10', '010', '1.50', '-5'],
  ['--', 'echo', '1e3', '0x10', '010', '1.50', '-5', 'true', 'false'],
  ['--cpus', '2', '--pids', '0x10', 'true'],
  ['-p', 'TRUE', 'false'],
  ['--net', 'node', '--pid', '--', 'x'],
];

// Lines the fast path leaves to yargs: help, version, unknown options, missing values, forms yargs
// reads in its own way.
const SLOW: string[][] = [
  ['--help'],
  ['-h'],
  ['--version'],
  ['--pid', '--help', 'x'],
  ['--bogus', 'ls'],
  ['-Z', '--', 'true'],
  ['-pZ', 'true'],
  ['--no-bogus', 'x'],
  ['--hostname'],
  ['-e'],
  ['--hostname', '--pid', 'x'],
  ['--hostname', '-5', 'x'],
  ['--pid=false', 'x'],
  ['--pid=yes', 'x'],
  ['--pid=true', 'x'],
  ['--no-pid=1', 'x'],
  ['--no-hostname', 'x'],
  ['--pid', 'true', 'x'],
  ['-p', 'false', 'x'],
  ['--no-pid', 'false', 'x'],
  ['-e=A=1', 'x'],
  ['-eA=1', 'x'],
  ['--disable-userns', 'true'],
  ['-5', 'x'],
  ['--hostname', '"box"', '-u', 'x'],
  ['--hostname="box"', '-u', 'x'],
  ['--pid.x', 'y'],
  ['--map-users.a', '1', 'y'],
  ['---pid', 'x'],
];

describe('fast run-line parsing', () => {
  test('the run builder declares only what the fast parser implements', () => {
    const table = recordOptions((y) => runBuilder(y));
    expect(table).toBeDefined();
    expect(table!.get('p')).toBe(table!.get('pid'));
    expect(table!.get('env')).toMatchObject({ names: ['env', 'e'], type: 'string', array: false });
  });

  test.each(FAST.map((l) => [l.join(' ') || '(nothing)', l]))('%s: parsed without yargs, as yargs does', async (_name, line) => {
    const fast = fastRunArgs(line as string[]);
    expect(fast).toBeDefined();
    expect(fast).toEqual(await viaYargs(line as string[]));
  });

  test.each(SLOW.map((l) => [l.join(' '), l]))('%s: left to yargs', (_name, line) => {
    expect(fastRunArgs(line as string[])).toBeUndefined();
  });

  test('lines left to yargs get its errors, in nsrun\'s words', async () => {
    expect(await viaYargs(['--bogus', 'ls'])).toEqual({ error: 'options: --bogus: unknown option' });
    expect(await viaYargs(['--no-bogus', 'ls'])).toEqual({ error: 'options: --no-bogus: unknown option' });
    expect(await viaYargs(['-pZ', 'ls'])).toEqual({ error: 'options: -Z: unknown option' });
    expect(await viaYargs(['--hostname'])).toEqual({ error: 'options: --hostname: needs a value' });
    expect(await viaYargs(['--hostname', '--pid', 'x'])).toEqual({ error: 'options: --hostname: needs a value' });
  });

  test('numbers in command words stay as written (yargs too)', async () => {
    const words = ['echo', '1e3', '0x10', '010', '1.50', '-5', '9007199254740993'];
    expect(await viaYargs(['--pid', '--', ...words])).toMatchObject({ '--': words });
    expect(await viaYargs(['--pid=true', ...words])).toMatchObject({ '--': words });
    expect(fastRunArgs(['-p', ...words])).toMatchObject({ '--': words });
    // the other subcommands' words too (kill TARGET SIGNAL, exec TARGET -- COMMAND)
    expect(JSON.parse(JSON.stringify(await parserFor('kill', ['0x10', '010']).parseAsync()))).toMatchObject({ _: ['0x10', '010'] });
    expect(JSON.parse(JSON.stringify(await parserFor('exec', ['1e3', '--', 'echo', '1e3']).parseAsync()))).toMatchObject({ _: ['1e3'], '--': ['echo', '1e3'] });
  });
});

describe('the fast parser on declarations the run builder does not use yet', () => {
  // arrays, defaults and choices, compared with yargs configured as main() configures it
  const builder = (y: Argv): Argv =>
    y
      .option('flag', { alias: ['f', 'fl'], type: 'boolean', describe: 'a flag' })
      .option('on', { type: 'boolean', default: true })
      .option('mode', { alias: 'm', type: 'string', requiresArg: true, choices: ['a', 'b'], default: 'a' })
      .option('item', { alias: 'i', type: 'string', requiresArg: true, array: true })
      .usage('x')
      .example('x', 'y')
      .epilog('z');
  const yargsOf = async (args: string[]): Promise<unknown> => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const yargs = require('yargs/yargs') as typeof import('yargs/yargs');
    const p = builder(
      yargs(args)
        .scriptName('t')
        .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true, 'camel-case-expansion': false, 'parse-positional-numbers': false })
        .strictOptions()
        .exitProcess(false)
        .help()
        .version()
        .fail((msg, err) => {
          throw new Error(msg ?? err?.message);
        }),
    );
    try {
      return JSON.parse(JSON.stringify(await p.parseAsync()));
    } catch (e) {
      return { error: (e as Error).message };
    }
  };
  const table = recordOptions(builder)!;

  test('recorded: aliases, types, arrays, defaults, choices', () => {
    expect(table.get('fl')).toEqual({ names: ['flag', 'f', 'fl'], type: 'boolean', array: false });
    expect(table.get('m')).toEqual({ names: ['mode', 'm'], type: 'string', array: false, default: 'a', choices: ['a', 'b'] });
    expect(table.get('item')).toEqual({ names: ['item', 'i'], type: 'string', array: true });
  });

  test.each([
    [['x']],
    [['-f', '--', 'x']],
    [['--fl', 'x']],
    [['--no-on', 'x']],
    [['--mode', 'b', 'x']],
    [['-m', 'b', '-m', 'a', 'x']],
    [['--item', 'one', '--', 'x']],
    [['--item', 'one', '-i', 'two', '--item=three', '--', 'x']],
    [['-i', 'one', '-f', 'x']],
  ])('%j: as yargs', async (line) => {
    const fast = fastParse(line, table, 't');
    expect(fast).toBeDefined();
    expect(fast).toEqual(await yargsOf(line));
  });

  test.each([
    [['--mode', 'c', 'x']],
    [['--item', 'one', 'two', '--', 'x']],
    [['--item', 'one', 'x']],
    [['--on=false', 'x']],
  ])('%j: left to yargs', (line) => {
    expect(fastParse(line, table, 't')).toBeUndefined();
  });

  test('a builder that uses anything else is never parsed fast', () => {
    expect(recordOptions((y) => y.option('n', { type: 'number' }))).toBeUndefined();
    expect(recordOptions((y) => y.option('s', { type: 'string' }))).toBeUndefined(); // no requiresArg: `--s` alone is ''
    expect(recordOptions((y) => y.option('s', { type: 'string', requiresArg: true, coerce: String }))).toBeUndefined();
    expect(recordOptions((y) => y.option('a', { type: 'boolean' }).conflicts('a', 'b'))).toBeUndefined();
    expect(recordOptions((y) => y.option('a', { type: 'boolean' }).option('a', { type: 'boolean' }))).toBeUndefined();
    expect(recordOptions((y) => y.option('no-a', { type: 'boolean' }))).toBeUndefined();
    expect(recordOptions((y) => y.positional('x', {}))).toBeUndefined();
  });
});
