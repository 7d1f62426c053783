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

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** A cgroup a test made (root only), removed with everything in it by remove(). */
export interface TestCgroup {
  /** Absolute path under /sys/fs/cgroup. */
  path: string;
  /** The path as /proc/PID/cgroup shows it ("/nsrun-test-123-oom"). */
  rel: string;
  read(file: string): string;
  write(file: string, value: string | number): void;
  /** key value lines (memory.events, cpu.stat, ...) as numbers. */
  keyed(file: string): Record<string, number>;
  /** Make a child cgroup of this one. */
  child(name: string): TestCgroup;
  /** Kill everything inside (cgroup.kill), then rmdir it and its children, deepest first. */
  remove(): void;
}

function cgroupAt(dir: string): TestCgroup {
  const cg: TestCgroup = {
    path: dir,
    rel: dir.slice(CGROUP2_ROOT.length) || '/',
    read: (file) => fs.readFileSync(`${dir}/${file}`, 'utf8'),
    write: (file, value) => fs.writeFileSync(`${dir}/${file}`, String(value)),
    keyed: (file) =>
      Object.fromEntries(
        cg.read(file).trim().split('\n').filter(Boolean).map((l) => {
          const [k, v] = l.split(/\s+/);
          return [k, Number(v)];
        }),
      ),
    child: (name) => {
      fs.mkdirSync(`${dir}/${name}`);
      return cgroupAt(`${dir}/${name}`);
    },
    remove: () => removeCgroupTree(dir),
  };
  return cg;
}

function removeCgroupTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(`${dir}/${e.name}`);
  try {
    fs.writeFileSync(`${dir}/cgroup.kill`, '1');
  } catch {
    // cgroup.kill needs Linux 5.14; without it the test must have ended its processes itself
  }
  // A killed process leaves the cgroup only once it has been reaped: retry for a while.
  for (let i = 0; ; i++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i >= 200) throw e;
      sleepMs(50);
    }
  }
}

/**
 * A fresh cgroup directly under the root, named after this test process so concurrent runs do not
 * collide: /sys/fs/cgroup/nsrun-test-<pid>-<name>. The root's children get cpuset cpu io memory
 * pids (the VM's /init enables them in the root's cgroup.subtree_control, as systemd does).
 */
export function makeTestCgroup(name: string): TestCgroup {
  const dir = `${CGROUP2_ROOT}/nsrun-test-${process.pid}-${name}`;
  removeCgroupTree(dir); // a leftover of an earlier run with the same pid
  fs.mkdirSync(dir);
  return cgroupAt(dir);
}

/** Enable controllers for a cgroup's children ("+memory +pids ..."). */
export function enableControllers(cg: TestCgroup, controllers: string[]): void {
  cg.write('cgroup.subtree_control', controllers.map((c) => `+${c}`).join(' '));
}

/**
 * Delegate a cgroup to an unprivileged user the way systemd does for Delegate=yes (and the kernel's
 * cgroup-v2.rst describes): the directory and its cgroup.procs, cgroup.threads and
 * cgroup.subtree_control become the user's, so it can make children, enable controllers in them
 * and move its own processes between them; the limits of the delegated cgroup itself stay root's.
 */
export function delegate(cg: TestCgroup, user: { uid: number; gid: number }): void {
  for (const f of ['', '/cgroup.procs', '/cgroup.threads', '/cgroup.subtree_control']) {
    fs.chownSync(`${cg.path}${f}`, user.uid, user.gid);
  }
}

/**
 * argv prefix that starts COMMAND with its process already in cgroup `cg` (written by root before
 * the exec), e.g. [...inCgroup(leaf), ...setprivPrefix(NOBODY), node, nsrun, ...]. A rootless
 * process can move processes only within a subtree it was delegated and already sits in, which is
 * how a user's session under systemd starts (user@UID.service).
 */
export function inCgroup(cg: TestCgroup): string[] {
  return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg.path];
}
