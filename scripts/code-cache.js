#!/usr/bin/env node
// Writes V8's code cache for the two CLI bundles (bin/nsrun.cjs): dist/nsrun.cache for the run
// bundle, taken after a run of `nsrun --pid --net --uts --ipc --mount -- true` (a real start:
// options, plan, clone, the handoff) so that the functions a start-up needs are in it, and
// dist/nsrun-full.cache for the whole CLI, taken after `nsrun ps` (yargs builds and parses a
// line). That run goes as far as the handoff's exec, which is made to fail here (the run then
// stops its sandbox and ends): the handoff's functions are in the cache, Node's own supervising
// ones (used with NSRUN_SUPERVISOR=node) are not. Runs in a child process with its output
// discarded; where namespaces cannot be made the run fails, which only makes the cache smaller.
// No cache at all only means a slower start.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const loader = require(path.join(__dirname, '..', 'bin', 'nsrun.cjs'));

const caches = [
  { bundle: loader.BUNDLE, cache: loader.CACHE, run: (cli) => cli.runMain(['--pid', '--net', '--uts', '--ipc', '--mount', '--', 'true']) },
  { bundle: loader.FULL_BUNDLE, cache: loader.FULL_CACHE, run: (cli) => cli.main(['ps']) },
];

if (process.argv[2] !== '--child') {
  for (const c of caches) fs.rmSync(c.cache, { force: true });
  if (!caches.every((c) => fs.existsSync(c.bundle))) process.exit(0);
  const env = { ...process.env };
  delete env.NSRUN_SUPERVISOR; // the handoff path, as users run it
  const r = spawnSync(process.execPath, [__filename, '--child'], { stdio: 'ignore', env });
  if (r.status !== 0 || !caches.every((c) => fs.existsSync(c.cache))) console.error('code-cache: no cache written (the CLI starts without it)');
  process.exit(0);
}

(async () => {
  // the addon the bundles adopt: its exec of nsrun-supervise fails (ENOEXEC) instead of replacing
  // this process before the cache is written
  const addon = loader.loadAddon();
  if (addon) addon.execSupervisor = () => -8;
  for (const c of caches) {
    const loaded = loader.loadBundle({ bundle: c.bundle, produce: true });
    await c.run(loaded.cli);
    const tmp = `${c.cache}.${process.pid}`;
    fs.writeFileSync(tmp, loader.cacheContents(loaded));
    fs.renameSync(tmp, c.cache);
  }
  process.exit(0);
})();
