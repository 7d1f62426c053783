// --help as users read it: the bundled CLI (dist/nsrun.js) prints exactly what the compiled modules
// print, and no line is broken in the middle of a word.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { nsrun, ROOT } from '../helpers/cli';

const SUBCOMMANDS = [[], ['exec'], ['ps'], ['inspect'], ['kill'], ['doctor']];
const UNBUNDLED = path.join(ROOT, 'dist', 'cli', 'main.js');
const bundled = fs.existsSync(path.join(ROOT, 'dist', 'nsrun.js'));

function unbundledHelp(args: string[]): string {
  const script = `require(${JSON.stringify(UNBUNDLED)}).main(${JSON.stringify(args)}).then((c) => process.exit(c))`;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: '/' }).stdout;
}

describe('--help', () => {
  test.each(SUBCOMMANDS.map((s) => [s.join(' ') || 'run', s]))('nsrun %s --help: lines are whole, options listed', (_name, sub) => {
    const r = nsrun([...(sub as string[]), '--help']);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    // a broken word leaves a line ending in the middle of a bracket or a word fragment
    for (const l of lines) expect(l).not.toMatch(/\[$/);
    expect(r.stdout).toMatch(/--help\s+Show help/);
  });

  test('the command list: one whole line per command', () => {
    const out = nsrun(['--help']).stdout;
    for (const cmd of ['nsrun [run] [options] -- COMMAND', 'nsrun exec TARGET -- COMMAND', 'nsrun ps', 'nsrun inspect TARGET', 'nsrun kill TARGET [SIGNAL]', 'nsrun doctor [--json]'])
      expect(out).toMatch(new RegExp(`^\\s*${cmd.replace(/[[\]]/g, '\\$&')}\\s{2,}\\S.*$`, 'm'));
  });

  test.skipIf(!bundled)(bundled ? 'the bundle prints the same help as the compiled modules' : 'bundle vs modules (skipped: dist/nsrun.js not built)', () => {
    for (const sub of SUBCOMMANDS) expect(nsrun([...sub, '--help']).stdout).toBe(unbundledHelp([...sub, '--help']));
  });
});
