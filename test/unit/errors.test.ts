import { describe, expect, test } from 'vitest';
import { errnoMessage, errnoName, execExitCode, formatError, hintFor, NsrunError, systemError, usageError } from '../../src/errors';

describe('errors', () => {
  test('a system failure reads `step: object: reason` with the errno typed', () => {
    const e = systemError({ step: 'mount-proc', object: '/proc', syscall: 'mount', errno: 1, side: 'child' });
    expect(e).toBeInstanceOf(NsrunError);
    expect(e.message).toBe('mount-proc: /proc: Operation not permitted');
    expect(e).toMatchObject({ code: 'EPERM', errno: 1, syscall: 'mount', step: 'mount-proc', side: 'child', exitCode: 125 });
    expect(e.hint).toMatch(/fully visible \/proc/);
  });
  test('exec failures exit 127 (not found) or 126 (not executable)', () => {
    expect(execExitCode(2)).toBe(127);
    expect(execExitCode(13)).toBe(126);
    expect(execExitCode(8)).toBe(126);
    expect(systemError({ step: 'exec', object: 'x', syscall: 'execve', errno: 2, side: 'init' }).exitCode).toBe(127);
  });
  test('hints: user namespace errors name the knob to turn', () => {
    expect(hintFor('clone', 'ENOSPC', {})).toMatch(/max_user_namespaces/);
    expect(hintFor('clone', 'EPERM', { rootless: true })).toMatch(/user namespace/);
    expect(hintFor('id-map', 'EPERM', { rootless: true })).toMatch(/newuidmap/);
    expect(hintFor('sethostname', 'ENOENT', {})).toBeUndefined();
  });
  test('hints: the network namespace the child makes after go (charged to its cgroup)', () => {
    const e = systemError({ step: 'unshare-net', object: 'network namespace', syscall: 'unshare', errno: 12, side: 'child', context: { memory: 6 * 1024 * 1024 } });
    expect(e.message).toBe('unshare-net: network namespace: Not enough memory');
    expect(e.hint).toMatch(/charged to the sandbox's cgroup: --memory 6m/);
    expect(e.hint).not.toMatch(/PID namespace/); // not clone's ENOMEM hint
    expect(hintFor('unshare-net', 'ENOMEM', {})).toMatch(/out of memory/);
    expect(hintFor('unshare-net', 'ENOSPC', {})).toMatch(/max_net_namespaces/);
  });
  test('the CLI prints one line, then a hint line', () => {
    expect(formatError(usageError('--uid', 'uid 5 is not mapped in the sandbox', 'map it'))).toEqual([
      'nsrun: options: --uid: uid 5 is not mapped in the sandbox',
      'hint: map it',
    ]);
    expect(formatError(new Error('boom\nstack'))).toEqual(['nsrun: internal: boom']);
  });
  test('errno text is the kernel description', () => {
    expect(errnoMessage(2)).toBe('No such file or directory');
  });
  test('errnos Node cannot name still get their name and text (EUSERS from setns of a time namespace)', () => {
    expect(errnoName(87)).toBe('EUSERS');
    expect(errnoMessage(87)).toBe('Too many users');
    expect(errnoName(129)).toBe('EKEYREJECTED');
    expect(errnoName(4095)).toBe('errno 4095');
    // named by os.constants.errno, described by our table
    expect(errnoName(8)).toBe('ENOEXEC');
    expect(errnoMessage(8)).toBe('Exec format error');
  });
});
