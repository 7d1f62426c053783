#!/usr/bin/env node
// Bundles the CLI into one file (dist/nsrun.js): Node then resolves and reads one module instead
// of ~80 (ours and yargs'), which is most of nsrun's start-up time over `node -e 0`.
'use strict';
const path = require('node:path');
const root = path.join(__dirname, '..');
let esbuild;
try {
  esbuild = require('esbuild');
} catch {
  // installed without devDependencies: bin/nsrun.js falls back to dist/cli/main.js
  process.exit(0);
}
esbuild.build({
  entryPoints: [path.join(root, 'src', 'cli', 'main.ts')],
  outfile: path.join(root, 'dist', 'nsrun.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  legalComments: 'none',
  // The fault-injection hook (src/parent/fault.ts) is for tests: compiled out of the CLI users run.
  define: { __NSRUN_FAULTS__: 'false' },
  minifySyntax: true, // drops the dead branches the define leaves
  // `import yargs` would otherwise pick yargs' ESM build, whose cliui wraps help text with a naive
  // wrap (ignores newlines, breaks words): take the CommonJS builds that `node dist/cli/main.js` uses.
  plugins: [
    {
      name: 'commonjs-yargs',
      setup(build) {
        build.onResolve({ filter: /^yargs$/ }, (args) => ({ path: require.resolve('yargs', { paths: [args.resolveDir] }) }));
      },
    },
  ],
}).catch(() => process.exit(1)); // esbuild has printed the error
