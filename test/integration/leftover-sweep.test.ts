// The sweep for cgroups a SIGKILLed nsrun left (their records in the state directory) runs on a
// library process's first spawn, then at most every 10 s: not a readdir per sandbox.
import { afterEach, describe, expect, test, vi } from 'vitest';
import * as sandboxCgroup from '../../src/cgroup/sandbox-cgroup';
import { spawn } from '../../src/index';
import { gated, isRoot, unprivilegedUserns } from '../helpers/caps';

vi.mock('../../src/cgroup/sandbox-cgroup', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/cgroup/sandbox-cgroup')>();
  return { ...m, collectLeftovers: vi.fn(m.collectLeftovers) };
});

const canRun = isRoot || unprivilegedUserns || process.geteuid?.() !== 0;

async function spawnTrue(): Promise<void> {
  const sb = await spawn({ command: ['/bin/true'], namespaces: ['pid', 'uts'], stdio: 'inherit' });
  await sb.exited;
}

afterEach(() => vi.restoreAllMocks());

describe.skipIf(!canRun)(gated(canRun, 'leftover sweep', 'needs namespaces'), () => {
  test('the first spawn sweeps, the next ones within 10 s do not, the first after 10 s does', async () => {
    const collect = vi.mocked(sandboxCgroup.collectLeftovers);
    expect(sandboxCgroup.leftoverSweepDue()).toBe(true);
    await spawnTrue();
    expect(collect).toHaveBeenCalledTimes(1);
    await spawnTrue();
    await spawnTrue();
    expect(collect).toHaveBeenCalledTimes(1);
    const now = process.uptime() * 1000;
    expect(sandboxCgroup.leftoverSweepDue(now + sandboxCgroup.LEFTOVER_SWEEP_INTERVAL - 100)).toBe(false);
    vi.spyOn(process, 'uptime').mockReturnValue((now + sandboxCgroup.LEFTOVER_SWEEP_INTERVAL + 1) / 1000);
    await spawnTrue();
    expect(collect).toHaveBeenCalledTimes(2);
    await spawnTrue();
    expect(collect).toHaveBeenCalledTimes(2);
  });
});
