// nsrun stats as a library: `stats(target)` for one reading, `watchStats(targets)` for a stream.
// Each target is pinned with a pidfd (a reused pid is never read as the target) and read twice or
// more: CPU % needs two readings. A reading counts only if the process is still alive after it,
// so every number belongs to that one process; one that ended is reported as exited.
import { pidCgroupDirs } from '../cgroup/layout';
import { NsrunError } from '../errors';
import { native } from '../native/binding';
import { list } from '../parent/registry';
import { resolveTarget } from '../parent/target';
import { computeStats, type RawSample, type SandboxStats } from './compute';
import { readHostFile, readSample } from './sample';

export interface StatsOptions {
  /** Time between readings, ms (CPU % is over this interval). Default: 500 for stats(), 1000 for watchStats(). */
  intervalMs?: number;
  /** Stops watchStats() (it returns after the current wait). */
  signal?: AbortSignal;
}

export interface StatsTick {
  time: Date;
  /** One entry per live target, in the order given (named sandboxes: by name). */
  stats: SandboxStats[];
  /** Targets that ended since the last tick (they are not read again). */
  exited: { name?: string; pid: number }[];
}

interface Tracked {
  spec: string;
  pid: number;
  pidfd: number;
  name?: string;
  prev?: RawSample;
}

function pin(spec: string): Tracked {
  const t = resolveTarget(spec);
  // a PID that is a named sandbox gets its name (no registry, e.g. no XDG_RUNTIME_DIR: no name)
  let name = t.name;
  try {
    name ??= list().find((e) => e.pid === t.pid)?.name;
  } catch {
    // the PID is still a target
  }
  return { spec, pid: t.pid, pidfd: t.pidfd, name };
}

function alive(t: Tracked): boolean {
  return native().pidfdSendSignal(t.pidfd, 0) === 0;
}

/** A reading of the target, or undefined when it has ended (before or while it was read). */
function readTarget(t: Tracked): RawSample | undefined {
  if (!alive(t)) return undefined;
  const where = pidCgroupDirs(t.pid, readHostFile);
  if (!where) return undefined;
  const s = readSample(t.pid, where.dirs);
  if (!alive(t)) return undefined;
  return t.name !== undefined ? { ...s, name: t.name } : s;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function gone(t: Tracked): NsrunError {
  return new NsrunError({ step: 'stats', object: t.spec, reason: 'the target exited while it was read', code: 'ESRCH', errno: 3, side: 'parent' });
}

/** One reading of TARGET (a sandbox name or any PID), CPU % over `intervalMs` (default 500). */
export async function stats(target: string, opts: StatsOptions = {}): Promise<SandboxStats> {
  const t = pin(target);
  try {
    const first = readTarget(t);
    if (!first) throw gone(t);
    await sleep(opts.intervalMs ?? 500, opts.signal);
    const second = readTarget(t);
    if (!second) throw gone(t);
    return computeStats(second, first);
  } finally {
    native().close(t.pidfd);
  }
}

/**
 * Readings every `intervalMs` (default 1000) until `signal` aborts. With TARGETs (names or PIDs,
 * all checked before the first reading: a bad one throws) it ends when all of them have; without,
 * it follows the running named sandboxes, picking up new ones as they start.
 */
export async function* watchStats(targets: string[] = [], opts: StatsOptions = {}): AsyncGenerator<StatsTick> {
  const interval = opts.intervalMs ?? 1000;
  const all = targets.length === 0;
  const tracked: Tracked[] = [];
  try {
    for (const spec of targets) tracked.push(pin(spec));
    // without targets: pick up named sandboxes that started since, with a first reading
    const follow = () => {
      if (!all) return;
      for (const e of list()) {
        if (tracked.some((t) => t.name === e.name && t.pid === e.pid)) continue;
        try {
          const t = pin(e.name);
          t.prev = readTarget(t);
          tracked.push(t);
        } catch {
          // ended between the listing and the pidfd
        }
      }
      tracked.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
    };
    follow();
    if (!all) for (const t of tracked) t.prev = readTarget(t);
    while (!opts.signal?.aborted) {
      await sleep(interval, opts.signal);
      if (opts.signal?.aborted) return;
      const tick: StatsTick = { time: new Date(), stats: [], exited: [] };
      for (const t of [...tracked]) {
        const cur = readTarget(t);
        if (!cur) {
          tick.exited.push(t.name !== undefined ? { name: t.name, pid: t.pid } : { pid: t.pid });
          native().close(t.pidfd);
          tracked.splice(tracked.indexOf(t), 1);
          continue;
        }
        // CPU % is over the time since the previous reading (taken when the target was picked up)
        tick.stats.push(computeStats(cur, t.prev));
        t.prev = cur;
      }
      follow();
      yield tick;
      if (!all && tracked.length === 0) return;
    }
  } finally {
    for (const t of tracked) native().close(t.pidfd);
  }
}
