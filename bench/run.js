#!/usr/bin/env node
'use strict';
// nsrun benchmark: `npm run bench` (= node bench/run.js). See bench/README.md.
//
//   1. Library spawn from one Node process: how long the event loop is blocked per sandbox, the
//      round trip spawn -> reaped, and sandboxes/s with 8 in flight; nsrun's API against
//      child_process.spawn('unshare', ...), once with the baseline heap and once while the process
//      holds 500 MB of touched Buffers (fork-style spawning copies page tables; CLONE_VM does not).
//   2. CLI cold start: nsrun vs unshare vs bwrap vs `node -e 0`.
//   3. With a rootfs (static busybox in a temp dir): nsrun --rootfs (and --overlay) vs bwrap on the
//      same directory vs `runc run` with an OCI bundle on it.
//   4. Footprint: Pss and RSS of what each tool keeps on the host while `sleep` runs in a sandbox
//      (nsrun CLI + nsrun-init, bwrap's two processes, unshare), and the library's cost per sandbox.
//
// Installs nothing; a peer that is not installed is reported as skipped. No time is asserted.
// Options: --quick  --rootless  --stdio=inherit|pipe  --n=N  --runs=N  --only=1|2|3|4  --help

const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const ROOT = path.resolve(__dirname, '..');
const NAMESPACES = ['pid', 'net', 'uts', 'ipc', 'mnt'];
const CLI_NS_FLAGS = ['--pid', '--net', '--uts', '--ipc', '--mount'];
const NOBODY = 65534;
const REEXEC_ENV = 'NSRUN_BENCH_ROOTLESS_CHILD';

// ---------------------------------------------------------------------------------------------
// options

function parseArgs(args) {
  const o = { quick: false, rootless: false, stdio: 'inherit', n: undefined, runs: undefined, only: undefined, heapMB: 500, help: false };
  for (const a of args) {
    const [k, v] = a.split('=', 2);
    if (k === '--quick') o.quick = true;
    else if (k === '--rootless') o.rootless = true;
    else if (k === '--stdio' && (v === 'inherit' || v === 'pipe')) o.stdio = v;
    else if (k === '--n' && /^\d+$/.test(v || '')) o.n = Number(v);
    else if (k === '--runs' && /^\d+$/.test(v || '')) o.runs = Number(v);
    else if (k === '--only' && /^[1-4]$/.test(v || '')) o.only = Number(v);
    else if (k === '--heap-mb' && /^\d+$/.test(v || '')) o.heapMB = Number(v);
    else if (k === '--help' || k === '-h') o.help = true;
    else {
      console.error(`bench: unknown option ${a} (see --help)`);
      process.exit(2);
    }
  }
  o.n ??= o.quick ? 50 : 200;
  o.runs ??= o.quick ? 10 : 30;
  o.warmup = o.quick ? 5 : 20;
  o.footRuns = o.quick ? 3 : 7;
  o.libSandboxes = 20;
  o.inFlight = 8;
  return o;
}

const HELP = `usage: node bench/run.js [options]
  --quick              fewer iterations (N=50 library spawns, 10 CLI runs)
  --rootless           (as root) re-run everything as uid/gid ${NOBODY} via setpriv
  --stdio=inherit|pipe stdio of the library sandboxes and child_process peers (default inherit)
  --n=N                sequential library spawns per measurement (default 200)
  --runs=N             CLI cold-start runs per command (default 30)
  --only=1|2|3|4       run one section (3: with a rootfs, 4: footprint)
  --heap-mb=M          size of the big heap in section 1 (default 500, in 50 MB Buffers)`;

// ---------------------------------------------------------------------------------------------
// small helpers

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms, ns resolution

function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}
const median = (xs) => {
  if (!xs.length) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function ms(x) {
  if (x === undefined || Number.isNaN(x)) return '-';
  if (x < 1) return x.toFixed(3);
  if (x < 10) return x.toFixed(2);
  return x.toFixed(1);
}
function ratio(a, b) {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '-';
  const r = a / b;
  return (r < 10 ? r.toFixed(2) : r.toFixed(1)) + 'x';
}

/** Prints rows under a header: the first column (and the last, with leftLast) left-aligned. */
function table(head, rows, leftLast = false) {
  const all = [head, ...rows];
  const w = head.map((_, c) => Math.max(...all.map((r) => String(r[c] ?? '').length)));
  const left = (c) => c === 0 || (leftLast && c === head.length - 1);
  const line = (r) => r.map((cell, c) => (left(c) ? String(cell ?? '').padEnd(w[c]) : String(cell ?? '').padStart(w[c]))).join('  ').trimEnd();
  console.log('  ' + line(head));
  console.log('  ' + w.map((x) => '-'.repeat(x)).join('  '));
  for (const r of rows) console.log('  ' + line(r));
}

function which(name) {
  for (const dir of (process.env.PATH || '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function sh(cmd, args) {
  try {
    const r = cp.spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
    return r.status === 0 ? (r.stdout || r.stderr).trim() : undefined;
  } catch {
    return undefined;
  }
}

const rssMB = () => Math.round(process.memoryUsage().rss / 1048576);
const fdCount = () => fs.readdirSync('/proc/self/fd').length - 1; // minus the fd readdir uses

/** Live (or zombie) children of this process, from /proc/self/task/<tid>/children. */
function children() {
  const out = [];
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      const text = fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    return null; // CONFIG_PROC_CHILDREN missing
  }
  return out;
}

const tickBoundary = () => new Promise((r) => setImmediate(r));

function withTimeout(p, msLimit, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`${what} did not finish within ${msLimit} ms (hang?)`)), msLimit);
    }),
  ]).finally(() => clearTimeout(t));
}

// ---------------------------------------------------------------------------------------------
// header

function header(o, peers) {
  const cpu = (() => {
    try {
      const m = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
      return m ? m[1].trim() : os.cpus()[0]?.model;
    } catch {
      return os.cpus()[0]?.model;
    }
  })();
  const git = sh('git', ['-c', `safe.directory=${ROOT}`, '-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = git && sh('git', ['-c', `safe.directory=${ROOT}`, '-C', ROOT, 'status', '--porcelain', '--untracked-files=no']);
  const euid = process.geteuid();
  console.log(`nsrun bench  ${new Date().toISOString()}`);
  console.log(`  kernel   ${os.type()} ${os.release()} ${os.arch()} (${os.version()})`);
  console.log(`  node     ${process.version}   nproc ${os.availableParallelism()}   cpu ${cpu}   mem ${Math.round(os.totalmem() / 2 ** 30)} GiB`);
  console.log(`  caller   uid ${euid} gid ${process.getegid()}` +
    (euid === 0 ? ' (root)' : ` (rootless: nsrun adds a user namespace; unshare gets --map-root-user)`) +
    (process.env[REEXEC_ENV] ? ' via setpriv --reuid --regid --clear-groups' : ''));
  console.log(`  nsrun    ${require(path.join(ROOT, 'package.json')).version}` + (git ? ` at ${git}${dirty ? ' + uncommitted changes' : ''}` : ''));
  console.log(`  peers    ${peers.map((p) => `${p.name}: ${p.version ?? p.skip}`).join('; ')}`);
  const load = os.loadavg()[0];
  console.log(`  load     ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}` +
    (load > os.availableParallelism() / 4 ? '   (note: the machine is not idle; p95 and max columns will be noisy)' : ''));
  console.log(`  params   library N=${o.n} sequential + ${o.inFlight} in flight, warmup ${o.warmup}; CLI ${o.runs} runs each; stdio ${o.stdio}${o.quick ? '; --quick' : ''}`);
}

// ---------------------------------------------------------------------------------------------
// section 1: library spawn

function loadLibrary() {
  for (const f of ['dist/index.js', 'dist/sandbox.js']) {
    const p = path.join(ROOT, f);
    if (fs.existsSync(p)) return { lib: require(p), file: f };
  }
  return null;
}

/**
 * A busy setImmediate loop. Records the largest gap between two ticks since the last take(), and
 * the sum of each gap's excess over an idle tick (`base`): the time the loop spent on other work.
 */
class Ticker {
  constructor(base = 0) {
    this.base = base;
    this.running = false;
    this.max = 0;
    this.busy = 0;
    this.gaps = null;
  }
  start() {
    this.running = true;
    this.last = now();
    const tick = () => {
      const t = now();
      const g = t - this.last;
      if (g > this.max) this.max = g;
      if (g > this.base) this.busy += g - this.base;
      if (this.gaps) this.gaps.push(g);
      this.last = t;
      if (this.running) setImmediate(tick);
    };
    setImmediate(tick);
  }
  reset() {
    this.max = 0;
    this.busy = 0;
  }
  take() {
    const r = { max: this.max, busy: this.busy };
    this.reset();
    return r;
  }
  stop() {
    this.running = false;
  }
}

/** The median gap between ticks of an otherwise idle loop. */
async function idleTick(msLong = 200) {
  const t = new Ticker();
  t.gaps = [];
  t.start();
  await new Promise((r) => setTimeout(r, msLong));
  t.stop();
  await tickBoundary();
  return median(t.gaps.slice(10));
}

/** Each impl: start() calls the spawning API synchronously and returns a promise of the reap. */
function makeImpls(o, lib, peers) {
  const rootless = process.geteuid() !== 0;
  const impls = [];
  if (lib) {
    impls.push({
      name: 'nsrun spawn()',
      key: 'nsrun',
      start() {
        return lib.spawn({ command: ['/bin/true'], namespaces: NAMESPACES, stdio: o.stdio }).then((sb) => {
          const waits = [sb.exited];
          if (o.stdio === 'pipe') {
            for (const s of [sb.stdout, sb.stderr]) {
              s.resume();
              waits.push(new Promise((r) => s.on('close', r)));
            }
            sb.stdin.end();
          }
          return Promise.all(waits).then(([r]) => {
            if (r.exitCode !== 0) throw new Error(`nsrun sandbox exited with ${JSON.stringify(r)}`);
          });
        });
      },
    });
  }
  const cpImpl = (name, key, file, args) => ({
    name,
    key,
    start() {
      const c = cp.spawn(file, args, { stdio: o.stdio });
      if (o.stdio === 'pipe') {
        c.stdout.resume();
        c.stderr.resume();
        c.stdin.end();
      }
      return new Promise((resolve, reject) => {
        c.on('error', reject);
        c.on('close', (code, sig) => (code === 0 ? resolve() : reject(new Error(`${name} exited with ${code ?? sig}`))));
      });
    },
  });
  const unshare = peers.find((p) => p.name === 'unshare');
  if (unshare.path) {
    impls.push(cpImpl('child_process unshare', 'unshare', unshare.path,
      [...(rootless ? ['--map-root-user'] : []), '--fork', ...CLI_NS_FLAGS, '/bin/true']));
  }
  impls.push(cpImpl('child_process /bin/true (no ns)', 'true', '/bin/true', []));
  impls.push({
    name: 'idle: 2 ms timer (floor)',
    key: 'idle',
    start() {
      return new Promise((r) => setTimeout(r, 2));
    },
  });
  return impls;
}

async function measureImpl(o, impl, base) {
  const res = { sync: [], gap: [], busy: [], rt: [], cpu: [], eldMax: NaN, rate: NaN };
  const limit = 30_000;
  for (let i = 0; i < o.warmup; i++) await withTimeout(impl.start(), limit, `${impl.name} warmup #${i}`);
  await tickBoundary();
  const fds0 = fdCount();

  // (a) blocking: a busy setImmediate ticker runs while the spawns run one after another.
  const ticker = new Ticker(base);
  ticker.start();
  await tickBoundary();
  for (let i = 0; i < o.n; i++) {
    ticker.reset();
    await withTimeout(impl.start(), limit, `${impl.name} #${i}`);
    const t = ticker.take();
    res.gap.push(t.max);
    res.busy.push(t.busy);
  }
  ticker.stop();
  await tickBoundary();

  // (b) round trip spawn -> reaped, the synchronous first tick of the call, and process CPU;
  // the event loop is otherwise idle here. monitorEventLoopDelay as a coarse (1 ms) cross-check.
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  for (let i = 0; i < o.n; i++) {
    const c0 = process.cpuUsage();
    const t0 = now();
    const p = impl.start();
    const t1 = now();
    await withTimeout(p, limit, `${impl.name} #${i}`);
    const t2 = now();
    const c = process.cpuUsage(c0);
    res.sync.push(t1 - t0);
    res.rt.push(t2 - t0);
    res.cpu.push((c.user + c.system) / 1000);
  }
  eld.disable();
  res.eldMax = eld.max / 1e6;

  // (c) throughput: o.inFlight sandboxes at a time until o.n have been reaped.
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: o.inFlight }, async () => {
      while (next < o.n) {
        const i = next++;
        await withTimeout(impl.start(), limit, `${impl.name} in-flight #${i}`);
      }
    }),
  );
  res.rate = o.n / ((now() - t0) / 1000);

  await tickBoundary();
  await new Promise((r) => setTimeout(r, 20));
  res.fds = [fds0, fdCount()];
  res.children = children();
  return res;
}

async function section1(o, lib, libFile, peers, heapLabel) {
  console.log(`\n1. Library spawn from one Node process — ${heapLabel}, rss ${rssMB()} MB`);
  console.log(`   /bin/true in namespaces ${NAMESPACES.join(',')}; nsrun via ${libFile}, peers via child_process.spawn; stdio ${o.stdio}`);
  const impls = makeImpls(o, lib, peers);
  if (!lib) console.log('   skipped: nsrun library not built (run npm run build)');
  if (!impls.some((i) => i.key === 'unshare')) console.log(`   skipped: unshare ${peers.find((p) => p.name === 'unshare').skip}`);
  const results = new Map();
  const errors = [];
  const base = await idleTick();
  for (const impl of impls) {
    try {
      results.set(impl.key, await measureImpl(o, impl, base));
    } catch (e) {
      results.delete(impl.key);
      errors.push(`${impl.name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
    }
  }
  const rows = [];
  for (const impl of impls) {
    const r = results.get(impl.key);
    if (!r) continue;
    const idle = impl.key === 'idle';
    rows.push([
      impl.name,
      idle ? '-' : ms(median(r.sync)),
      idle ? '-' : ms(quantile(r.sync, 0.95)),
      ms(median(r.gap)),
      ms(quantile(r.gap, 0.95)),
      ms(Math.max(...r.gap)),
      ms(median(r.busy)),
      idle ? '-' : ms(median(r.rt)),
      idle ? '-' : ms(quantile(r.rt, 0.95)),
      ms(median(r.cpu)),
      ms(r.eldMax),
      idle ? '-' : r.rate.toFixed(0),
    ]);
  }
  const ns = results.get('nsrun');
  for (const key of ['unshare', 'true']) {
    const r = results.get(key);
    if (!ns || !r) continue;
    rows.push([
      `ratio ${key} / nsrun`,
      ratio(median(r.sync), median(ns.sync)),
      ratio(quantile(r.sync, 0.95), quantile(ns.sync, 0.95)),
      ratio(median(r.gap), median(ns.gap)),
      ratio(quantile(r.gap, 0.95), quantile(ns.gap, 0.95)),
      ratio(Math.max(...r.gap), Math.max(...ns.gap)),
      ratio(median(r.busy), median(ns.busy)),
      ratio(median(r.rt), median(ns.rt)),
      ratio(quantile(r.rt, 0.95), quantile(ns.rt, 0.95)),
      ratio(median(r.cpu), median(ns.cpu)),
      ratio(r.eldMax, ns.eldMax),
      ratio(ns.rate, r.rate),
    ]);
  }
  if (rows.length) {
    console.log('   times in ms per spawn. sync: the synchronous first tick of the call. gap: the longest stall of a busy');
    console.log(`   setImmediate ticker while the spawn runs; busy: the sum of its stalls beyond an idle tick (${ms(base)} ms), i.e.`);
    console.log('   all the main-thread work one spawn costs. rt: call -> reaped (no ticker). cpu: process CPU time.');
    console.log(`   ELD: monitorEventLoopDelay max (1 ms resolution). rate: sandboxes/s with ${o.inFlight} in flight.`);
    console.log('   ratio rows: peer / nsrun (rate: nsrun / peer), so >1x means nsrun is better.');
    table(['', 'sync med', 'p95', 'gap med', 'p95', 'max', 'busy med', 'rt med', 'p95', 'cpu med', 'ELD max', 'rate/s'], rows);
  }
  const leaks = [];
  for (const impl of impls) {
    const r = results.get(impl.key);
    if (!r || impl.key === 'idle') continue;
    const kids = r.children === null ? 'n/a' : r.children.length;
    leaks.push(`${impl.key} fds ${r.fds[0]}->${r.fds[1]}, children left ${kids}`);
    if (r.fds[1] !== r.fds[0]) errors.push(`${impl.name}: fd count changed ${r.fds[0]} -> ${r.fds[1]} over ${3 * o.n} spawns`);
    if (r.children && r.children.length) errors.push(`${impl.name}: children still present after all were reaped: ${r.children.join(' ')}`);
  }
  if (leaks.length) console.log(`   leak check (${3 * o.n} spawns each): ${leaks.join('; ')}`);
  for (const e of errors) console.log(`   ANOMALY ${e}`);
  return results;
}

function allocateHeap(mb) {
  const bufs = [];
  const piece = 50 * 1024 * 1024;
  for (let left = mb * 1024 * 1024; left > 0; left -= piece) {
    const b = Buffer.alloc(Math.min(piece, left));
    b.fill(0xa5); // touch every page: Buffer.alloc's zeroed pages may not be faulted in yet
    bufs.push(b);
  }
  return bufs;
}

function forceGc() {
  try {
    require('node:v8').setFlagsFromString('--expose-gc');
    const gc = require('node:vm').runInNewContext('gc');
    gc();
    gc();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// section 2: CLI cold start

function section2(o, peers) {
  const rootless = process.geteuid() !== 0;
  console.log(`\n2. CLI cold start — ${o.runs} runs each, interleaved; wall time of child_process.spawnSync from a ${rssMB()} MB process`);
  console.log('   (stdin and stdout /dev/null, stderr a pipe; every run must exit 0)');
  const cmds = [
    { name: 'nsrun CLI', key: 'nsrun', file: process.execPath, args: [path.join(ROOT, 'bin/nsrun.cjs'), ...CLI_NS_FLAGS, '--', '/bin/true'],
      show: `node bin/nsrun.cjs ${CLI_NS_FLAGS.join(' ')} -- /bin/true` },
  ];
  const unshare = peers.find((p) => p.name === 'unshare');
  const uargs = [...(rootless ? ['--map-root-user'] : []), '--fork', ...CLI_NS_FLAGS, '/bin/true'];
  if (unshare.path) cmds.push({ name: 'unshare', key: 'unshare', file: unshare.path, args: uargs, show: `unshare ${uargs.join(' ')}` });
  else console.log(`   skipped: unshare ${unshare.skip}`);
  const bwrap = peers.find((p) => p.name === 'bwrap');
  const bargs = ['--unshare-all', '--dev-bind', '/', '/', '/bin/true'];
  if (bwrap.path) cmds.push({ name: 'bwrap', key: 'bwrap', file: bwrap.path, args: bargs, show: `bwrap ${bargs.join(' ')}` });
  else console.log(`   skipped: bwrap ${bwrap.skip}`);
  cmds.push({ name: 'node -e 0', key: 'node', file: process.execPath, args: ['-e', '0'], show: 'node -e 0' });
  const cliMain = path.join(ROOT, 'dist/cli/main.js');
  if (fs.existsSync(path.join(ROOT, 'dist/nsrun.js'))) {
    // Reference: Node plus loading the CLI the way bin/nsrun.cjs does (the bundle with its code cache), without running it.
    const loader = path.join(ROOT, 'bin/nsrun.cjs');
    cmds.push({ name: 'node + load CLI', key: 'load', file: process.execPath, args: ['-e', `require(${JSON.stringify(loader)}).loadBundle()`],
      show: 'node -e "require(\'bin/nsrun.cjs\').loadBundle()"  (reference: loading the bundled CLI only)' });
  } else if (fs.existsSync(cliMain)) {
    // Reference: Node plus loading the CLI's modules, without running anything.
    cmds.push({ name: 'node + require CLI', key: 'load', file: process.execPath, args: ['-e', `require(${JSON.stringify(cliMain)})`],
      show: 'node -e "require(\'dist/cli/main.js\')"  (reference: module loading only)' });
  }

  const live = timeInterleaved(o, cmds);
  const by = (k) => live.find((c) => c.key === k);
  const ns = by('nsrun');
  const node = by('node');
  const rows = live.map((c) => [c.name, ms(median(c.times)), ms(Math.min(...c.times)), ms(quantile(c.times, 0.95)), ns ? ratio(median(c.times), median(ns.times)) : '-', c.show]);
  table(['', 'median ms', 'min', 'p95', 'vs nsrun', 'command'], rows, true);
  if (ns && node) {
    console.log(`   nsrun - node -e 0 = ${ms(median(ns.times) - median(node.times))} ms (difference of medians: what the CLI adds on top of starting Node)`);
    // each round runs every command once: a slow moment of the machine weighs on both of a pair
    const paired = median(ns.times.map((t, i) => t - node.times[i]));
    console.log(`   paired: median of the ${ns.times.length} per-round differences nsrun - node -e 0 = ${ms(paired)} ms (steadier on a noisy machine)`);
    const load = by('load');
    if (load) {
      console.log(`   of which loading the CLI's modules ~${ms(median(load.times) - median(node.times))} ms, parsing + running the sandbox ~${ms(median(ns.times) - median(load.times))} ms`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// section 3: with a rootfs

/** A static busybox (it must run inside a rootfs without the host's libraries), as test/helpers/rootfs.ts finds it. */
function staticBusybox() {
  return ['/bin/busybox', '/usr/bin/busybox'].find((p) => {
    if (!fs.existsSync(p)) return false;
    const f = sh('file', ['-L', p]);
    return f ? /statically linked|static-pie/.test(f) : cp.spawnSync('ldd', [p]).status !== 0;
  });
}

/** The test suite's rootfs (test/helpers/rootfs.ts): /bin/busybox with its applets, /etc/passwd, /etc/group. */
function buildRootfs(busybox, dir) {
  const root = path.join(dir, 'rootfs');
  fs.mkdirSync(root, { mode: 0o755 });
  fs.chmodSync(root, 0o755);
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', 'mnt']) fs.mkdirSync(path.join(root, d), { mode: 0o755 });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  fs.copyFileSync(busybox, path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  const applets = cp.spawnSync(busybox, ['--list']).stdout.toString().trim().split('\n');
  for (const a of applets) if (a && a !== 'busybox') fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return root;
}

/** An OCI bundle for runc on the same rootfs: `runc spec` (--rootless when not root), then /bin/true, no terminal, writable root, a new netns. */
function runcBundle(runc, dir, root, rootless) {
  const bundle = path.join(dir, 'bundle');
  fs.mkdirSync(bundle);
  const r = cp.spawnSync(runc, ['spec', ...(rootless ? ['--rootless'] : []), '--bundle', bundle], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`runc spec: ${(r.stderr || r.error?.message || '').trim()}`);
  const file = path.join(bundle, 'config.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  spec.process.args = ['/bin/true'];
  spec.process.terminal = false;
  spec.root = { path: root, readonly: false };
  // the same namespaces as the others (`runc spec --rootless` leaves out network)
  for (const type of ['pid', 'network', 'ipc', 'uts', 'mount']) {
    if (!spec.linux.namespaces.some((n) => n.type === type)) spec.linux.namespaces.push({ type });
  }
  fs.writeFileSync(file, JSON.stringify(spec, null, 2));
  return { bundle, namespaces: spec.linux.namespaces.map((n) => n.type) };
}

/** Runs each command o.runs times, interleaved, after two warm-up runs; returns the ones that ran (with .times). */
function timeInterleaved(o, cmds) {
  const runOnce = (c) => {
    const args = typeof c.args === 'function' ? c.args() : c.args;
    const t0 = now();
    const r = cp.spawnSync(c.file, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 30_000 });
    const t = now() - t0;
    if (r.error || r.status !== 0) throw new Error(`${c.show}: ${r.error ? r.error.message : `exit ${r.status ?? r.signal}`}: ${(r.stderr || '').trim().split('\n')[0]}`);
    return t;
  };
  const live = [];
  for (const c of cmds) {
    try {
      runOnce(c);
      runOnce(c);
      c.times = [];
      live.push(c);
    } catch (e) {
      console.log(`   skipped: ${e.message}`);
    }
  }
  for (let i = 0; i < o.runs; i++) for (const c of live) c.times.push(runOnce(c));
  return live;
}

function section3(o, peers) {
  const rootless = process.geteuid() !== 0;
  console.log(`\n3. With a rootfs — ${o.runs} runs each, interleaved; wall time of child_process.spawnSync, /bin/true from a static busybox rootfs`);
  const busybox = staticBusybox();
  if (!busybox) {
    console.log('   skipped: no statically linked busybox (apt-get install busybox-static)');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nsrun-bench-${process.pid}-`));
  fs.chmodSync(dir, 0o755);
  try {
    const root = buildRootfs(busybox, dir);
    console.log(`   rootfs ${root} (${busybox}, applets as symlinks), removed afterwards`);
    const nsFlags = ['--pid', '--net', '--uts', '--ipc'];
    const nargs = [...nsFlags, '--rootfs', root, '--', '/bin/true'];
    const cmds = [
      { name: 'nsrun --rootfs', key: 'nsrun', file: process.execPath, args: [path.join(ROOT, 'bin/nsrun.cjs'), ...nargs],
        show: `nsrun ${nsFlags.join(' ')} --rootfs DIR -- /bin/true` },
      { name: 'nsrun --rootfs --overlay', key: 'overlay', file: process.execPath,
        args: [path.join(ROOT, 'bin/nsrun.cjs'), ...nsFlags, '--rootfs', root, '--overlay', '--', '/bin/true'],
        show: `nsrun ${nsFlags.join(' ')} --rootfs DIR --overlay -- /bin/true` },
    ];
    const bwrap = peers.find((p) => p.name === 'bwrap');
    // nsrun's --rootfs gives its own /proc, a minimal /dev and a tmpfs /tmp (and /sys, which bwrap cannot mount).
    const bargs = ['--unshare-all', '--bind', root, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '/bin/true'];
    if (bwrap.path) cmds.push({ name: 'bwrap', key: 'bwrap', file: bwrap.path, args: bargs, show: `bwrap ${bargs.join(' ').replace(root, 'DIR')}` });
    else console.log(`   skipped: bwrap ${bwrap.skip}`);
    const runc = peers.find((p) => p.name === 'runc');
    if (runc.path) {
      try {
        const { bundle, namespaces } = runcBundle(runc.path, dir, root, rootless);
        const state = path.join(dir, 'runc-state');
        let id = 0;
        cmds.push({ name: 'runc run', key: 'runc', file: runc.path,
          args: () => ['--root', state, 'run', '--bundle', bundle, `nsrun-bench-${process.pid}-${id++}`],
          show: `runc run --bundle B ID  (runc spec${rootless ? ' --rootless' : ''}; namespaces ${namespaces.join(',')})` });
      } catch (e) {
        console.log(`   skipped: runc: ${e.message}`);
      }
    } else console.log(`   skipped: runc ${runc.skip}`);
    const live = timeInterleaved(o, cmds);
    const ns = live.find((c) => c.key === 'nsrun');
    const rows = live.map((c) => [c.name, ms(median(c.times)), ms(Math.min(...c.times)), ms(quantile(c.times, 0.95)), ns ? ratio(median(c.times), median(ns.times)) : '-', c.show]);
    table(['', 'median ms', 'min', 'p95', 'vs nsrun', 'command'], rows, true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// section 4: footprint

/** pid -> { ppid, comm } of every process, from /proc/PID/stat (comm may hold spaces and parens). */
function processTable() {
  const t = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const comm = s.slice(s.indexOf('(') + 1, close);
      const ppid = Number(s.slice(close + 2).split(' ')[1]);
      t.set(Number(e), { ppid, comm });
    } catch {
      // gone
    }
  }
  return t;
}

/** rootPid and its descendants, parents first. */
function descendants(t, rootPid) {
  const out = [];
  const walk = (pid) => {
    out.push(pid);
    for (const [p, x] of t) if (x.ppid === pid) walk(p);
  };
  if (t.has(rootPid)) walk(rootPid);
  return out;
}

/** Pss (smaps_rollup) and VmRSS (status) of a process, in kB; undefined when not readable. */
function memOf(pid) {
  const kb = (file, key) => {
    try {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/${file}`, 'utf8'));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  };
  return { pss: kb('smaps_rollup', 'Pss'), rss: kb('status', 'VmRSS') };
}

const mb = (kb) => (kb === undefined || Number.isNaN(kb) ? '-' : (kb / 1024).toFixed(kb < 10240 ? 2 : 1));

/** One measurement: start the tool with `sleep 60`, wait until sleep runs and 500 ms more, sum what is not sleep. */
async function footprintOnce(c) {
  const child = cp.spawn(c.file, c.args, { stdio: 'ignore', detached: true });
  const closed = new Promise((r) => child.on('close', r));
  child.on('error', () => {});
  try {
    let sleepPid;
    for (const t0 = now(); !sleepPid; await new Promise((r) => setTimeout(r, 20))) {
      if (now() - t0 > 10_000) throw new Error(`${c.show}: sleep did not start within 10 s`);
      if (child.exitCode !== null) throw new Error(`${c.show}: exited ${child.exitCode} before sleep ran`);
      const t = processTable();
      sleepPid = descendants(t, child.pid).find((p) => t.get(p).comm === 'sleep');
    }
    await new Promise((r) => setTimeout(r, 500)); // let the tool settle (Node finishes its start-up work)
    const t = processTable();
    const skip = new Set(descendants(t, sleepPid));
    const procs = descendants(t, child.pid).filter((p) => !skip.has(p)).map((p) => ({ pid: p, comm: t.get(p).comm, ...memOf(p) }));
    process.kill(sleepPid, 'SIGKILL'); // the command ends; every tool then exits by itself
    await withTimeout(closed, 10_000, `${c.show} after its command was killed`);
    return procs;
  } catch (e) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await withTimeout(closed, 10_000, `${c.show} after SIGKILL`).catch(() => {});
    throw e;
  }
}

async function libraryFootprint(o, lib) {
  const self = () => memOf(process.pid);
  const spawnSleep = () => lib.spawn({ command: ['sleep', '60'], namespaces: NAMESPACES, stdio: 'inherit' });
  const warm = await spawnSleep(); // first use loads the addon and nsrun-init: not a per-sandbox cost
  warm.kill('SIGKILL');
  await warm.exited;
  forceGc();
  await new Promise((r) => setTimeout(r, 100));
  const before = self();
  const sbs = [];
  try {
    for (let i = 0; i < o.libSandboxes; i++) sbs.push(await spawnSleep());
    await new Promise((r) => setTimeout(r, 300));
    forceGc();
    await new Promise((r) => setTimeout(r, 100));
    const after = self();
    const inits = sbs.map((sb) => memOf(sb.pid));
    const sum = (k) => inits.reduce((a, m) => a + (m[k] ?? NaN), 0);
    return { before, after, n: sbs.length, initPss: sum('pss'), initRss: sum('rss') };
  } finally {
    for (const sb of sbs) sb.kill('SIGKILL');
    await Promise.all(sbs.map((sb) => sb.exited));
  }
}

async function section4(o, peers, lib) {
  const rootless = process.geteuid() !== 0;
  console.log(`\n4. Footprint — what each tool keeps on the host while \`sleep 60\` runs in its sandbox; median of ${o.footRuns} runs`);
  console.log('   Pss from /proc/PID/smaps_rollup (shared pages split among their users), RSS = VmRSS; MB, summed over the');
  console.log('   tool\'s processes (sleep and its descendants excluded), 500 ms after sleep started.');
  const cmds = [
    { name: 'nsrun CLI', key: 'nsrun', file: process.execPath, args: [path.join(ROOT, 'bin/nsrun.cjs'), ...CLI_NS_FLAGS, '--', 'sleep', '60'],
      show: `nsrun ${CLI_NS_FLAGS.join(' ')} -- sleep 60` },
  ];
  const bwrap = peers.find((p) => p.name === 'bwrap');
  const bargs = ['--unshare-all', '--dev-bind', '/', '/', 'sleep', '60'];
  if (bwrap.path) cmds.push({ name: 'bwrap', key: 'bwrap', file: bwrap.path, args: bargs, show: `bwrap ${bargs.join(' ')}` });
  else console.log(`   skipped: bwrap ${bwrap.skip}`);
  const unshare = peers.find((p) => p.name === 'unshare');
  const uargs = [...(rootless ? ['--map-root-user'] : []), '--fork', ...CLI_NS_FLAGS, 'sleep', '60'];
  if (unshare.path) cmds.push({ name: 'unshare', key: 'unshare', file: unshare.path, args: uargs, show: `unshare ${uargs.join(' ')}` });
  else console.log(`   skipped: unshare ${unshare.skip}`);

  const live = [];
  for (const c of cmds) {
    c.runs = [];
    try {
      for (let i = 0; i < o.footRuns; i++) c.runs.push(await footprintOnce(c));
      live.push(c);
    } catch (e) {
      console.log(`   skipped: ${e.message}`);
    }
  }
  const total = (procs, k) => procs.reduce((a, p) => a + (p[k] ?? NaN), 0);
  for (const c of live) {
    c.pss = median(c.runs.map((r) => total(r, 'pss')));
    c.rss = median(c.runs.map((r) => total(r, 'rss')));
    // per process (by position in the tree): median Pss
    c.parts = c.runs[0].map((p, i) => `${p.comm} ${mb(median(c.runs.map((r) => r[i]?.pss ?? NaN)))}`).join(' + ');
  }
  const bw = live.find((c) => c.key === 'bwrap');
  const rows = live.map((c) => [c.name, String(c.runs[0].length), mb(c.pss), mb(c.rss), bw ? ratio(c.pss, bw.pss) : '-', bw ? ratio(c.rss, bw.rss) : '-', c.parts]);
  if (rows.length) {
    table(['', 'procs', 'Pss MB', 'RSS MB', 'Pss vs bwrap', 'RSS vs bwrap', 'Pss per process (MB)'], rows, true);
    if (live.some((c) => c.runs.some((r) => r.some((p) => p.pss === undefined)))) {
      console.log('   note: some smaps_rollup files were not readable (shown as -): their Pss is missing from the sum');
    }
  }

  if (!lib) {
    console.log('   library: skipped: nsrun library not built (run npm run build)');
    return;
  }
  try {
    const r = await libraryFootprint(o, lib);
    const d = (k) => r.after[k] - r.before[k];
    console.log(`\n   library: ${r.n} sandboxes running \`sleep 60\` via spawn() from this process (${NAMESPACES.join(',')}), after a GC each time:`);
    table(['', 'before MB', 'after MB', 'growth MB', 'per sandbox MB'], [
      ['this Node process, RSS', mb(r.before.rss), mb(r.after.rss), mb(d('rss')), mb(d('rss') / r.n)],
      ['this Node process, Pss', mb(r.before.pss), mb(r.after.pss), mb(d('pss')), mb(d('pss') / r.n)],
      [`${r.n} x nsrun-init, Pss`, '-', mb(r.initPss), mb(r.initPss), mb(r.initPss / r.n)],
      [`${r.n} x nsrun-init, RSS`, '-', mb(r.initRss), mb(r.initRss), mb(r.initRss / r.n)],
    ]);
    console.log(`   host-side cost per library sandbox ~ ${mb((d('pss') + r.initPss) / r.n)} MB Pss (the Node process's growth + its nsrun-init);`);
    console.log('   the caller\'s own Node process is shared by all its sandboxes, so it is not counted per sandbox.');
  } catch (e) {
    console.log(`   library: ANOMALY ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
  }
}

// ---------------------------------------------------------------------------------------------
// main

function probePeers() {
  const peers = [];
  const unshare = which('unshare');
  peers.push({ name: 'unshare', path: unshare, version: unshare && sh(unshare, ['--version']), skip: unshare ? undefined : 'not installed' });
  const bwrap = which('bwrap');
  peers.push({ name: 'bwrap', path: bwrap, version: bwrap && sh(bwrap, ['--version']), skip: bwrap ? undefined : 'not installed' });
  const runc = which('runc');
  peers.push({ name: 'runc', path: runc, version: runc && (sh(runc, ['--version']) || '').split('\n')[0], skip: runc ? undefined : 'not installed' });
  return peers;
}

function reexecRootless(o) {
  const setpriv = which('setpriv');
  if (!setpriv) {
    console.log('--rootless: skipped: setpriv not installed');
    return 0;
  }
  const args = process.argv.slice(2).filter((a) => a !== '--rootless');
  console.log(`--rootless: re-running as uid/gid ${NOBODY}: setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups node bench/run.js ${args.join(' ')}`);
  const r = cp.spawnSync(setpriv, [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, __filename, ...args], {
    stdio: 'inherit',
    cwd: ROOT,
    env: { ...process.env, [REEXEC_ENV]: '1' },
  });
  if (r.error) console.error(`--rootless: ${r.error.message}`);
  return r.status ?? 1;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) {
    console.log(HELP);
    return 0;
  }
  if (o.rootless && process.geteuid() === 0 && !process.env[REEXEC_ENV]) return reexecRootless(o);

  const t0 = now();
  const peers = probePeers();
  header(o, peers);
  const loaded = loadLibrary();

  if (!o.only || o.only === 1) {
    const lib = loaded && loaded.lib;
    const base = await section1(o, lib, loaded && loaded.file, peers, 'baseline heap');
    let bufs = allocateHeap(o.heapMB);
    const big = await section1(o, lib, loaded && loaded.file, peers, `holding ${o.heapMB} MB of Buffers (${bufs.length} x 50 MB, touched)`);
    const lines = [];
    for (const key of ['nsrun', 'unshare', 'true']) {
      const a = base.get(key);
      const b = big.get(key);
      if (!a || !b) continue;
      const d = (f) => {
        const x = f(b) - f(a);
        return `${x >= 0 ? '+' : ''}${ms(x)}`;
      };
      lines.push(`${key}: sync ${d((r) => median(r.sync))}, gap ${d((r) => median(r.gap))}, rt ${d((r) => median(r.rt))} ms`);
    }
    if (lines.length) console.log(`\n   heap effect (medians, ${o.heapMB} MB minus baseline): ${lines.join('; ')}`);
    bufs = null;
    if (!o.only) {
      const before = rssMB();
      const gcd = forceGc();
      await new Promise((r) => setTimeout(r, 50));
      const after = rssMB();
      if (!gcd || after > before - o.heapMB / 2) console.log(`   note: the big heap could not be released before section 2 (rss ${before} -> ${after} MB)`);
    }
  }
  if (!o.only || o.only === 2) section2(o, peers);
  if (!o.only || o.only === 3) section3(o, peers);
  if (!o.only || o.only === 4) await section4(o, peers, loaded && loaded.lib);
  console.log(`\ntotal ${((now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
