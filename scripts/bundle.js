#!/usr/bin/env node
// Bundles the CLI (Node then resolves and reads one module instead of ~80, ours and yargs'), twice:
// dist/nsrun.js holds only what a plain run line needs (src/cli/run-main.ts: no yargs, no other
// subcommand, ~40% of the code), dist/nsrun-full.js the whole CLI (src/cli/main.ts), which
// bin/nsrun.cjs loads only for the other lines. Each is self-contained: a start runs one or the other.
'use strict';
const path = require('node:path');
const root = path.join(__dirname, '..');
let esbuild;
try {
  esbuild = require('esbuild');
} catch {
  // installed without devDependencies: bin/nsrun.cjs falls back to dist/cli/main.js
  process.exit(0);
}
/**
 * The default seccomp profile compiled for this machine's architecture, for the sandboxes most
 * runs make: Docker's default capabilities (root, or a user namespace) and none (no user
 * namespace, not root), with and without --disable-userns. From the compiled modules (tsc runs
 * before this script); src/security/seccomp.ts takes a filter from it only for an identical key,
 * and the rules' inputs of that key (which capabilities and kernel releases they test) from it too.
 */
function defaultFilters() {
  try {
    const seccomp = require(path.join(root, 'dist', 'security', 'seccomp.js'));
    const { DEFAULT_CAPS } = require(path.join(root, 'dist', 'security', 'capabilities.js'));
    // the kernel from node:os: the table needs no addon (its default, the addon's uname)
    const { inputs, filters } = seccomp.defaultFilterTable(seccomp.nativeArch(), [DEFAULT_CAPS, []], require('node:os').release());
    // each filter as JSON text: parsed when a run uses it, instead of built as literals at start
    return { inputs, filters: Object.fromEntries(Object.entries(filters).map(([key, plan]) => [key, JSON.stringify(plan)])) };
  } catch {
    return null; // an architecture without a syscall table: every run compiles (and refuses) as before
  }
}

/** The run options as the fast parser reads them from runBuilder (src/cli/run-main.ts). */
function runOptions() {
  const { recordOptions, declarationsOf } = require(path.join(root, 'dist', 'cli', 'fast-args.js'));
  const { runBuilder } = require(path.join(root, 'dist', 'cli', 'run.js'));
  const table = recordOptions(runBuilder);
  return table ? declarationsOf(table) : null;
}

// Each bundle is written as the function bin/nsrun.cjs calls, (function (exports, require, module,
// __filename, __dirname) {...}), which is what Node's module loader would wrap it in: the loader
// compiles the file as it is on disk (mapped, not copied; see bin/nsrun.cjs) instead of a wrapped
// copy, which V8 had to flatten into a third 200 KB string. Not a module to require.
const WRAP_START = '(function (exports, require, module, __filename, __dirname) {';
const WRAP_END = '})';

esbuild.build({
  write: false, // written below: a new file renamed over the old, never rewritten in place (a running CLI has it mapped)
  banner: { js: WRAP_START },
  footer: { js: WRAP_END },
  entryPoints: [
    { in: path.join(root, 'src', 'cli', 'run-main.ts'), out: 'nsrun' },
    { in: path.join(root, 'src', 'cli', 'main.ts'), out: 'nsrun-full' },
  ],
  outdir: path.join(root, 'dist'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  legalComments: 'none',
  charset: 'ascii', // (esbuild's default) bin/nsrun.cjs reads the bundle as latin1
  // The fault-injection hook (src/parent/fault.ts) is for tests: compiled out of the CLI users run.
  define: {
    __NSRUN_FAULTS__: 'false',
    __NSRUN_DEFAULT_FILTERS__: JSON.stringify(defaultFilters()),
    __NSRUN_RUN_OPTIONS__: JSON.stringify(runOptions()),
  },
  minifySyntax: true, // drops the dead branches the define leaves
  // `import yargs from 'yargs/yargs'` would otherwise pick yargs' ESM build, whose cliui wraps help text with a naive
  // wrap (ignores newlines, breaks words): take the CommonJS builds that `node dist/cli/main.js` uses.
  plugins: [
    {
      // `import * as fs from 'node:fs'` becomes `__toESM(require("node:fs"))`, which copies every
      // property of the builtin into a new object at load time (~30 such imports, a few ms of every
      // start). Our sources never use a builtin's default export, so they can take the module
      // itself: `import fs = require('node:fs')` compiles to a plain `require`.
      name: 'plain-builtins',
      setup(build) {
        const fs = require('node:fs');
        const src = path.join(root, 'src') + path.sep;
        build.onLoad({ filter: /\.ts$/ }, (args) => {
          if (!args.path.startsWith(src)) return undefined;
          const text = fs.readFileSync(args.path, 'utf8');
          return { contents: text.replace(/^import \* as (\w+) from '(node:[\w/]+)';$/gm, "import $1 = require('$2');"), loader: 'ts' };
        });
      },
    },
    {
      // yargs requires node:assert at load for two functions it calls only when a command is
      // misdeclared; node:assert pulls in its error formatting and a stderr stream (a few ms).
      name: 'lazy-assert-for-yargs',
      setup(build) {
        build.onResolve({ filter: /^assert$/ }, (args) =>
          args.importer.includes(`${path.sep}node_modules${path.sep}yargs${path.sep}`) ? { path: 'assert', namespace: 'lazy-assert' } : undefined);
        build.onLoad({ filter: /.*/, namespace: 'lazy-assert' }, () => ({
          contents: `module.exports = {
  notStrictEqual: (...a) => require('node:assert').notStrictEqual(...a),
  strictEqual: (...a) => require('node:assert').strictEqual(...a),
};`,
          loader: 'js',
        }));
      },
    },
    {
      name: 'commonjs-yargs',
      setup(build) {
        build.onResolve({ filter: /^yargs(\/yargs)?$/ }, (args) => ({ path: require.resolve(args.path, { paths: [args.resolveDir] }) }));
      },
    },
  ],
}).then((result) => {
  const fs = require('node:fs');
  for (const out of result.outputFiles) {
    const tmp = `${out.path}.${process.pid}`;
    fs.writeFileSync(tmp, out.contents);
    fs.renameSync(tmp, out.path);
  }
}).catch((e) => {
  if (!e.errors) console.error(e); // esbuild has printed its own errors
  process.exit(1);
});
