// nsrun stats as a user types it, without root: --help, the command list, bad input.
import { describe, expect, test } from 'vitest';
import { nsrun } from '../helpers/cli';

describe('nsrun stats on the command line', () => {
  test('--help: usage, whole lines, both options', () => {
    const r = nsrun(['stats', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('nsrun stats [TARGET...] [--no-stream] [--json]');
    expect(r.stdout).toMatch(/^\s+--no-stream\s+print one reading .*\[boolean\]$/m);
    expect(r.stdout).toMatch(/^\s+--json\s+one JSON object per target per reading .*\[boolean\]$/m);
    for (const l of r.stdout.split('\n')) expect(l).not.toMatch(/\[$/);
  });

  test('listed in nsrun --help', () => {
    expect(nsrun(['--help']).stdout).toMatch(/^\s*nsrun stats \[TARGET\.\.\.\]\s{2,}live CPU, memory, network, block I\/O, PIDs$/m);
  });

  test('an unknown option and an invalid PID: one line, exit 125', () => {
    const opt = nsrun(['stats', '--bogus']);
    expect([opt.status, opt.stdout, opt.stderr.split('\n')[0]]).toEqual([125, '', 'nsrun: options: --bogus: unknown option']);
    const pid = nsrun(['stats', '0', '--no-stream']);
    expect([pid.status, pid.stdout, pid.stderr]).toEqual([125, '', 'nsrun: options: TARGET: 0 is not a valid PID\n']);
  });
});
