#!/usr/bin/env node
'use strict';
// The bundled CLI when it was built (npm install does), else the compiled modules.
let cli;
try {
  cli = require('../dist/nsrun.js');
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND') throw e;
  cli = require('../dist/cli/main.js');
}
cli.main(process.argv.slice(2)).then((code) => process.exit(code));
