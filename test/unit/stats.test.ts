// nsrun stats without a kernel: the parsers on recorded cgroup v1 (this host) and v2 files, the
// docker arithmetic (CPU over wall time, usage minus inactive_file, limit or host memory), the
// units and the table, and the reader over simulated v1, hybrid and v2 cgroup trees. The v2 files
// were recorded in the test VM (Linux 6.1, npm run test:cgroup2), the v1 ones on this host (6.18).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { resolveCgroupDirs, detectLayout } from '../../src/cgroup/layout';
import { computeStats, cpuRatio, memoryUsage, type RawSample } from '../../src/stats/compute';
import { binarySize, decimalSize, exitedLine, formatTable, HOST_WIDE_NOTE, jsonLine, percent } from '../../src/stats/format';
import { countIds, cpuNsFromCpuStat, parseBlkio, parseIoStat, parseKeyValues, parseLimit, parseNetDev, parseNumber } from '../../src/stats/parse';
import { readSample } from '../../src/stats/sample';

const FIX = path.join(__dirname, '..', 'fixtures', 'stats');
const fixture = (f: string) => fs.readFileSync(path.join(FIX, f), 'utf8');

describe('parsers on recorded files', () => {
  test('v1 memory.stat (this host): total_inactive_file and the hierarchical limit', () => {
    const m = parseKeyValues(fixture('v1/memory.stat'));
    expect(m.get('total_inactive_file')).toBe(41582592);
    expect(m.get('hierarchical_memory_limit')).toBe(9223372036854771712);
    expect(m.get('rss')).toBe(1978368);
  });

  test('v2 memory.stat and cpu.stat', () => {
    expect(parseKeyValues(fixture('v2/memory.stat')).get('inactive_file')).toBe(102400);
    expect(parseKeyValues(fixture('v2/memory.stat')).get('anon')).toBe(8597504);
    expect(cpuNsFromCpuStat(fixture('v2/cpu.stat'))).toBe(900492000);
    expect(cpuNsFromCpuStat('nr_periods 0\n')).toBeUndefined();
  });

  test('/proc/meminfo in kB becomes bytes', () => {
    expect(parseKeyValues(fixture('meminfo')).get('MemTotal')).toBe(24684092 * 1024);
  });

  test('single numbers and limits ("max" is none)', () => {
    expect(parseNumber('2330283672805\n')).toBe(2330283672805);
    expect(parseNumber('')).toBeUndefined();
    expect(parseNumber(undefined)).toBeUndefined();
    expect(parseLimit('max\n')).toBeUndefined();
    expect(parseLimit('268435456\n')).toBe(268435456);
  });

  test('v2 io.stat: rbytes and wbytes summed over devices', () => {
    expect(parseIoStat(fixture('v2/io.stat'))).toEqual({ readBytes: 2097152, writeBytes: 4194304 });
    expect(parseIoStat('254:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n')).toEqual({ readBytes: 11, writeBytes: 22 });
    expect(parseIoStat('')).toEqual({ readBytes: 0, writeBytes: 0 });
  });

  test('v1 blkio: Read and Write of each device, not Sync/Total; no device lines = not counted', () => {
    expect(parseBlkio(fixture('v1/blkio.throttle.io_service_bytes_recursive'))).toEqual({ readBytes: 4194304, writeBytes: 7348224 });
    expect(parseBlkio(fixture('v1/blkio.bfq.io_service_bytes_recursive'))).toBeUndefined();
    expect(parseBlkio('8:0 Read 10\n8:0 Write 20\n8:16 Read 1\n8:16 Write 2\nTotal 33\n')).toEqual({ readBytes: 11, writeBytes: 22 });
  });

  test('/proc/PID/net/dev: rx is field 1, tx field 9', () => {
    expect(parseNetDev(fixture('veth-net-dev'))).toEqual([
      { name: 'lo', rxBytes: 16384, txBytes: 16384 },
      { name: 'eth0', rxBytes: 1260000, txBytes: 840123 },
      { name: 'eth1', rxBytes: 1000, txBytes: 2000 },
    ]);
    expect(parseNetDev(fixture('host-net-dev')).map((i) => i.name)).toContain('lo');
  });

  test('cgroup.procs / tasks lines', () => {
    expect(countIds('1\n22\n333\n')).toBe(3);
    expect(countIds('')).toBe(0);
  });
});

const GiB = 1024 ** 3;
function raw(over: Partial<RawSample>): RawSample {
  return { pid: 42, monotonicNs: 0n, time: new Date('2026-01-01T00:00:00Z'), cgroup: { version: 2, path: '/box', hostWide: [] }, hostMemory: 16 * GiB, ...over };
}

describe('docker arithmetic', () => {
  test('CPU: usage delta over wall delta, 1 = one core; no previous reading = null', () => {
    expect(cpuRatio({ cpuNs: 1e9, monotonicNs: 0n }, { cpuNs: 1.5e9, monotonicNs: 1_000_000_000n })).toBe(0.5);
    expect(cpuRatio({ cpuNs: 0, monotonicNs: 0n }, { cpuNs: 3e9, monotonicNs: 1_500_000_000n })).toBe(2);
    expect(cpuRatio(undefined, { cpuNs: 1, monotonicNs: 1n })).toBeNull();
    expect(cpuRatio({ cpuNs: undefined, monotonicNs: 0n }, { cpuNs: 1, monotonicNs: 1n })).toBeNull();
    expect(cpuRatio({ cpuNs: 5, monotonicNs: 1n }, { cpuNs: 6, monotonicNs: 1n })).toBeNull();
  });

  test('memory: usage minus inactive_file, never below zero', () => {
    expect(memoryUsage({ usage: 100, inactiveFile: 30 })).toBe(70);
    expect(memoryUsage({ usage: 100, inactiveFile: 300 })).toBe(100);
    expect(memoryUsage({ usage: 100 })).toBe(100);
  });

  test('limit: the cgroup\'s; unlimited (v1 sentinel, v2 none, above the host) = host memory', () => {
    const lim = (limit: number | undefined) => computeStats(raw({ memory: { usage: GiB, limit } })).memory;
    expect(lim(4 * GiB)).toEqual({ usage: GiB, limit: 4 * GiB, cgroupLimit: 4 * GiB, ratio: 0.25 });
    expect(lim(9223372036854771712)).toEqual({ usage: GiB, limit: 16 * GiB, cgroupLimit: null, ratio: 1 / 16 });
    expect(lim(undefined)).toEqual({ usage: GiB, limit: 16 * GiB, cgroupLimit: null, ratio: 1 / 16 });
    expect(lim(64 * GiB)).toEqual({ usage: GiB, limit: 16 * GiB, cgroupLimit: 64 * GiB, ratio: 1 / 16 });
    expect(computeStats(raw({})).memory).toEqual({ usage: null, limit: 16 * GiB, cgroupLimit: null, ratio: null });
  });

  test('network: lo left out of the totals, kept in the interfaces', () => {
    const s = computeStats(raw({ network: { namespace: 'own', interfaces: parseNetDev(fixture('veth-net-dev')) } }));
    expect(s.network).toMatchObject({ namespace: 'own', rxBytes: 1261000, txBytes: 842123 });
    expect(s.network!.interfaces).toHaveLength(3);
    const onlyLo = computeStats(raw({ network: { namespace: 'own', interfaces: [{ name: 'lo', rxBytes: 5, txBytes: 5 }] } }));
    expect(onlyLo.network).toMatchObject({ rxBytes: 0, txBytes: 0 });
  });

  test('a full reading', () => {
    const prev = raw({ cpuNs: 2e9, monotonicNs: 10_000_000_000n });
    const cur = raw({
      name: 'box',
      cpuNs: 2.25e9,
      monotonicNs: 10_500_000_000n,
      memory: { usage: 80 * 1024 * 1024, inactiveFile: 16 * 1024 * 1024, limit: 256 * 1024 * 1024 },
      blockIo: { readBytes: 1200, writeBytes: 3_000_000 },
      network: { namespace: 'host', interfaces: [] },
      pids: 3,
    });
    expect(computeStats(cur, prev)).toEqual({
      name: 'box',
      pid: 42,
      time: '2026-01-01T00:00:00.000Z',
      cgroup: { version: 2, path: '/box', hostWide: [] },
      cpu: { usageNs: 2.25e9, ratio: 0.5 },
      memory: { usage: 64 * 1024 * 1024, limit: 256 * 1024 * 1024, cgroupLimit: 256 * 1024 * 1024, ratio: 0.25 },
      network: { namespace: 'host', rxBytes: 0, txBytes: 0, interfaces: [] },
      blockIo: { readBytes: 1200, writeBytes: 3_000_000 },
      pids: 3,
    });
  });
});

describe('units and table', () => {
  test('memory in binary units, %.4g (docker units.BytesSize)', () => {
    expect(binarySize(0)).toBe('0B');
    expect(binarySize(100)).toBe('100B');
    expect(binarySize(1536 * 1024)).toBe('1.5MiB');
    expect(binarySize(2 * GiB)).toBe('2GiB');
    expect(binarySize(46810316)).toBe('44.64MiB');
    expect(binarySize(24684092 * 1024)).toBe('23.54GiB');
    expect(binarySize(1024 * 1024 - 1)).toBe('1MiB'); // docker: "1024KiB"
  });

  test('I/O in decimal units, %.3g (docker units.HumanSizeWithPrecision(n, 3))', () => {
    expect(decimalSize(0)).toBe('0B');
    expect(decimalSize(1200)).toBe('1.2kB');
    expect(decimalSize(3_000_000)).toBe('3MB');
    expect(decimalSize(123_456_789)).toBe('123MB');
    expect(decimalSize(1_234_567_890)).toBe('1.23GB');
    expect(decimalSize(999_999)).toBe('1MB'); // docker: "1e+03kB"
  });

  test('percent with two decimals; unknown is --', () => {
    expect(percent(0.5)).toBe('50.00%');
    expect(percent(1.98766)).toBe('198.77%');
    expect(percent(null)).toBe('--');
  });

  const box = computeStats(
    raw({ name: 'box', cpuNs: 5e8, memory: { usage: 1536 * 1024, limit: 2 * GiB }, network: { namespace: 'own', interfaces: [{ name: 'eth0', rxBytes: 1200, txBytes: 3_000_000 }] }, blockIo: { readBytes: 0, writeBytes: 4096 }, pids: 2 }),
    raw({ cpuNs: 0, monotonicNs: -1_000_000_000n }),
  );
  const bare = computeStats(raw({ pid: 7, network: { namespace: 'host', interfaces: [] } }));

  test('docker columns, padded, three spaces apart; host network and unknowns', () => {
    expect(formatTable([box, bare])).toEqual([
      'NAME   PID   CPU %    MEM USAGE / LIMIT   MEM %   NET I/O       BLOCK I/O    PIDS',
      'box    42    50.00%   1.5MiB / 2GiB       0.07%   1.2kB / 3MB   0B / 4.1kB   2',
      '-      7     --       --                  --      host          --           --',
    ]);
  });

  test('numbers from a root cgroup are marked * and explained under the table', () => {
    const partly = { ...box, cgroup: { ...box.cgroup, hostWide: ['cpu', 'blockIo'] as ('cpu' | 'blockIo')[] } };
    const lines = formatTable([partly, bare]);
    expect(lines[1]).toBe('box    42    50.00%*   1.5MiB / 2GiB       0.07%   1.2kB / 3MB   0B / 4.1kB*   2');
    expect(lines[2]).toMatch(/^-      7     --        --/); // unknowns are not marked
    expect(lines[3]).toBe(HOST_WIDE_NOTE);
    expect(lines).toHaveLength(4);
  });

  test('JSON lines: the numbers raw, exited: false; a last line for a target that ended', () => {
    const j = JSON.parse(jsonLine(box));
    expect(j).toMatchObject({ name: 'box', pid: 42, exited: false, cpu: { ratio: 0.5 }, memory: { usage: 1572864, limit: 2 * GiB }, network: { rxBytes: 1200, txBytes: 3e6 }, blockIo: { writeBytes: 4096 }, pids: 2 });
    expect(JSON.parse(exitedLine({ name: 'box', pid: 42 }, new Date(0)))).toEqual({ name: 'box', pid: 42, time: '1970-01-01T00:00:00.000Z', exited: true });
    expect(JSON.parse(exitedLine({ pid: 7 }, new Date(0)))).toEqual({ pid: 7, time: '1970-01-01T00:00:00.000Z', exited: true });
  });
});

describe('the reader over simulated cgroup trees', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `nsrun-stats-unit-${process.pid}-`));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const put = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(tmp, file)), { recursive: true });
    fs.writeFileSync(path.join(tmp, file), text);
  };
  const mnt = (id: number, point: string, fstype: string, opts: string) => `${id} 1 0:${id} / ${tmp}${point} rw,nosuid - ${fstype} ${fstype} ${opts}`;

  test('hybrid v1 (this host\'s layout): cpuacct, memory, blkio, pids each from its hierarchy', () => {
    const mountinfo = [
      mnt(30, '/unified', 'cgroup2', 'rw,nsdelegate'),
      mnt(31, '/cpuacct', 'cgroup', 'rw,cpuacct'),
      mnt(32, '/memory', 'cgroup', 'rw,memory'),
      mnt(33, '/blkio', 'cgroup', 'rw,blkio'),
      mnt(34, '/pids', 'cgroup', 'rw,pids'),
    ].join('\n');
    put('cpuacct/box/cpuacct.usage', '2330283672805\n');
    put('memory/box/memory.usage_in_bytes', '100000000\n');
    put('memory/box/memory.stat', 'inactive_file 5\ntotal_inactive_file 20000000\nhierarchical_memory_limit 268435456\n');
    put('memory/box/memory.limit_in_bytes', '9223372036854771712\n');
    put('blkio/box/blkio.throttle.io_service_bytes_recursive', fixture('v1/blkio.throttle.io_service_bytes_recursive'));
    put('pids/box/pids.current', '3\n');
    const dirs = resolveCgroupDirs(detectLayout(mountinfo), '4:pids:/box\n3:blkio:/box\n2:memory:/box\n1:cpuacct:/box\n0::/\n');
    const s = readSample(process.pid, dirs);
    expect(s).toMatchObject({
      cgroup: { version: 1, path: '/box' },
      cpuNs: 2330283672805,
      memory: { usage: 100000000, inactiveFile: 20000000, limit: 268435456 },
      blockIo: { readBytes: 4194304, writeBytes: 7348224 },
      pids: 3,
    });
    expect(s.hostMemory).toBe(os.totalmem());
    expect(s.cgroup.hostWide).toEqual([]);
    // a sandbox with a memory limit only: its own memory cgroup, the root of the others
    const partly = resolveCgroupDirs(detectLayout(mountinfo), '4:pids:/\n3:blkio:/\n2:memory:/box\n1:cpuacct:/\n0::/\n');
    expect(readSample(process.pid, partly).cgroup).toEqual({ version: 1, path: '/box', hostWide: ['cpu', 'blockIo', 'pids'] });
  });

  test('v1 without a pids controller counts the threads in tasks, with descendants; blkio with no devices = 0', () => {
    const mountinfo = [mnt(41, '/v1mem', 'cgroup', 'rw,memory'), mnt(42, '/v1blk', 'cgroup', 'rw,blkio')].join('\n');
    put('v1mem/a/tasks', '10\n11\n');
    put('v1mem/a/child/tasks', '12\n');
    put('v1mem/a/memory.usage_in_bytes', '4096\n');
    put('v1blk/a/blkio.throttle.io_service_bytes_recursive', 'Total 0\n');
    const dirs = resolveCgroupDirs(detectLayout(mountinfo), '2:blkio:/a\n1:memory:/a\n');
    const s = readSample(process.pid, dirs);
    expect(s.pids).toBe(3);
    expect(s.blockIo).toEqual({ readBytes: 0, writeBytes: 0 });
    expect(s.cpuNs).toBeUndefined();
    expect(s.memory).toEqual({ usage: 4096, inactiveFile: undefined, limit: undefined });
  });

  test('v2: one directory; the lowest memory.max up the tree; io.stat; pids.current', () => {
    const mountinfo = mnt(50, '/v2', 'cgroup2', 'rw,nsdelegate');
    put('v2/cgroup.controllers', 'cpu io memory pids\n');
    put('v2/sys/memory.max', '536870912\n');
    put('v2/sys/box/memory.max', 'max\n');
    put('v2/sys/box/memory.current', '83886080\n');
    put('v2/sys/box/memory.stat', fixture('v2/memory.stat'));
    put('v2/sys/box/cpu.stat', fixture('v2/cpu.stat'));
    put('v2/sys/box/io.stat', fixture('v2/io.stat'));
    put('v2/sys/box/pids.current', '5\n');
    const dirs = resolveCgroupDirs(detectLayout(mountinfo), '0::/sys/box\n');
    expect(readSample(process.pid, dirs)).toMatchObject({
      cgroup: { version: 2, path: '/sys/box' },
      cpuNs: 900492000,
      memory: { usage: 83886080, inactiveFile: 102400, limit: 536870912 },
      blockIo: { readBytes: 2097152, writeBytes: 4194304 },
      pids: 5,
    });
  });

  test('v2 without the memory and pids controllers enabled: memory unknown, threads counted', () => {
    const mountinfo = mnt(60, '/v2b', 'cgroup2', 'rw');
    put('v2b/leaf/cpu.stat', 'usage_usec 10\n');
    put('v2b/leaf/cgroup.threads', '1\n2\n');
    const s = readSample(process.pid, resolveCgroupDirs(detectLayout(mountinfo), '0::/leaf\n'));
    expect(s).toMatchObject({ cpuNs: 10000, pids: 2 });
    expect(s.memory).toBeUndefined();
    expect(s.blockIo).toBeUndefined();
  });
});
