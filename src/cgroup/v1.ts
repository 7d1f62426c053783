// cgroup v1 driver (legacy and hybrid layouts): one directory per controller hierarchy. The
// sandbox's cgroup is made in each hierarchy it needs (cpu and cpuacct may be one co-mounted
// hierarchy), below the caller's own cgroup there (v1 has no rule against processes in inner
// cgroups, and the sandbox stays inside whatever the caller is limited by) or --cgroup-parent.
// The freezer hierarchy is always used when mounted: it is what pause and kill-all need.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dirFor, pidCgroupDirs, type CgroupDir, type Layout } from './layout';
import {
  parentIn,
  problem,
  procsOfTree,
  readText,
  signalTree,
  sleep,
  writable,
  type CgroupDriver,
  type CgroupHandle,
  type CgroupOp,
  type CgroupRequest,
  type CgroupSetup,
  type OomInfo,
} from './driver';
import { CPU_PERIOD_US, ioWeightToBlkio, parseCpuList, weightToShares } from './limits';
import { resolveBlockDevice } from './devices';

const V1_NAME: Record<string, string> = { io: 'blkio' };

export class V1Driver implements CgroupDriver {
  readonly version = 1 as const;
  constructor(readonly layout: Layout, private readonly self: CgroupDir[] = pidCgroupDirs('self')?.dirs ?? []) {}

  /** The directory the sandbox's cgroup goes into, in the hierarchy that has `controller`. */
  private parentFor(controller: string, req: CgroupRequest): { parent: string; mount: string } {
    const v1name = V1_NAME[controller] ?? controller;
    const own = dirFor(this.self, v1name);
    const mounted = this.layout.v1.find((m) => m.controllers.includes(v1name));
    if (!mounted || !own || own.version !== 1) {
      const v2note = this.layout.layout === 'hybrid' ? ' (this host is hybrid: v2 has no controllers bound, v1 does not have this one)' : '';
      throw problem('not-mounted', controller, `the ${v1name} controller is not mounted as a cgroup v1 hierarchy${v2note}`, { limits: req.limits, version: 1, rootless: req.rootless });
    }
    if (!own.dir || !own.mount) throw problem('not-mounted', controller, `your cgroup ${own.path} in the ${v1name} hierarchy is not reachable through any mount`, { limits: req.limits, version: 1 });
    const parent = req.parent !== undefined ? parentIn(own.mount.mountPoint, req.parent) : own.dir;
    return { parent, mount: own.mount.mountPoint };
  }

  prepare(req: CgroupRequest): CgroupSetup {
    const l = req.limits;
    const wanted = new Set<string>();
    if (l.cpus !== undefined || l.cpuWeight !== undefined || l.cpuShares !== undefined) wanted.add('cpu');
    if (l.cpuset !== undefined) wanted.add('cpuset');
    if (l.memory !== undefined) wanted.add('memory');
    if (l.pids !== undefined) wanted.add('pids');
    if (l.ioWeight !== undefined || l.ioMax?.length) wanted.add('io');
    const hasFreezer = this.layout.v1.some((m) => m.controllers.includes('freezer'));
    if (hasFreezer) wanted.add('freezer');
    if (!wanted.size) throw problem('not-mounted', 'cgroup', 'no cgroup v1 hierarchy to make the sandbox a cgroup in (no freezer, no controller asked for)', { version: 1 });

    // one directory per hierarchy (co-mounted controllers share it)
    const dirs = new Map<string, { dir: string; controllers: string[] }>();
    const ops: CgroupOp[] = [];
    const writes: CgroupOp[] = [];
    const at = (controller: string) => {
      const { parent } = this.parentFor(controller, req);
      if (!fs.existsSync(parent))
        throw problem('no-parent', controller, `--cgroup-parent ${req.parent}: ${parent} does not exist`, { limits: l, path: parent, version: 1 });
      if (!writable(parent))
        throw problem(req.rootless ? 'not-delegated' : 'no-permission', controller, `${parent} is not writable by uid ${process.geteuid!()}: ${req.rootless ? 'cgroup v1 is not delegated to you' : 'no permission'}`, {
          limits: l,
          parent,
          version: 1,
          rootless: req.rootless,
        });
      const dir = path.join(parent, req.name);
      if (fs.existsSync(dir)) throw problem('busy', 'cgroup', `${dir} already exists`, { version: 1 });
      const e = dirs.get(dir) ?? { dir, controllers: [] };
      e.controllers.push(controller);
      if (!dirs.has(dir)) {
        dirs.set(dir, e);
        ops.push({ op: 'mkdir', path: dir, controller });
      }
      return { dir, parent };
    };
    const w = (controller: string, dir: string, file: string, value: string | number) => {
      const f = path.join(dir, file);
      writes.push({ op: 'write', path: f, value: String(value), controller });
    };
    const need = (controller: string, parent: string, file: string, why: string) => {
      if (!fs.existsSync(path.join(parent, file)))
        throw problem('unsupported', controller, `${path.join(parent, file)} does not exist: ${why}`, { limits: l, version: 1 });
    };

    let memoryDir: string | undefined;
    let freezerDir: string | undefined;
    // cpuset first: a v1 cpuset cgroup takes no task until cpuset.cpus and cpuset.mems are set
    if (wanted.has('cpuset')) {
      const { dir, parent } = at('cpuset');
      const avail = parseCpuList((readText(path.join(parent, 'cpuset.effective_cpus')) ?? readText(path.join(parent, 'cpuset.cpus')) ?? '').trim() || '0');
      const asked = parseCpuList(l.cpuset!);
      const missing = asked.filter((c) => !avail.includes(c));
      if (missing.length)
        throw problem('invalid', 'cpuset', `CPU ${missing.join(',')} is not available: ${parent} allows ${(readText(path.join(parent, 'cpuset.effective_cpus')) ?? '').trim()}`, { limits: l, version: 1 });
      w('cpuset', dir, 'cpuset.cpus', l.cpuset!);
      w('cpuset', dir, 'cpuset.mems', (readText(path.join(parent, 'cpuset.effective_mems')) ?? readText(path.join(parent, 'cpuset.mems')) ?? '0').trim());
    }
    if (wanted.has('cpu')) {
      const { dir, parent } = at('cpu');
      if (l.cpus !== undefined) {
        need('cpu', parent, 'cpu.cfs_quota_us', 'the kernel has no CFS bandwidth control (CONFIG_CFS_BANDWIDTH)');
        w('cpu', dir, 'cpu.cfs_period_us', CPU_PERIOD_US);
        w('cpu', dir, 'cpu.cfs_quota_us', Math.round(l.cpus * CPU_PERIOD_US));
      }
      const shares = l.cpuShares ?? (l.cpuWeight !== undefined ? weightToShares(l.cpuWeight) : undefined);
      if (shares !== undefined) w('cpu', dir, 'cpu.shares', shares);
    }
    if (wanted.has('memory')) {
      const { dir, parent } = at('memory');
      memoryDir = dir;
      w('memory', dir, 'memory.limit_in_bytes', l.memory!);
      if (l.memorySwap !== undefined) {
        need('memory', parent, 'memory.memsw.limit_in_bytes', 'swap accounting is off (boot with swapaccount=1)');
        w('memory', dir, 'memory.memsw.limit_in_bytes', l.memorySwap);
      } else if (fs.existsSync(path.join(parent, 'memory.memsw.limit_in_bytes'))) {
        // as docker: as much swap as memory unless --memory-swap says otherwise
        w('memory', dir, 'memory.memsw.limit_in_bytes', 2 * l.memory!);
      }
    }
    if (wanted.has('pids')) {
      const { dir } = at('pids');
      w('pids', dir, 'pids.max', l.pids!);
    }
    if (wanted.has('io')) {
      const { dir, parent } = at('io');
      if (l.ioWeight !== undefined) {
        const file = ['blkio.weight', 'blkio.bfq.weight'].find((f) => fs.existsSync(path.join(parent, f)));
        if (!file)
          throw problem('unsupported', 'io', `${parent} has no blkio.weight or blkio.bfq.weight: proportional I/O weights need the BFQ scheduler on cgroup v1`, { limits: l, version: 1 });
        w('io', dir, file, ioWeightToBlkio(l.ioWeight));
      }
      for (const m of l.ioMax ?? []) {
        const dev = resolveBlockDevice(m.device, l);
        need('io', parent, 'blkio.throttle.read_bps_device', 'the kernel has no block I/O throttling (CONFIG_BLK_DEV_THROTTLING)');
        if (m.rbps !== undefined) w('io', dir, 'blkio.throttle.read_bps_device', `${dev} ${m.rbps}`);
        if (m.wbps !== undefined) w('io', dir, 'blkio.throttle.write_bps_device', `${dev} ${m.wbps}`);
        if (m.riops !== undefined) w('io', dir, 'blkio.throttle.read_iops_device', `${dev} ${m.riops}`);
        if (m.wiops !== undefined) w('io', dir, 'blkio.throttle.write_iops_device', `${dev} ${m.wiops}`);
      }
    }
    if (wanted.has('freezer')) freezerDir = at('freezer').dir;
    const all = [...dirs.keys()];
    return {
      version: 1,
      name: req.name,
      dirs: all,
      freezer: freezerDir,
      memory: memoryDir,
      ops: [...ops, ...writes],
      procs: all.map((d) => path.join(d, 'cgroup.procs')),
      limits: l,
    };
  }

  async freeze(h: CgroupHandle, on: boolean, timeoutMs = 10_000): Promise<void> {
    if (!h.freezer) throw problem('not-mounted', 'freezer', 'no freezer hierarchy is mounted', { version: 1 });
    const file = path.join(h.freezer, 'freezer.state');
    const want = on ? 'FROZEN' : 'THAWED';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // FREEZING settles to FROZEN once every task has stopped; writing again retries stragglers
      fs.writeFileSync(file, want);
      if ((readText(file) ?? '').trim() === want) return;
      if (Date.now() > deadline) throw problem('busy', 'freezer', `${file} did not reach ${want} within ${timeoutMs} ms`, { version: 1 });
      await sleep(5);
    }
  }

  frozen(h: CgroupHandle): boolean | undefined {
    if (!h.freezer) return undefined;
    const s = readText(path.join(h.freezer, 'freezer.state'))?.trim();
    return s === undefined ? undefined : s !== 'THAWED';
  }

  async killAll(h: CgroupHandle): Promise<void> {
    // freeze first so nothing forks a new task between reading the list and the kill
    const frozen = h.freezer && fs.existsSync(h.freezer) ? await this.freeze(h, true).then(() => true, () => false) : false;
    for (let round = 0; round < 50; round++) {
      const left = h.dirs.flatMap(procsOfTree);
      if (!left.length) break;
      for (const d of h.dirs) signalTree(d, 'SIGKILL');
      if (!frozen) await sleep(2);
      else break;
    }
    if (frozen) await this.freeze(h, false).catch(() => {});
  }

  oomFile(h: CgroupHandle): string | undefined {
    return h.memory ? path.join(h.memory, 'memory.oom_control') : undefined;
  }

  oom(h: CgroupHandle): OomInfo | undefined {
    const file = this.oomFile(h);
    if (!file) return undefined;
    // oom_kill is there since Linux 4.13; nsrun needs 5.3 (pidfds) anyway
    const m = /^oom_kill (\d+)$/m.exec(readText(file) ?? '');
    return m ? { kills: Number(m[1]), source: 'memory.oom_control' } : undefined;
  }

  readLimits(h: CgroupHandle): Record<string, string> {
    const out: Record<string, string> = {};
    const files = ['cpu.cfs_quota_us', 'cpu.cfs_period_us', 'cpu.shares', 'cpuset.cpus', 'cpuset.mems', 'memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'pids.max', 'blkio.weight', 'blkio.bfq.weight', 'blkio.throttle.read_bps_device', 'blkio.throttle.write_bps_device', 'blkio.throttle.read_iops_device', 'blkio.throttle.write_iops_device'];
    for (const d of h.dirs) for (const f of files) {
      const v = readText(path.join(d, f));
      if (v !== undefined) out[f] = v.trim().replace(/\n/g, '; ');
    }
    return out;
  }
}
