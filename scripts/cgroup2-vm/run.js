#!/usr/bin/env node
// Runs tests (or any command) inside a small QEMU VM whose kernel has a pure cgroup v2 hierarchy,
// for hosts like ours whose cgroups are hybrid v1 and must not be changed. `npm run test:cgroup2`.
//
//   scripts/cgroup2-vm/run.js                      vitest run test/cgroup2 (one file at a time,
//                                                  300 s timeouts)
//   scripts/cgroup2-vm/run.js FILE|FILTER...       the same for those files
//   scripts/cgroup2-vm/run.js -c 'SHELL COMMAND'   any command
//
// The guest runs the host's own userland (node, the built addon, node_modules) from the host's /
// shared read-only over virtio-9p, with this checkout shared read-write at the same absolute path
// and used as the working directory; the command runs as root. Its output streams to our stdout
// and its exit status becomes ours; 125 when the VM hung, died or timed out. What it needs and how
// long it takes: test/README.md.
//
// Environment (all optional):
//   NSRUN_VM_TIMEOUT       seconds for the whole run, boot included (default 1800)
//   NSRUN_VM_BOOT_TIMEOUT  seconds for the guest to reach /init before it counts as hung (default 60;
//                          it takes 2-6 s)
//   NSRUN_VM_BOOT_RETRIES  boots to retry after a hung one (default 1)
//   NSRUN_VM_MEM           guest memory in MiB (default 512; under 160 node struggles)
//   NSRUN_VM_CPUS          guest CPUs (default 2: one TCG thread each)
//   NSRUN_VM_TEST_TIMEOUT_MS  vitest's test and hook timeouts in the guest (default 300000)
//   NSRUN_VM_DISK_MB       size of the guest's /dev/vda, a sparse scratch disk for io.max (default 64)
//   NSRUN_VM_TSC_KHZ       the host's TSC frequency for the guest (default: "cpu MHz" of /proc/cpuinfo;
//                          0 leaves it out, and then microvm boots hang in calibrate_delay now and then)
//   NSRUN_VM_VERBOSE=1     show the kernel's boot log
//   NSRUN_VM_KEEP=1        keep the run's scratch directory (initramfs, control share) and say where
//   NSRUN_VM_CACHE, NSRUN_VM_KERNEL_PKG: see prepare.sh
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HERE = __dirname;
const PROJ = path.resolve(HERE, '..', '..');
const env = process.env;
const num = (name, dflt) => (env[name] ? Number(env[name]) : dflt);
const TIMEOUT_S = num('NSRUN_VM_TIMEOUT', 1800);
const BOOT_TIMEOUT_S = num('NSRUN_VM_BOOT_TIMEOUT', 60);
const BOOT_RETRIES = num('NSRUN_VM_BOOT_RETRIES', 1);
const MEM_MB = num('NSRUN_VM_MEM', 512);
const CPUS = num('NSRUN_VM_CPUS', 2);
const DISK_MB = num('NSRUN_VM_DISK_MB', 64);
const VERBOSE = env.NSRUN_VM_VERBOSE === '1';
// The exit status when the VM, not the command, failed (as nsrun and docker use 125).
const VM_FAILED = 125;
// Test timeouts inside the guest: everything runs about 15x slower under TCG.
const GUEST_TEST_TIMEOUT_MS = num('NSRUN_VM_TEST_TIMEOUT_MS', 300_000);

function say(msg) {
  process.stderr.write(`cgroup2-vm: ${msg}\n`);
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v "$0"`, cmd], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** 'a b' -> "'a b'": one word for /bin/sh. */
function shq(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** The command line for the guest, from our arguments. */
function guestCommand(argv) {
  if (argv[0] === '-c') {
    if (argv.length !== 2) throw new Error('usage: run.js -c "SHELL COMMAND"');
    return argv[1];
  }
  const targets = argv.length ? argv : ['test/cgroup2'];
  // One file at a time: the cgroup tests measure CPU time and memory, which two files running
  // side by side on the guest's two emulated CPUs would distort.
  // npx vitest, minus npm's own start-up (3 s in the guest).
  const vitest = ['node_modules/.bin/vitest', 'run', '--no-file-parallelism', `--testTimeout=${GUEST_TEST_TIMEOUT_MS}`,
    `--hookTimeout=${GUEST_TEST_TIMEOUT_MS}`, ...targets];
  return `exec ${vitest.map(shq).join(' ')}`;
}

/** True if the ELF file has no program interpreter, i.e. can run in an initramfs without libc. */
function isStaticElf(file) {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF64 only
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  return true;
}

/** tsc_early_khz: microvm has no HPET or PM timer to calibrate the TSC against; without the
 * host's frequency the guest hung in calibrate_delay in 4 of 6 boots here. */
function tscKhz() {
  if (env.NSRUN_VM_TSC_KHZ !== undefined) return Number(env.NSRUN_VM_TSC_KHZ) || undefined;
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

/** The initramfs: static busybox, our /init and the kernel modules, as a gzipped newc cpio. */
function buildInitramfs(work, kernelDir, busybox) {
  const root = path.join(work, 'initramfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'modules']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync(busybox, path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  fs.copyFileSync(path.join(HERE, 'init'), path.join(root, 'init'));
  fs.chmodSync(path.join(root, 'init'), 0o755);
  for (const m of fs.readdirSync(path.join(kernelDir, 'modules'))) {
    fs.copyFileSync(path.join(kernelDir, 'modules', m), path.join(root, 'modules', m));
  }
  const out = path.join(work, 'initramfs.cpio.gz');
  const r = spawnSync('sh', ['-c', 'cd "$1" && find . | "$2" cpio -o -H newc 2>/dev/null | gzip -1 > "$3"', 'sh', root, busybox, out],
    { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building the initramfs failed');
  return out;
}

function writeControlShare(ctl, command) {
  fs.mkdirSync(ctl);
  const vars = {
    PROJ,
    HOME: '/root',
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: env.LANG || 'C.UTF-8',
    NSRUN_CGROUP2_VM: '1',
  };
  for (const k of ['CI', 'TZ', 'NO_COLOR', 'FORCE_COLOR']) if (env[k] !== undefined) vars[k] = env[k];
  // The guest writes to a pipe; keep colours when we print to a terminal.
  if (process.stdout.isTTY && env.NO_COLOR === undefined && env.FORCE_COLOR === undefined) vars.FORCE_COLOR = '1';
  const conf = Object.entries(vars).map(([k, v]) => `export ${k}=${shq(v)}\n`).join('');
  fs.writeFileSync(path.join(ctl, 'vm.conf'), conf);
  fs.copyFileSync(path.join(HERE, 'stage2.sh'), path.join(ctl, 'stage2.sh'));
  fs.writeFileSync(path.join(ctl, 'cmd'), `${command}\n`);
}

/** A value inside a QEMU -option list, where a comma is written as two. */
function qv(s) {
  return s.replace(/,/g, ',,');
}

function qemuArgs(kernelDir, initrd, ctl, disk, khz) {
  const fsdev = (id, dir, tag, extra = '') => [
    '-fsdev', `local,id=${id},path=${qv(dir)},security_model=none${extra}`,
    '-device', `virtio-9p-device,fsdev=${id},mount_tag=${tag}`,
  ];
  const append = [
    'console=ttyS0', VERBOSE ? 'loglevel=7' : 'loglevel=1',
    'cgroup_no_v1=all', // every controller on the unified hierarchy
    'panic=-1', // a panic reboots, and -no-reboot turns that into an exit
    // tsc=reliable: with 2 CPUs the kernel finds the TSCs "unsynchronized" and falls back to
    // jiffies (4 ms steps, drifting under load); TCG's TSC is the host's, so trust it.
    ...(khz ? [`tsc_early_khz=${khz}`, 'tsc=reliable'] : []),
  ];
  return [
    '-M', 'microvm', '-accel', 'tcg,thread=multi', '-smp', String(CPUS), '-m', String(MEM_MB),
    '-nographic', '-nodefaults', '-no-reboot', '-serial', 'stdio',
    '-kernel', path.join(kernelDir, 'vmlinux'), '-initrd', initrd, '-append', append.join(' '),
    // The host's / spans several filesystems: multidevs=remap keeps inode numbers unique.
    ...fsdev('root', '/', 'host', ',readonly=on,multidevs=remap'),
    ...fsdev('proj', PROJ, 'proj'),
    ...fsdev('ctl', ctl, 'ctl'),
    '-drive', `file=${qv(disk)},if=none,format=raw,id=vda`, '-device', 'virtio-blk-device,drive=vda',
  ];
}

// The kernel's own last words at loglevel=1 ("[ 26.06] sysrq: Power Off", "reboot: Power down").
const POWER_OFF_LINE = /^\[\s*\d+\.\d+\] (sysrq: Power Off|reboot: Power down)\n$/;
let partial = '';

/** Copies the guest's serial console to our stdout, as it comes: without the CRs of its CRLF line
 * ends and, unless NSRUN_VM_VERBOSE, without the power-off messages. undefined = end of output. */
function relayConsole(chunk) {
  const text = partial + (chunk === undefined ? '' : chunk.toString('latin1').replace(/\r/g, ''));
  const cut = chunk === undefined ? text.length : text.lastIndexOf('\n') + 1;
  partial = text.slice(cut);
  const lines = text.slice(0, cut).split(/(?<=\n)/);
  const out = VERBOSE ? lines : lines.filter((l) => !POWER_OFF_LINE.test(l));
  if (out.length) process.stdout.write(out.join(''), 'latin1');
}

/** One boot. Resolves to {status} from the guest, or {failure} saying why there is none. */
function boot(qemu, args, ctl, deadline) {
  return new Promise((resolve) => {
    // --pdeathsig: qemu dies with us even if we are SIGKILLed, so no VM outlives its runner.
    const setpriv = which('setpriv');
    const argv = setpriv ? [setpriv, '--pdeathsig', 'KILL', '--', qemu, ...args] : [qemu, ...args];
    const started = Date.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    current = child;
    let failure;
    let bootedAt;
    child.stdout.on('data', (chunk) => relayConsole(chunk));
    child.stdout.on('end', () => relayConsole(undefined));
    const timer = setInterval(() => {
      const now = Date.now();
      if (bootedAt === undefined && fs.existsSync(path.join(ctl, 'booted'))) bootedAt = now;
      if (bootedAt === undefined && now - started > BOOT_TIMEOUT_S * 1000) {
        failure = { hung: true, why: `the guest did not reach /init within ${BOOT_TIMEOUT_S} s (hung boot)` };
        child.kill('SIGKILL');
      } else if (now > deadline) {
        failure = { why: `timed out after ${TIMEOUT_S} s (NSRUN_VM_TIMEOUT)` };
        child.kill('SIGKILL');
      }
    }, 200);
    child.on('error', (e) => {
      failure = { why: `cannot start ${qemu}: ${e.message}` };
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      current = undefined;
      const bootS = bootedAt === undefined ? undefined : (bootedAt - started) / 1000;
      const totalS = (Date.now() - started) / 1000;
      if (failure) return resolve({ failure, bootS, totalS });
      let rc;
      try {
        rc = fs.readFileSync(path.join(ctl, 'rc'), 'utf8').trim();
      } catch {
        // no status: the guest died before the command finished
      }
      if (rc === undefined || !/^\d+$/.test(rc)) {
        const how = signal ? `qemu was killed by ${signal}` : `qemu exited with ${code}`;
        return resolve({ failure: { why: `the VM ended without the command's status (${how}; NSRUN_VM_VERBOSE=1 shows the kernel log)` }, bootS, totalS });
      }
      resolve({ status: Number(rc), bootS, totalS });
    });
  });
}

const WORK_PREFIX = 'nsrun-cgroup2-vm-';

/** Scratch directories of runners that were SIGKILLed (their qemu died with them: --pdeathsig). */
function removeStaleWorkDirs() {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(WORK_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    let pid;
    try {
      pid = Number(fs.readFileSync(path.join(dir, 'runner.pid'), 'utf8'));
    } catch {
      // no pid file: being created right now, or left by an older runner; the latter once it is old
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs > 3600_000) fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      continue;
    }
    try {
      process.kill(pid, 0);
    } catch (e) {
      // ESRCH: its runner is gone; EPERM: alive, someone else's
      if (e.code === 'ESRCH') fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

let current; // the running qemu, for the signal handlers
let work; // this run's scratch directory

function cleanup() {
  if (!work) return;
  if (env.NSRUN_VM_KEEP === '1') say(`kept ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
  work = undefined;
}

async function main() {
  const command = guestCommand(process.argv.slice(2));
  const qemu = which('qemu-system-x86_64');
  if (!qemu) throw new Error('qemu-system-x86_64 not found (Debian: apt-get install --no-install-recommends qemu-system-x86)');
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((f) => fs.existsSync(f) && isStaticElf(f));
  if (!busybox) throw new Error('no static busybox (Debian: apt-get install busybox-static)');
  const khz = tscKhz();
  if (!khz) say('warning: no TSC frequency (NSRUN_VM_TSC_KHZ=0, or no "cpu MHz" in /proc/cpuinfo): the boot may hang in calibrate_delay (the boot timeout catches it)');

  const prep = spawnSync(path.join(HERE, 'prepare.sh'), { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (prep.status !== 0) throw new Error('preparing the kernel failed');
  const kernelDir = prep.stdout.trim().split('\n').pop();

  // Everything of this run in its own directory: runs at the same time do not collide.
  removeStaleWorkDirs();
  work = fs.mkdtempSync(path.join(os.tmpdir(), WORK_PREFIX));
  fs.writeFileSync(path.join(work, 'runner.pid'), String(process.pid));
  const initrd = buildInitramfs(work, kernelDir, busybox);
  const disk = path.join(work, 'vda.img');
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, DISK_MB * 1024 * 1024);

  const deadline = Date.now() + TIMEOUT_S * 1000;
  for (let attempt = 0; ; attempt++) {
    const ctl = path.join(work, `ctl${attempt}`);
    writeControlShare(ctl, command);
    const r = await boot(qemu, qemuArgs(kernelDir, initrd, ctl, disk, khz), ctl, deadline);
    const timing = `${r.totalS.toFixed(1)} s${r.bootS === undefined ? '' : `, /init after ${r.bootS.toFixed(1)} s`}`;
    if (!r.failure) {
      say(`exit status ${r.status} (${timing})`);
      return r.status;
    }
    say(`${r.failure.why} (${timing})`);
    if (!r.failure.hung || attempt >= BOOT_RETRIES || Date.now() > deadline) return VM_FAILED;
    say('booting again');
  }
}

// Interrupted: stop the VM and wait (briefly) until it is gone, so nothing outlives the runner.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    const finish = () => {
      cleanup();
      say(`stopped by ${sig}`);
      process.exit(128 + os.constants.signals[sig]);
    };
    if (!current) return finish();
    current.on('close', finish);
    current.kill('SIGKILL');
    setTimeout(finish, 5000).unref();
  });
}

main().then(
  (status) => {
    cleanup();
    process.exit(status);
  },
  (e) => {
    cleanup();
    say(e.message);
    process.exit(VM_FAILED);
  },
);
