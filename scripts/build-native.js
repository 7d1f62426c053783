#!/usr/bin/env node
// Builds the addon, nsrun-init and nsrun-supervise with node-gyp against the headers of the Node that runs this
// script, so that nothing is downloaded (node-gyp fetches headers unless it is given a nodedir).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const args = ['rebuild'];
const prefix = process.config.variables.node_prefix || path.resolve(process.execPath, '..', '..');
const candidates = [process.env.npm_config_nodedir, prefix, '/usr', '/usr/local'].filter(Boolean);
const nodedir = candidates.find((d) => fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')));
if (nodedir) args.push(`--nodedir=${nodedir}`);
// npm hands its own node-gyp to lifecycle scripts; a checkout also has it as a devDependency.
let gyp = process.env.npm_config_node_gyp;
if (!gyp || !fs.existsSync(gyp)) gyp = require.resolve('node-gyp/bin/node-gyp.js');
const root = path.join(__dirname, '..');
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit', cwd: root });
if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
buildWithMusl();

// nsrun-init and nsrun-supervise are what stays in memory while a sandbox runs (one inside it, one
// on the host in the CLI's place). Static glibc puts ~650 KB of code in each, and the kernel maps
// most of it; against musl they are ~50 KB. So where musl-gcc is installed (Debian: musl-tools)
// they are rebuilt with it over node-gyp's glibc builds, which stay otherwise. NSRUN_MUSL=0: skip.
function buildWithMusl() {
  if (process.env.NSRUN_MUSL === '0') return;
  if (spawnSync('sh', ['-c', 'command -v musl-gcc'], { stdio: 'ignore' }).status !== 0) return;
  const flags = ['-x', 'c++', '-std=c++17', '-D_GNU_SOURCE', '-fno-exceptions', '-fno-rtti', '-fno-asynchronous-unwind-tables', '-Os', '-static', '-s', '-Wall', '-Wextra'];
  for (const [name, src] of [['nsrun-init', 'native/init/nsrun_init.cc'], ['nsrun-supervise', 'native/supervise/nsrun_supervise.cc']]) {
    const out = path.join(root, 'build', 'Release', name);
    const tmp = `${out}.musl.${process.pid}`;
    const c = spawnSync('musl-gcc', [...flags, '-o', tmp, path.join(root, src)], { stdio: 'inherit' });
    if (c.status !== 0) {
      fs.rmSync(tmp, { force: true });
      console.error(`build-native: ${name} with musl failed; keeping the glibc build`);
      continue;
    }
    fs.renameSync(tmp, out);
  }
}
