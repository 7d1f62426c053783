#!/usr/bin/env node
// Writes dist/nsrun.cache: V8's code cache for the bundled CLI, taken after a run of
// `nsrun --explain ... -- true` (a real start: options, plan, clone, exec, wait) so that the
// functions a start-up needs are in it (bin/nsrun.js). Runs in a child process with its
// output discarded; where namespaces cannot be made the run fails, which only makes the cache
// smaller. No cache at all only means a slower start.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

if (process.argv[2] !== '--child') {
  const { BUNDLE, CACHE } = require('../bin/nsrun.js');
  fs.rmSync(CACHE, { force: true });
  if (!fs.existsSync(BUNDLE)) process.exit(0);
  // Node supervises that run itself: a handoff would exec nsrun-supervise before the cache is written
  const r = spawnSync(process.execPath, [__filename, '--child'], { stdio: 'ignore', env: { ...process.env, NSRUN_SUPERVISOR: 'node' } });
  if (r.status !== 0 || !fs.existsSync(CACHE)) console.error('code-cache: no cache written (the CLI starts without it)');
  process.exit(0);
}

const { loadBundle, cacheContents, CACHE } = require(path.join(__dirname, '..', 'bin', 'nsrun.js'));
const loaded = loadBundle({ produce: true });
// what a typical start runs: option parsing, plan building, --explain text
loaded.cli.main(['--explain', '--pid', '--net', '--uts', '--ipc', '--mount', '--', 'true']).then(() => {
  const tmp = `${CACHE}.${process.pid}`;
  fs.writeFileSync(tmp, cacheContents(loaded));
  fs.renameSync(tmp, CACHE);
  process.exit(0);
});
