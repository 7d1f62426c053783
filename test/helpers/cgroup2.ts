// Is this a pure cgroup v2 host (unified hierarchy at /sys/fs/cgroup, no v1 hierarchy mounted)?
// Every file in test/cgroup2/ gates on this. The development host and CI are hybrid v1, so there
// those tests skip with CGROUP2_SKIP_REASON, and `npm run test:cgroup2` runs them for real in a
// small VM (scripts/cgroup2-vm/run.sh) that boots with cgroup_no_v1=all.
import * as fs from 'node:fs';

export const CGROUP2_ROOT = '/sys/fs/cgroup';

/** The reason every test/cgroup2 test states when it is skipped. */
export const CGROUP2_SKIP_REASON = 'needs a pure cgroup v2 host: run npm run test:cgroup2';

interface Mount {
  dir: string;
  fstype: string;
}

function mounts(): Mount[] {
  try {
    // mountinfo: "id parent maj:min root dir opts [optional...] - fstype source superopts"
    return fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const f = line.split(' ');
        return { dir: f[4], fstype: f[f.indexOf('-') + 1] };
      });
  } catch {
    return [];
  }
}

/** Controllers the root of the unified hierarchy offers (cgroup.controllers), empty if none. */
export function rootControllers(): string[] {
  try {
    return fs.readFileSync(`${CGROUP2_ROOT}/cgroup.controllers`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** cgroup2 at /sys/fs/cgroup and no v1 (`cgroup`) hierarchy anywhere: every controller is on v2. */
export const onCgroup2Host = (() => {
  const m = mounts();
  const unifiedAtRoot = m.some((x) => x.dir === CGROUP2_ROOT && x.fstype === 'cgroup2');
  const anyV1 = m.some((x) => x.fstype === 'cgroup');
  return unifiedAtRoot && !anyV1;
})();

/** True inside the test VM of `npm run test:cgroup2` (its /init exports NSRUN_CGROUP2_VM=1). */
export const inCgroup2Vm = process.env.NSRUN_CGROUP2_VM === '1';
