// The CLI's start-up path: bin/nsrun.cjs loads the run bundle (or, for other lines, the whole CLI)
// with V8's code cache, uses a cache only for the exact bundle it was made from, and works without one.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { ROOT } from '../helpers/cli';

const canRootless = isRoot && unprivilegedUserns;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const loader = require(path.join(ROOT, 'bin', 'nsrun.cjs'));
const built = fs.existsSync(loader.BUNDLE);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nsrun-startup-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Load a bundle file in a fresh Node and report whether the cache was taken and the CLI works. */
function loadIn(bundle: string, cache: string, map = true): { cacheUsed: boolean; works: boolean; mapped: boolean } {
  const script = `const l = require(${JSON.stringify(path.join(ROOT, 'bin', 'nsrun.cjs'))}).loadBundle({ bundle: ${JSON.stringify(bundle)}, cache: ${JSON.stringify(cache)}, map: ${map} });
    console.log(JSON.stringify({ cacheUsed: l.cacheUsed, mapped: l.mapped, main: typeof (l.cli.runMain ?? l.cli.main) }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: ROOT });
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout);
  return { cacheUsed: out.cacheUsed, works: out.main === 'function', mapped: out.mapped };
}

/** The builtin modules Node loaded for a CLI line (the run bundle's line supervised by Node). */
function modulesLoadedBy(args: string[], as?: { uid: number; gid: number }): string[] {
  const script = `const before = new Set(process.moduleLoadList);
    require(${JSON.stringify(path.join(ROOT, 'bin', 'nsrun.cjs'))}).cliMain(${JSON.stringify(args)}).then((code) => {
      console.log(JSON.stringify({ code, loaded: process.moduleLoadList.filter((m) => !before.has(m)) }));
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: '/', ...as, env: { ...process.env, NSRUN_SUPERVISOR: 'node' } });
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout);
  expect(out.code).toBe(0);
  return out.loaded;
}

describe.skipIf(!built)(built ? 'CLI start-up' : 'CLI start-up (skipped: dist/nsrun.js not built)', () => {
  test('the installed caches are taken for the installed bundles', () => {
    expect(fs.existsSync(loader.CACHE)).toBe(true);
    expect(loadIn(loader.BUNDLE, loader.CACHE)).toEqual({ cacheUsed: true, works: true, mapped: true });
    expect(fs.existsSync(loader.FULL_CACHE)).toBe(true);
    expect(loadIn(loader.FULL_BUNDLE, loader.FULL_CACHE)).toEqual({ cacheUsed: true, works: true, mapped: true });
    // V8's data starts 8-byte aligned in the file (V8 copies cached data that is not)
    for (const cache of [loader.CACHE, loader.FULL_CACHE]) expect((fs.readFileSync(cache).indexOf(10) + 1) % 8).toBe(0);
    // read instead of mapped (no addon): the same text, so the same cache
    expect(loadIn(loader.BUNDLE, loader.CACHE, false)).toEqual({ cacheUsed: true, works: true, mapped: false });
  });

  test("the addon maps a file as its bytes (a latin1 string or a Buffer) with fs.Stats' identity, or says why not (-errno)", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { native } = require(path.join(ROOT, 'dist', 'native', 'binding.js'));
    const n = native();
    const st = fs.statSync(loader.BUNDLE);
    const text = n.mapFile(loader.BUNDLE, true);
    expect(text).toMatchObject({ size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    expect(text.data).toBe(fs.readFileSync(loader.BUNDLE, 'latin1'));
    expect(Buffer.compare(n.mapFile(loader.BUNDLE, false).data, fs.readFileSync(loader.BUNDLE))).toBe(0);
    expect(n.mapFile(path.join(tmp, 'missing'), true)).toBe(-2); // ENOENT
    fs.writeFileSync(path.join(tmp, 'empty'), '');
    expect(n.mapFile(path.join(tmp, 'empty'), true)).toBe(-22); // EINVAL: nothing to map
    expect(n.mapFile(tmp, false)).toBe(-22); // a directory
    // header: the first line apart, the data after it (the code cache's key line)
    const cache = n.mapFile(loader.CACHE, false, true);
    const raw = fs.readFileSync(loader.CACHE);
    const nl = raw.indexOf(10) + 1;
    expect(cache.header).toBe(raw.toString('latin1', 0, nl));
    expect(Buffer.compare(cache.data, raw.subarray(nl))).toBe(0);
  });

  test('a bundle is the function Node would wrap a module in (compiled as it is on disk), and is rewritten by rename', () => {
    const text = fs.readFileSync(loader.BUNDLE, 'latin1');
    expect(text.startsWith('(function (exports, require, module, __filename, __dirname) {')).toBe(true);
    expect(text.trimEnd().endsWith('})')).toBe(true);
    // scripts/bundle.js renames a new file over the old: a running CLI has the old one mapped
    expect(fs.readFileSync(path.join(ROOT, 'scripts', 'bundle.js'), 'utf8')).toMatch(/renameSync\(tmp, out\.path\)/);
  });

  test('a plain run loads no builtin module Node has not loaded already but vm (node:os, node:module stay out)', () => {
    expect(modulesLoadedBy(['--pid', '--net', '--uts', '--ipc', '--mount', '--', 'true'])).toEqual(['NativeModule vm']);
  });

  test.skipIf(!canRootless)(canRootless ? 'so does a rootless run' : 'rootless run (skipped: needs root to run as nobody, and unprivileged user namespaces)', () => {
    expect(modulesLoadedBy(['--pid', '--net', '--uts', '--', 'true'], NOBODY)).toEqual(['NativeModule vm']);
  });

  test('a plain run line is run by the run bundle alone; other lines load the whole CLI', () => {
    // which bundles a line compiles, seen through vm.Script (the loader compiles each with it)
    const probe = (args: string[]) => {
      const script = `const vm = require('node:vm'); const seen = [];
        vm.Script = class extends vm.Script { constructor(src, o) { seen.push(require('node:path').basename(o.filename)); super(src, o); } };
        const m = require(${JSON.stringify(path.join(ROOT, 'bin', 'nsrun.cjs'))});
        m.cliMain(${JSON.stringify(args)}).then((code) => { process.stdout.write(JSON.stringify({ code, seen })); process.exit(0); });`;
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, NSRUN_SUPERVISOR: 'node' } });
      return JSON.parse(r.stdout.slice(r.stdout.lastIndexOf('{"code"')));
    };
    expect(probe(['--uts', '--', 'true'])).toEqual({ code: 0, seen: ['nsrun.js'] });
    expect(probe(['run', '--uts', '--', 'true'])).toEqual({ code: 0, seen: ['nsrun.js'] });
    expect(probe(['ps'])).toEqual({ code: 0, seen: ['nsrun.js', 'nsrun-full.js'] });
    // the fast parser leaves a misspelled option to yargs, whose message the whole CLI prints
    expect(probe(['--utz', '--', 'true'])).toEqual({ code: 125, seen: ['nsrun.js', 'nsrun-full.js'] });
  });

  test('a cache is not used for a bundle it was not made from, even one of the same length', () => {
    const bundle = path.join(tmp, 'nsrun.js');
    const cache = path.join(tmp, 'nsrun.cache');
    fs.copyFileSync(loader.BUNDLE, bundle);
    // the installed cache belongs to another file (inode, time)
    fs.copyFileSync(loader.CACHE, cache);
    expect(loadIn(bundle, cache).cacheUsed).toBe(false);
    // a cache made for this copy is taken ...
    const made = spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(path.join(ROOT, 'bin', 'nsrun.cjs'))});
      const l = m.loadBundle({ bundle: ${JSON.stringify(bundle)}, produce: true });
      require('node:fs').writeFileSync(${JSON.stringify(cache)}, m.cacheContents(l));`], { encoding: 'utf8' });
    expect(made.stderr).toBe('');
    expect(loadIn(bundle, cache)).toMatchObject({ cacheUsed: true, works: true });
    // ... until the bundle changes (same length: V8's own check would accept it)
    const text = fs.readFileSync(bundle, 'utf8');
    const i = text.indexOf('nsrun');
    fs.writeFileSync(bundle, `${text.slice(0, i)}Nsrun${text.slice(i + 5)}`);
    fs.utimesSync(bundle, new Date(), new Date(Date.now() + 5000));
    expect(loadIn(bundle, cache)).toMatchObject({ cacheUsed: false, works: true });
  });

  test("the run bundle carries the default seccomp filter for this machine's usual sandboxes", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const seccomp = require(path.join(ROOT, 'dist', 'security', 'seccomp.js'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { DEFAULT_CAPS } = require(path.join(ROOT, 'dist', 'security', 'capabilities.js'));
    const text = fs.readFileSync(loader.BUNDLE, 'latin1');
    for (const caps of [DEFAULT_CAPS, []])
      for (const disableUserns of [false, true])
        expect(text).toContain(JSON.stringify(seccomp.ownProfileKey(seccomp.DEFAULT_PROFILE, { arch: seccomp.nativeArch(), caps, disableUserns }, 'default')));
  });

  test("the run bundle's option table is what runBuilder declares (recorded when bundling)", () => {
    const script = `const { loadBundle } = require(${JSON.stringify(path.join(ROOT, 'bin', 'nsrun.cjs'))});
      const { recordOptions, declarationsOf } = require(${JSON.stringify(path.join(ROOT, 'dist', 'cli', 'fast-args.js'))});
      const { runBuilder } = require(${JSON.stringify(path.join(ROOT, 'dist', 'cli', 'run.js'))});
      const bundled = loadBundle().cli.runOptionTable();
      const live = recordOptions(runBuilder);
      console.log(JSON.stringify({ size: bundled.size, same: JSON.stringify([...bundled]) === JSON.stringify([...live]), shared: bundled.get('pid') === bundled.get('p') }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: ROOT });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.size).toBeGreaterThan(40);
    expect(out).toMatchObject({ same: true, shared: true });
  });

  test('the bundles are ASCII (bin/nsrun.cjs reads them as latin1), and requiring bin/nsrun.cjs runs nothing', () => {
    expect(/[^\x00-\x7f]/.test(fs.readFileSync(loader.BUNDLE, 'latin1'))).toBe(false);
    expect(/[^\x00-\x7f]/.test(fs.readFileSync(loader.FULL_BUNDLE, 'latin1'))).toBe(false);
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(ROOT, 'bin', 'nsrun.cjs'))}); console.log('loaded')`, '--', '--help'], { encoding: 'utf8' });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'loaded\n', '']);
  });

  test('without a cache the CLI still starts', () => {
    const bundle = path.join(tmp, 'nsrun.js');
    fs.copyFileSync(loader.BUNDLE, bundle);
    expect(loadIn(bundle, path.join(tmp, 'missing.cache'))).toMatchObject({ cacheUsed: false, works: true });
  });
});
