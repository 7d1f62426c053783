#!/usr/bin/env node
// The CLI from the unbundled modules (dist/cli/main.js): the same code as bin/nsrun.cjs runs, but
// with the fault-injection hook compiled in (NSRUN_FAULT, src/parent/fault.ts). Tests only.
'use strict';
require('../../dist/cli/main.js').main(process.argv.slice(2)).then((code) => process.exit(code));
