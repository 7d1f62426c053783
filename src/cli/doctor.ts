// `nsrun doctor [--json]`: what this host lets nsrun do, one verdict a line, with the fix.
import * as fs from 'node:fs';
import type { Argv } from 'yargs';
import { doctor, doctorExitCode, formatDoctor } from '../doctor';
import type { ParsedArgs } from './parse';

export function doctorBuilder(y: Argv): Argv {
  return y
    .usage(
      'nsrun doctor [--json]\n\n' +
        'Check this host for what nsrun needs: kernel features\n' +
        '(each probed), user namespaces, subordinate ids, cgroups\n' +
        'and devpts. One line per check: ok, warn, fail or info,\n' +
        'with a fix for anything not ok.\n\n' +
        'Exit status: 0 when nothing fails, 1 when a check fails.',
    )
    .option('json', { type: 'boolean', describe: 'a JSON array of {id, title, verdict, detail, fix?}, for scripts' });
}

export async function doctorHandler(argv: ParsedArgs): Promise<number> {
  const checks = await doctor();
  const text = argv.json ? JSON.stringify(checks, null, 2) : formatDoctor(checks).join('\n');
  fs.writeSync(1, `${text}\n`);
  return doctorExitCode(checks);
}
