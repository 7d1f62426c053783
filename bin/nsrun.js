#!/usr/bin/env node
'use strict';
// nsrun's command line. Runs the bundled CLI (built by scripts/bundle.js) with V8's code cache
// (written by scripts/code-cache.js right after the bundles): compiling the bundle and the functions
// a run needs is then read from the cache instead of done again. A cache for another bundle,
// another Node or other V8 flags is not used (plain compile instead). Two bundles: dist/nsrun.js
// runs plain run lines (most starts) and holds nothing else; any other line goes to the whole CLI,
// dist/nsrun-full.js, loaded only then. Without bundles (installed without devDependencies) the
// compiled modules run: dist/cli/main.js.
// The loader lives here, not in a module of its own: one file less to resolve and read per start.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const BUNDLE = path.join(__dirname, '..', 'dist', 'nsrun.js');
const CACHE = path.join(__dirname, '..', 'dist', 'nsrun.cache');
const FULL_BUNDLE = path.join(__dirname, '..', 'dist', 'nsrun-full.js');
const FULL_CACHE = path.join(__dirname, '..', 'dist', 'nsrun-full.cache');

/** The key the cache was made for: V8 only checks the source's length, so we check its identity. */
function bundleKey(st) {
  return `${process.version} ${st.size} ${Math.round(st.mtimeMs)} ${st.ino}\n`;
}

/**
 * Compile and run the bundle. `produce`: no cache is read (the caller makes one from `script`).
 * `bundle`/`cache` default to dist/ (tests point them elsewhere). `cacheUsed` says whether V8
 * took the cache.
 */
function loadBundle(options = {}) {
  const bundle = options.bundle ?? BUNDLE;
  const cache = options.cache ?? CACHE;
  const fd = fs.openSync(bundle, 'r');
  let source;
  let st;
  try {
    st = fs.fstatSync(fd);
    // esbuild writes ASCII (charset: 'ascii' is its default): latin1 reads it as utf8 would, faster
    source = fs.readFileSync(fd, 'latin1');
  } finally {
    fs.closeSync(fd);
  }
  let cachedData;
  if (!options.produce) {
    try {
      const buf = fs.readFileSync(cache);
      const nl = buf.indexOf(10);
      if (nl > 0 && buf.toString('latin1', 0, nl + 1) === bundleKey(st)) cachedData = buf.subarray(nl + 1);
    } catch {
      // no cache: compile as usual
    }
  }
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  const mod = { exports: {}, filename: bundle, id: bundle, loaded: false };
  script.runInThisContext()(mod.exports, Module.createRequire(bundle), mod, bundle, path.dirname(bundle));
  mod.loaded = true;
  return { cli: mod.exports, script, key: bundleKey(st), cacheUsed: cachedData !== undefined && !script.cachedDataRejected };
}

/** The cache file's contents for a loaded bundle. */
function cacheContents(loaded) {
  return Buffer.concat([Buffer.from(loaded.key, 'latin1'), loaded.script.createCachedData()]);
}

/** The CLI's exit status for `args`. */
function cliMain(args) {
  let fast;
  try {
    fast = loadBundle().cli;
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
    return require('../dist/cli/main.js').main(args);
  }
  return fast.runMain(args) ?? loadBundle({ bundle: FULL_BUNDLE, cache: FULL_CACHE }).cli.main(args);
}

module.exports = { loadBundle, cacheContents, cliMain, BUNDLE, CACHE, FULL_BUNDLE, FULL_CACHE };

if (require.main === module) cliMain(process.argv.slice(2)).then((code) => process.exit(code));
