// The kernel facts src/linux.ts reads without node:os (loaded on first use only: ~0.5 ms of a CLI
// start) agree with what node:os says, and nsrun-supervise forwards the signals supervise() watches.
import * as os from 'node:os';
import { describe, expect, test } from 'vitest';
import { FORWARDED_SIGNALS } from '../../src/cli/supervise';
import { kernelRelease, signalName, signalNumbers } from '../../src/linux';
import { native } from '../../src/native/binding';

describe('kernel facts without node:os', () => {
  test("the kernel's release is uname -r's", () => {
    expect(kernelRelease()).toBe(os.release());
  });

  test("signal numbers and names are the platform's", () => {
    expect(signalNumbers()).toEqual(os.constants.signals);
    expect(signalName(os.constants.signals.SIGTERM)).toBe('SIGTERM');
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(0)).toBeUndefined();
  });

  test("nsrun-supervise's signals (native/protocol.h) are those supervise() forwards, and SIGWINCH", () => {
    const supervised = native().supervisedSignals;
    expect(Object.keys(supervised).sort()).toEqual([...FORWARDED_SIGNALS, 'SIGWINCH'].sort());
    for (const [name, n] of Object.entries(supervised)) expect(n).toBe((os.constants.signals as Record<string, number>)[name]);
  });
});
