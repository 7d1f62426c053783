#!/usr/bin/env node
// Builds the addon and nsrun-init with node-gyp against the headers of the Node that runs this
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
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit', cwd: path.join(__dirname, '..') });
process.exit(r.status === null ? 1 : r.status);
