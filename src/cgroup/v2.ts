// cgroup v2 driver (the unified hierarchy). The sandbox's cgroup is a leaf next to the caller's
// own cgroup (in its parent; in the root when the caller is in the root), or under
// --cgroup-parent. Rules that shape it:
//  - no internal processes: controllers can be enabled in a cgroup's subtree_control only while
//    it has no processes (the root excepted), which is why the leaf does not go under our own
//    cgroup (nsrun is in it);
//  - a controller is usable in the leaf only if the parent's subtree_control enables it, which
//    needs the parent's cgroup.controllers (= its parent's subtree_control) to offer it;
//  - unprivileged callers work in a delegated subtree (a systemd user slice with Delegate=yes,
//    or a directory root chowned to them); moving a process needs write access to cgroup.procs
//    of the common ancestor of where it is and where it goes.
// Freeze and kill (cgroup.freeze, cgroup.kill) are core files: they need no controller.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dirFor, pidCgroupDirs, type CgroupDir, type CgroupMount, type Layout } from './layout';
import { parentIn, problem, procsOf, readText, signalTree, sleep, writable, type CgroupDriver, type CgroupHandle, type CgroupOp, type CgroupRequest, type CgroupSetup, type OomInfo } from './driver';
import { CPU_PERIOD_US, neededControllers, parseCpuList, sharesToWeight } from './limits';
import { resolveBlockDevice } from './devices';

export class V2Driver implements CgroupDriver {
  readonly version = 2 as const;
  constructor(readonly layout: Layout, private readonly self: CgroupDir[] = pidCgroupDirs('self')?.dirs ?? []) {}

  /** Our own v2 directory and the mount it is under. */
  private own(): { dir: string; mount: CgroupMount } {
    const d = dirFor(this.self, 'unified');
    if (!d || d.version !== 2 || !d.dir || !d.mount)
      throw problem('not-mounted', 'cgroup', `your cgroup ${d?.path ?? '(no 0:: line in /proc/self/cgroup)'} is not reachable through a cgroup2 mount`, { version: 2 });
    return { dir: d.dir, mount: d.mount };
  }

  /** The hierarchy's real root has no cgroup.type (and may hold processes with controllers on). */
  private static isRoot(dir: string): boolean {
    return !fs.existsSync(path.join(dir, 'cgroup.type'));
  }

  prepare(req: CgroupRequest): CgroupSetup {
    const l = req.limits;
    const own = this.own();
    // messages name the first controller asked for (the flag the user typed), else the cgroup
    const first = neededControllers(l)[0] ?? 'cgroup';
    let parent: string;
    if (req.parent !== undefined) parent = parentIn(own.mount.mountPoint, req.parent);
    else parent = own.dir === own.mount.mountPoint || V2Driver.isRoot(own.dir) ? own.dir : path.dirname(own.dir);
    if (!fs.existsSync(path.join(parent, 'cgroup.controllers')))
      throw problem('no-parent', first, `${req.parent !== undefined ? `--cgroup-parent ${req.parent}: ` : ''}${parent} is not a cgroup v2 directory`, { limits: l, path: parent, version: 2 });
    const leaf = path.join(parent, req.name);
    const ctx = { limits: l, parent, version: 2 as const, rootless: req.rootless };
    if (fs.existsSync(leaf)) throw problem('busy', 'cgroup', `${leaf} already exists`, { version: 2 });
    if (!writable(parent))
      throw problem(req.rootless ? 'not-delegated' : 'no-permission', first, `${parent} is not writable by uid ${process.geteuid!()}${req.rootless ? ': it is not delegated to you' : ''}`, ctx);

    const needed = neededControllers(l);
    const available = (readText(path.join(parent, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean);
    const enabled = (readText(path.join(parent, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/).filter(Boolean);
    const ops: CgroupOp[] = [];
    for (const c of needed) {
      if (!available.includes(c)) {
        const where = V2Driver.isRoot(parent) ? 'the kernel does not offer it in the root' : `it is not enabled in the parent's subtree_control (${path.dirname(parent)}/cgroup.subtree_control)`;
        throw problem(V2Driver.isRoot(parent) ? 'not-mounted' : 'not-enabled', c, `the ${c} controller is not available in ${parent}: ${where}${req.rootless ? ', so it is not delegated to you' : ''}`, ctx);
      }
      if (enabled.includes(c)) continue;
      const ctl = path.join(parent, 'cgroup.subtree_control');
      if (!writable(ctl)) throw problem(req.rootless ? 'not-delegated' : 'no-permission', c, `${ctl} is not writable: cannot enable ${c} for the sandbox`, ctx);
      if (!V2Driver.isRoot(parent) && procsOf(parent).length)
        throw problem('internal-processes', c, `${parent} has processes of its own (${procsOf(parent).slice(0, 3).join(', ')}${procsOf(parent).length > 3 ? ', ...' : ''}), so ${c} cannot be enabled in its subtree_control`, ctx);
      ops.push({ op: 'enable', path: ctl, value: `+${c}`, controller: c });
    }
    // moving our child from our cgroup into the leaf needs write access to the common ancestor
    const common = commonAncestor(own.dir, leaf);
    if (req.rootless && !writable(path.join(common, 'cgroup.procs')))
      throw problem('not-delegated', first, `moving the sandbox from ${own.dir} to ${leaf} needs write access to ${common}/cgroup.procs (their common ancestor)`, ctx);

    ops.push({ op: 'mkdir', path: leaf, controller: 'cgroup' });
    const w = (controller: string, file: string, value: string | number) => ops.push({ op: 'write', path: path.join(leaf, file), value: String(value), controller });
    if (l.cpuset !== undefined) {
      const avail = parseCpuList((readText(path.join(parent, 'cpuset.cpus.effective')) ?? '').trim() || '0');
      const missing = parseCpuList(l.cpuset).filter((c) => !avail.includes(c));
      if (missing.length) throw problem('invalid', 'cpuset', `CPU ${missing.join(',')} is not available: ${parent} allows ${(readText(path.join(parent, 'cpuset.cpus.effective')) ?? '').trim()}`, ctx);
      w('cpuset', 'cpuset.cpus', l.cpuset);
    }
    if (l.cpus !== undefined) w('cpu', 'cpu.max', `${Math.round(l.cpus * CPU_PERIOD_US)} ${CPU_PERIOD_US}`);
    const weight = l.cpuWeight ?? (l.cpuShares !== undefined ? sharesToWeight(l.cpuShares) : undefined);
    if (weight !== undefined) w('cpu', 'cpu.weight', weight);
    if (l.memory !== undefined) {
      w('memory', 'memory.max', l.memory);
      if (l.memorySwap !== undefined) {
        if (!fs.existsSync(path.join(parent, 'memory.swap.max')) && !available.includes('memory'))
          throw problem('unsupported', 'memory', 'memory.swap.max is missing: the kernel has no swap accounting', ctx);
        w('memory', 'memory.swap.max', l.memorySwap === -1 ? 'max' : l.memorySwap - l.memory);
      } else {
        // as docker: as much swap as memory (skipped when the kernel has no swap accounting)
        ops.push({ op: 'write', path: path.join(leaf, 'memory.swap.max'), value: String(l.memory), controller: 'memory', optional: true });
      }
      // the whole sandbox goes at once, not just the biggest process
      w('memory', 'memory.oom.group', 1);
    }
    if (l.pids !== undefined) w('pids', 'pids.max', l.pids);
    if (l.ioWeight !== undefined) w('io', 'io.weight', `default ${l.ioWeight}`);
    for (const m of l.ioMax ?? []) {
      const dev = resolveBlockDevice(m.device, l);
      const parts = (['rbps', 'wbps', 'riops', 'wiops'] as const).filter((k) => m[k] !== undefined).map((k) => `${k}=${m[k]}`);
      w('io', 'io.max', `${dev} ${parts.join(' ')}`);
    }
    return {
      version: 2,
      name: req.name,
      dirs: [leaf],
      freezer: leaf,
      memory: l.memory !== undefined ? leaf : undefined,
      ops,
      procs: [path.join(leaf, 'cgroup.procs')],
      limits: l,
    };
  }

  async freeze(h: CgroupHandle, on: boolean, timeoutMs = 30_000): Promise<void> {
    const dir = h.dirs[0];
    fs.writeFileSync(path.join(dir, 'cgroup.freeze'), on ? '1' : '0');
    const deadline = Date.now() + timeoutMs;
    // cgroup.events says "frozen 1" once every task has stopped
    while (this.frozen(h) !== on) {
      if (Date.now() > deadline) throw problem('busy', 'freezer', `${dir}/cgroup.events did not show frozen ${on ? 1 : 0} within ${timeoutMs} ms`, { version: 2 });
      await sleep(5);
    }
  }

  frozen(h: CgroupHandle): boolean | undefined {
    const ev = readText(path.join(h.dirs[0], 'cgroup.events'));
    if (ev === undefined) return undefined;
    return /^frozen 1$/m.test(ev);
  }

  async killAll(h: CgroupHandle): Promise<void> {
    const dir = h.dirs[0];
    const killFile = path.join(dir, 'cgroup.kill');
    if (fs.existsSync(killFile)) {
      fs.writeFileSync(killFile, '1'); // the kernel kills every task, forks in flight included
      return;
    }
    // before 5.14: freeze, kill, thaw (a frozen task dies once thawed)
    await this.freeze(h, true).catch(() => {});
    signalTree(dir, 'SIGKILL');
    await this.freeze(h, false).catch(() => {});
  }

  oom(h: CgroupHandle): OomInfo | undefined {
    const file = this.oomFile(h);
    if (!file) return undefined;
    const m = /^oom_kill (\d+)$/m.exec(readText(file) ?? '');
    return m ? { kills: Number(m[1]), source: 'memory.events' } : undefined;
  }

  oomFile(h: CgroupHandle): string | undefined {
    return h.memory ? path.join(h.memory, 'memory.events') : undefined;
  }

  readLimits(h: CgroupHandle): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of ['cpu.max', 'cpu.weight', 'cpuset.cpus', 'memory.max', 'memory.swap.max', 'memory.oom.group', 'pids.max', 'io.weight', 'io.max']) {
      const v = readText(path.join(h.dirs[0], f));
      if (v !== undefined) out[f] = v.trim().replace(/\n/g, '; ');
    }
    return out;
  }
}

export function commonAncestor(a: string, b: string): string {
  const x = a.split('/');
  const y = b.split('/');
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return x.slice(0, i).join('/') || '/';
}
