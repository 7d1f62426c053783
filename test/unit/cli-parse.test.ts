import { describe, expect, test } from 'vitest';
import { optionsFromArgv, parseEnv, parseId, parseRange } from '../../src/cli/parse';
import { nsrunError } from '../helpers/errors';

const msg = (fn: () => unknown): string => nsrunError(fn).message;

describe('cli parsing', () => {
  test('ranges: OUTER:INNER:COUNT, or util-linux commas', () => {
    expect(parseRange('100000:0:65536', '--map-users')).toEqual({ outer: 100000, inner: 0, count: 65536 });
    expect(parseRange('100000,0,10', '--map-users')).toEqual({ outer: 100000, inner: 0, count: 10 });
  });
  test.each(['1:2', 'a:b:c', '1:2:3:4', '-1:0:1', '1:0:1e3', ' 1:0:1', '0x10:0:1'])('range %j is refused', (r) => {
    expect(msg(() => parseRange(r, '--map-users'))).toBe(`options: --map-users: '${r}' is not OUTER:INNER:COUNT (three decimal numbers)`);
  });
  test('ids are decimal, within range, or names from the host databases', () => {
    expect(parseId('0', '--uid')).toBe(0);
    expect(parseId('root', '--uid', '/etc/passwd')).toBe(0);
    expect(msg(() => parseId('4294967295', '--uid'))).toContain('larger than the largest id 4294967294');
    expect(msg(() => parseId('12abc', '--uid', '/etc/passwd'))).toBe("options: --uid: '12abc' is not a valid user name or id");
    expect(msg(() => parseId('99999999999999999999', '--uid'))).toContain('larger than the largest id');
  });
  test('env entries are KEY=VALUE', () => {
    expect(parseEnv(['A=1', 'B=x=y', 'C='])).toEqual({ A: '1', B: 'x=y', C: '' });
    expect(msg(() => parseEnv(['=x']))).toBe("options: --env: '=x' is not KEY=VALUE");
    expect(msg(() => parseEnv(['NOVALUE']))).toBe("options: --env: 'NOVALUE' is not KEY=VALUE");
  });
  test('flags become options; the command is everything after --', () => {
    const o = optionsFromArgv({ _: [], '--': ['sh', '-c', 'echo hi'], pid: true, net: true, hostname: 'box', uts: true, 'map-users': ['1:2:3', '10:20:3'], env: 'A=1' });
    expect(o).toEqual({ command: ['sh', '-c', 'echo hi'], namespaces: ['pid', 'net', 'uts'], hostname: 'box', mapUsers: [{ outer: 1, inner: 2, count: 3 }, { outer: 10, inner: 20, count: 3 }], env: { A: '1' } });
  });
  test('single-valued flags given twice are refused', () => {
    expect(msg(() => optionsFromArgv({ _: [], hostname: ['a', 'b'] }))).toBe('options: --hostname: given more than once');
  });
});
