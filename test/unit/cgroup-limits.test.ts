// Limit parsing and the v1/v2 scale conversions (pure).
import { describe, expect, test } from 'vitest';
import { ioWeightToBlkio, parseCpuList, parseIoMax, parseSize, resolveLimits, sharesToWeight, weightToShares } from '../../src/cgroup/limits';
import { formatError } from '../../src/errors';
import { limitsFromArgv } from '../../src/cli/parse';
import { nsrunError } from '../helpers/errors';

const err = (f: () => unknown): string => formatError(nsrunError(f)).join('\n');

describe('sizes', () => {
  test.each([
    ['512', 512],
    ['64k', 65536],
    ['512m', 512 * 1024 ** 2],
    ['512M', 512 * 1024 ** 2],
    ['1.5g', 1.5 * 1024 ** 3],
    ['2MB', 2 * 1024 ** 2],
    ['1GiB', 1024 ** 3],
    ['10b', 10],
  ])('%s = %d bytes', (text, n) => expect(parseSize(text, '--memory')).toBe(n));
  test.each(['10XB', '', 'm', '-1', '1.2.3m', 'ib'])('%j is refused', (text) => expect(err(() => parseSize(text, '--memory'))).toMatch(/^nsrun: options: --memory: '.*' is not a size\nhint: /));
});

describe('resolveLimits', () => {
  test('every limit, checked', () => {
    expect(resolveLimits({ memory: '64m', memorySwap: '-1', cpus: 1.5, cpuShares: 512, cpuset: '0-1', pids: '10' as unknown as number, ioWeight: 50, ioMax: [{ device: '8:0', wbps: '1m', riops: 5 }] }, 2)).toEqual({
      memory: 64 * 1024 ** 2,
      memorySwap: -1,
      cpus: 1.5,
      cpuShares: 512,
      cpuset: '0-1',
      pids: 10,
      ioWeight: 50,
      ioMax: [{ device: '8:0', wbps: 1048576, riops: 5 }],
    });
  });
  test.each([
    [{ pids: 0 }, 'nsrun: options: --pids: 0 is out of range: pids.max is 1-4194304'],
    [{ pids: 1.5 }, "nsrun: options: --pids: '1.5' is not an integer"],
    [{ cpus: -1 }, 'nsrun: options: --cpus: -1 is out of range: 0.01 to 2 (this machine has 2 CPUs)'],
    [{ cpus: 3 }, 'nsrun: options: --cpus: 3 is out of range: 0.01 to 2 (this machine has 2 CPUs)'],
    [{ memory: '1m' }, 'nsrun: options: --memory: 1m is too small: the minimum is 6m'],
    [{ memorySwap: '1g' }, 'nsrun: options: --memory-swap: needs --memory (it is the total of memory and swap)'],
    [{ cpuWeight: 0 }, 'nsrun: options: --cpu-weight: 0 is out of range: cpu.weight is 1-10000'],
    [{ cpuShares: 1 }, 'nsrun: options: --cpu-shares: 1 is out of range: cpu.shares is 2-262144'],
    [{ ioWeight: 10001 }, 'nsrun: options: --io-weight: 10001 is out of range: io.weight is 1-10000'],
    [{ cpuset: 'a' }, "nsrun: options: --cpuset: 'a' is not a CPU list\nhint: e.g. 0, 0-1 or 0,2-3"],
    [{ ioMax: [{ device: '8:0' }] }, "nsrun: options: --io-max: '8:0': no limit given\nhint: DEV:rbps=N,wbps=N,riops=N,wiops=N"],
    [{ ioMax: [{ device: '8:0', rbps: 0 }] }, 'nsrun: options: --io-max: rbps=0 would stop all I/O'],
  ])('%j', (l, msg) => expect(err(() => resolveLimits(l, 2))).toBe(msg));
});

test('CPU lists', () => {
  expect(parseCpuList('0')).toEqual([0]);
  expect(parseCpuList('0-2,5,4-4')).toEqual([0, 1, 2, 4, 5]);
  expect(err(() => parseCpuList('3-1'))).toBe("nsrun: options: --cpuset: '3-1': the range is backwards");
});

test('--io-max DEV:key=value,...', () => {
  expect(parseIoMax('8:0:rbps=1m,wiops=100')).toEqual({ device: '8:0', rbps: '1m', wiops: 100 });
  expect(parseIoMax('/dev/vda:wbps=2m')).toEqual({ device: '/dev/vda', wbps: '2m' });
  expect(err(() => parseIoMax('/dev/vda'))).toMatch(/^nsrun: options: --io-max: '\/dev\/vda' is not DEV:rbps=N/);
  expect(err(() => parseIoMax('8:0:speed=1'))).toBe("nsrun: options: --io-max: 'speed=1' is not one of rbps=, wbps=, riops=, wiops=");
});

test('scale conversions follow runc (cpu.shares <-> cpu.weight, io.weight -> blkio.weight)', () => {
  expect(sharesToWeight(2)).toBe(1);
  expect(sharesToWeight(1024)).toBe(39); // docker's default shares = weight 39 under runc
  expect(sharesToWeight(262144)).toBe(10000);
  expect(weightToShares(1)).toBe(2);
  expect(weightToShares(100)).toBe(2597);
  expect(weightToShares(10000)).toBe(262144);
  expect(ioWeightToBlkio(1)).toBe(10);
  expect(ioWeightToBlkio(10000)).toBe(1000);
});

test('the CLI flags become library limits', () => {
  const argv = { _: [], memory: '1g', 'memory-swap': '2g', cpus: '0.5', 'cpu-weight': '50', cpuset: '0', pids: '9', 'io-weight': '20', 'io-max': ['8:0:rbps=1m', '/dev/sda:wiops=3'] };
  expect(limitsFromArgv(argv)).toEqual({ memory: '1g', memorySwap: '2g', cpus: 0.5, cpuWeight: 50, cpuset: '0', pids: 9, ioWeight: 20, ioMax: [{ device: '8:0', rbps: '1m' }, { device: '/dev/sda', wiops: 3 }] });
  expect(limitsFromArgv({ _: [] })).toBeUndefined();
  expect(err(() => limitsFromArgv({ _: [], cpus: 'half' }))).toBe("nsrun: options: --cpus: 'half' is not a number");
});
