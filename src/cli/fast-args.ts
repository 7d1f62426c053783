// A fast path for plain `nsrun [run] [options] -- COMMAND` lines: parsed without constructing
// yargs, which costs a few ms of every start (loading it, and declaring ~50 options). The options
// come from the run builder itself, called with a recording stand-in for yargs, so there is one
// declaration of each option. The parser knows only the forms a plain run line uses; for anything
// else (--help, --version, an unknown or misspelled option, a missing value, `--flag=value` for a
// boolean, a value that looks like an option, ...) it returns undefined and yargs parses the line,
// with its own messages. test/unit/cli-args.test.ts checks that both give the same ParsedArgs.
import type { Argv } from 'yargs';
import type { ParsedArgs } from './parse';

export interface OptionDecl {
  /** The option's name as declared, then its aliases. */
  names: string[];
  type: 'boolean' | 'string';
  array: boolean;
  default?: unknown;
  choices?: readonly unknown[];
}

/** What a builder declared: every name and alias → its declaration. */
export type OptionTable = Map<string, OptionDecl>;

/** yargs methods a builder may call that do not change how a line parses (help text only). */
const TEXT_ONLY = new Set(['usage', 'example', 'epilog', 'epilogue', 'group', 'describe', 'wrap', 'scriptName']);
/** Option settings the fast parser applies, and those that only shape the help text. */
const OPTION_KEYS = new Set(['alias', 'type', 'array', 'default', 'choices', 'requiresArg', 'group', 'describe', 'desc', 'description', 'hidden']);

/**
 * Calls `builder` with a stand-in for yargs that records `.option()` and `.options()`. Returns
 * undefined when the builder uses anything the fast parser does not implement (another yargs
 * method, a number or count option, coerce, implies, ...): its lines then always go to yargs.
 */
export function recordOptions(builder: (y: Argv) => Argv): OptionTable | undefined {
  const table: OptionTable = new Map();
  let unsupported = false;
  const declare = (key: string, opt: Record<string, unknown>): void => {
    for (const k of Object.keys(opt)) if (!OPTION_KEYS.has(k)) unsupported = true;
    const type = opt.type;
    if (type !== 'boolean' && type !== 'string') unsupported = true;
    // a string option must take a value: without requiresArg yargs would read `--name` alone as ''
    if (type === 'string' && opt.requiresArg !== true) unsupported = true;
    if (type === 'boolean' && (opt.array || opt.requiresArg)) unsupported = true;
    const aliases = opt.alias === undefined ? [] : Array.isArray(opt.alias) ? opt.alias : [opt.alias];
    const names = [key, ...aliases.map(String)];
    const decl: OptionDecl = { names, type: type === 'boolean' ? 'boolean' : 'string', array: opt.array === true };
    if (opt.default !== undefined) decl.default = opt.default;
    if (opt.choices !== undefined) decl.choices = Array.isArray(opt.choices) ? opt.choices : [opt.choices];
    for (const n of names) {
      // `--no-X` would be ambiguous, and names yargs treats specially are not ours to parse
      if (table.has(n) || n.startsWith('no-') || n === '' || /[.=\s]/.test(n) || n === 'help' || n === 'version' || n === 'h') unsupported = true;
      table.set(n, decl);
    }
  };
  const standIn: Argv = new Proxy({} as Argv, {
    get(_target, prop) {
      if (prop === 'option')
        return (key: unknown, opt: unknown) => {
          if (typeof key === 'string' && opt && typeof opt === 'object') declare(key, opt as Record<string, unknown>);
          else unsupported = true;
          return standIn;
        };
      if (prop === 'options')
        return (all: unknown) => {
          if (all && typeof all === 'object') for (const [k, o] of Object.entries(all)) declare(k, o as Record<string, unknown>);
          else unsupported = true;
          return standIn;
        };
      if (typeof prop === 'string' && TEXT_ONLY.has(prop)) return () => standIn;
      unsupported = true;
      return () => standIn;
    },
  });
  builder(standIn);
  return unsupported ? undefined : table;
}

/** A table's declarations, each once (aliases share theirs): what the CLI bundle carries. */
export function declarationsOf(table: OptionTable): OptionDecl[] {
  return [...new Set(table.values())];
}

/** The table again from its declarations. */
export function tableOf(decls: readonly OptionDecl[]): OptionTable {
  const table: OptionTable = new Map();
  for (const d of decls) for (const n of d.names) table.set(n, d);
  return table;
}

/**
 * Parses a run line as yargs would (halt at the first word, `--` populated, no camel-case
 * expansion, strict options), or returns undefined when yargs should. `args`: the words after
 * `nsrun` (and `run`, if given).
 */
export function fastParse(args: readonly string[], table: OptionTable, scriptName: string): ParsedArgs | undefined {
  const given = new Map<OptionDecl, unknown>();
  // an array option takes every word up to the next option: left to yargs
  const endsArray = (decl: OptionDecl, next: string | undefined) => decl.array && next !== undefined && !next.startsWith('-');
  const set = (decl: OptionDecl, value: unknown): void => {
    if (decl.type === 'boolean') given.set(decl, value); // the last one counts
    else if (decl.array) given.set(decl, [...((given.get(decl) as unknown[] | undefined) ?? []), value]);
    else if (given.has(decl)) {
      const prev = given.get(decl);
      given.set(decl, Array.isArray(prev) ? [...prev, value] : [prev, value]);
    } else given.set(decl, value);
  };
  // a value is taken as given unless yargs might read it otherwise (an option, a quoted string)
  const plainValue = (v: string | undefined): v is string => v !== undefined && !v.startsWith('-') && !/^["']/.test(v);
  // after a boolean flag yargs takes a following `true` or `false` as its value
  const takesBoolWord = (next: string | undefined) => next === 'true' || next === 'false';

  let words: string[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      words = args.slice(i + 1);
      break;
    }
    if (a === '-' || !a.startsWith('-')) {
      words = args.slice(i); // the command: everything from here is its own
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const decl = table.get(name);
      if (!decl) {
        const negated = name.startsWith('no-') ? table.get(name.slice(3)) : undefined;
        if (!negated || negated.type !== 'boolean' || eq >= 0 || takesBoolWord(args[i + 1])) return undefined;
        set(negated, false);
        continue;
      }
      if (decl.type === 'boolean') {
        if (eq >= 0 || takesBoolWord(args[i + 1])) return undefined;
        set(decl, true);
        continue;
      }
      if (eq >= 0) {
        const v = a.slice(eq + 1);
        if (/^["']/.test(v) || endsArray(decl, args[i + 1])) return undefined;
        set(decl, v);
        continue;
      }
      const v = args[i + 1];
      if (!plainValue(v) || endsArray(decl, args[i + 2])) return undefined;
      set(decl, v);
      i++;
      continue;
    }
    // -x, -xyz (booleans), -x VALUE
    const letters = a.slice(1);
    if (!/^[A-Za-z]+$/.test(letters)) return undefined;
    for (let j = 0; j < letters.length; j++) {
      const decl = table.get(letters[j]);
      if (!decl) return undefined;
      const last = j === letters.length - 1;
      if (decl.type === 'boolean') {
        if (last && takesBoolWord(args[i + 1])) return undefined;
        set(decl, true);
        continue;
      }
      if (!last) return undefined;
      const v = args[i + 1];
      if (!plainValue(v) || endsArray(decl, args[i + 2])) return undefined;
      set(decl, v);
      i++;
    }
  }

  const argv: ParsedArgs = { _: [] };
  const decls = new Set(table.values());
  for (const decl of decls) {
    let value = given.has(decl) ? given.get(decl) : decl.default;
    if (value === undefined) continue;
    if (decl.array && !Array.isArray(value)) value = [value];
    if (decl.choices && given.has(decl) && [value].flat().some((v) => !decl.choices!.includes(v))) return undefined; // yargs says which
    for (const n of decl.names) argv[n] = Array.isArray(value) ? [...value] : value;
  }
  if (words?.length) argv['--'] = words; // yargs leaves out an empty `--`
  argv.$0 = scriptName;
  return argv;
}
