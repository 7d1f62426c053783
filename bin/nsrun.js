#!/usr/bin/env node
'use strict';
// The bundled CLI when it was built (npm install does), else the compiled modules.
let cli;
try {
  cli = require('./load-bundle.js').loadBundle().cli;
} catch (e) {
  if (e.code !== 'ENOENT') throw e;
  cli = require('../dist/cli/main.js');
}
cli.main(process.argv.slice(2)).then((code) => process.exit(code));
