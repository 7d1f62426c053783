#!/usr/bin/env node
'use strict';
// nsrun's command line. Runs the bundled CLI (built by scripts/bundle.js) with V8's code cache
// (written by scripts/code-cache.js right after the bundles): compiling the bundle and the functions
// a run needs is then read from the cache instead of done again. A cache for another bundle,
// another Node or other V8 flags is not used (plain compile instead). Two bundles: dist/nsrun.js
// runs plain run lines (most starts) and holds nothing else; any other line goes to the whole CLI,
// dist/nsrun-full.js, loaded only then. Without bundles (installed without devDependencies) the
// compiled modules run: dist/cli/main.js.
// The bundle and its cache are mapped by the addon, not read: reading copied the 200 KB bundle
// twice (a buffer, then a string) and the cache once, and on a VM each fresh page a copy touches
// costs ~10 us (~2.5 ms of a start here). Each bundle file is already the function Node would wrap
// a module in, so V8 compiles the mapped text itself. Without the addon the files are read.
// The loader lives here, not in a module of its own: one file less to resolve and read per start.
// .cjs, not .js: Node then knows it is CommonJS without looking for the nearest package.json and
// reading its "type" (~1.9 ms of cold module-loader code in every start).
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

// (plain concatenation: path.join, running for the first time, was ~0.2 ms of a start)
const ROOT = path.dirname(__dirname);
const BUNDLE = `${ROOT}/dist/nsrun.js`;
const CACHE = `${ROOT}/dist/nsrun.cache`;
const FULL_BUNDLE = `${ROOT}/dist/nsrun-full.js`;
const FULL_CACHE = `${ROOT}/dist/nsrun-full.cache`;

/**
 * The cache file's first line: the key the cache was made for (V8 only checks the source's
 * length, so we check its identity), padded so that V8's data after it starts 8-byte aligned in
 * the mapped file. V8 copies cached data that is not aligned: ~180 KB, ~40 fresh pages a start.
 */
function bundleKey(st) {
  const key = `${process.version} ${st.size} ${Math.round(st.mtimeMs)} ${st.ino}`;
  return `${key.padEnd(Math.ceil((key.length + 1) / 8) * 8 - 1)}\n`;
}

const ADDONS = [`${ROOT}/build/Release/nsrun.node`, `${ROOT}/build/Debug/nsrun.node`];
let addon;

/**
 * The addon, loaded from where the bundle's native() would load it (which then adopts this one);
 * null if it is not built or does not load: the files are read, and a run that needs the addon
 * reports why through native().
 */
function loadAddon() {
  if (addon !== undefined) return addon;
  addon = null;
  for (const file of ADDONS) {
    try {
      const mod = { exports: {} };
      process.dlopen(mod, file);
      addon = mod.exports;
      break;
    } catch {
      // not built there, or not loadable: native() will say why
    }
  }
  return addon;
}

/**
 * A file's contents and identity (size, mtimeMs, ino): mapped by the addon when `map` and it can,
 * else read. latin1: as a string; else a Buffer, and with `header` its first line apart (`header`)
 * and `data` what follows.
 */
function contents(file, map, latin1, header = false) {
  const mapped = map && loadAddon() ? addon.mapFile(file, latin1, header) : undefined;
  if (mapped !== undefined && typeof mapped !== 'number') return { ...mapped, mapped: true };
  if (mapped === -2) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
  const fd = fs.openSync(file, 'r');
  try {
    const st = fs.fstatSync(fd);
    // esbuild writes ASCII (charset: 'ascii' is its default): latin1 reads it as utf8 would
    let data = latin1 ? fs.readFileSync(fd, 'latin1') : fs.readFileSync(fd);
    let first;
    if (header) {
      const nl = data.indexOf(10) + 1;
      first = data.toString('latin1', 0, nl);
      data = data.subarray(nl);
    }
    return { data, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, header: first, mapped: false };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Compile and run the bundle. `produce`: no cache is read (the caller makes one from `script`).
 * `bundle`/`cache` default to dist/ (tests point them elsewhere); `map: false` reads instead of
 * mapping. `cacheUsed` says whether V8 took the cache, `mapped` whether the bundle was mapped.
 */
function loadBundle(options = {}) {
  const bundle = options.bundle ?? BUNDLE;
  const cache = options.cache ?? CACHE;
  const map = options.map ?? true;
  const source = contents(bundle, map, true);
  let cachedData;
  if (!options.produce) {
    try {
      const c = contents(cache, map, false, true);
      if (c.header === bundleKey(source)) cachedData = c.data;
    } catch {
      // no cache: compile as usual
    }
  }
  const script = new vm.Script(source.data, { filename: bundle, cachedData });
  const mod = { exports: {}, filename: bundle, id: bundle, loaded: false };
  // This file's own require: the bundles require only Node's builtins (everything else is bundled),
  // which resolve the same from here (Module.createRequire was ~0.3 ms, node:module ~0.4 ms more).
  script.runInThisContext()(mod.exports, require, mod, bundle, bundle.slice(0, bundle.lastIndexOf('/')));
  mod.loaded = true;
  if (addon) mod.exports.adoptNative?.(addon);
  return { cli: mod.exports, script, key: bundleKey(source), cacheUsed: cachedData !== undefined && !script.cachedDataRejected, mapped: source.mapped };
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

module.exports = { loadBundle, loadAddon, cacheContents, cliMain, BUNDLE, CACHE, FULL_BUNDLE, FULL_CACHE };

if (require.main === module) cliMain(process.argv.slice(2)).then((code) => process.exit(code));
