// The library's sandbox: spawn a plan through the addon, finish the parent's side of the
// handshake (id maps), and supervise it (exit via pidfd, signals via pidfd, nsrun-init's control
// records). The CLI is a thin layer over this.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type * as tty from 'node:tty';
import type { OomInfo } from './cgroup/driver';
import { claimLeftoverSweep, collectLeftovers, prepareCgroup, SandboxCgroup } from './cgroup/sandbox-cgroup';
import { NsrunError, systemError, type NsrunErrorFields } from './errors';
import { SIGCONT, signalName, signalNumbers } from './linux';
import { initFd as sealedInitFd, native, type ExitInfo, type NativeFailure } from './native/binding';
import type { SandboxOptions } from './options';
import { gatherHostFacts, type HostFacts } from './parent/host';
import { activeFault, faultPoint, faultStepper, withFaultPauses } from './parent/fault';
import { checkPreservedFds } from './parent/fds';
import { probeRootfs } from './parent/rootfs';
import { writeIdMapsFromParent } from './parent/idmap';
import { prepareJoin, type ExecOptions } from './parent/join';
import * as registry from './parent/registry';
import { readNamespaces } from './parent/target';
import { buildPlan } from './plan/build';
import { compilePlan, type StepMeta } from './plan/compile';
import { describeStep, lookAt } from './plan/explain';
import type { Plan } from './plan/types';

// node:net and node:tty are loaded when a sandbox has pipes or a terminal: a plain `nsrun run`
// inherits its stdio and never needs them (loading them is a few ms of every start).
function socket(options: net.SocketConstructorOpts): net.Socket {
  return new (require('node:net') as typeof net).Socket(options);
}

export interface ExitResult {
  /** The command's exit status, or null when it was killed by a signal. */
  exitCode: number | null;
  /** The signal that killed the command, or null. */
  signal: NodeJS.Signals | null;
  /** Set when the memory limit's OOM killer killed processes in the sandbox. */
  oom?: OomInfo;
}

export function signalNumber(sig: NodeJS.Signals | number): number {
  if (typeof sig === 'number') return sig;
  const n = signalNumbers()[sig];
  if (n === undefined) throw new NsrunError({ step: 'kill', object: String(sig), reason: 'unknown signal', code: 'ERR_NSRUN_USAGE', side: 'options' });
  return n;
}

/** The status a shell would report: the exit code, or 128 + the signal number. */
export function shellStatus(r: ExitResult): number {
  if (r.exitCode !== null) return r.exitCode;
  return 128 + (r.signal ? signalNumber(r.signal) : 0);
}

function decodeWaitStatus(st: number): ExitResult {
  const sig = st & 0x7f;
  if (sig === 0) return { exitCode: (st >> 8) & 0xff, signal: null };
  return { exitCode: null, signal: signalName(sig) ?? null };
}

export interface SpawnExtras {
  /** Terminal size for a 'pty' sandbox. */
  winsize?: { rows: number; cols: number };
  facts?: HostFacts;
  /** @internal fds the plan's steps use (join): closed in the parent once the child has them. */
  planFds?: number[];
  /** --step: called before each setup step; the child waits until the promise resolves. */
  stepper?: Stepper;
  /**
   * @internal The CLI hands the running sandbox to nsrun-supervise (Sandbox.detach): Node keeps
   * no streams on its fds and reads nsrun-init's control pipe only up to "running".
   */
  handoff?: boolean;
  /**
   * @internal Work that does not have to come before the command starts: run once the child has
   * been told to go, while it sets itself up (on another CPU) and Node waits for it anyway.
   */
  whileStarting?: () => void;
}

/** @internal What nsrun-supervise takes over from a handoff sandbox. */
export interface Detached {
  pid: number;
  /** The first process's pidfd while Node has not reaped it ... */
  pidfd?: number;
  /** ... else its wait status. */
  waitStatus?: number;
  control?: number;
  master?: number;
  relay?: [number, number, number];
  cgroup?: SandboxCgroup;
  registration?: registry.Registration;
}

export interface StepInfo {
  /** 1-based position and the number of pauses. */
  index: number;
  total: number;
  /** Stable step name ('clone', 'id-map', 'make-private', 'mount-proc', ...). */
  name: string;
  /** What the step does, as --explain says it. */
  text: string;
  /** The child's PID on the host, to look at in /proc. */
  pid: number;
  /** Commands to run from another terminal to see the effect. */
  look: string[];
}

export interface Stepper {
  /** Resolve to run the step; reject to abort the sandbox. */
  pause(info: StepInfo): Promise<void>;
}

export class Sandbox extends EventEmitter {
  /** The name it was registered under (options.name), if any. */
  readonly name?: string;
  /** The sandbox's first process as seen from the host (nsrun-init, or the command with asPid1). */
  readonly pid: number;
  readonly plan: Plan;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** The pty master (stdio 'pty'): read the sandbox's terminal output, write its input. */
  readonly terminal: tty.ReadStream | null;
  /** Settles when the sandbox has exited and was reaped. */
  readonly exited: Promise<ExitResult>;
  /** @internal resolves when nsrun-init reports the command running; rejects on exec failure. */
  readonly started: Promise<void>;

  private pidfd: number;
  private masterFd = -1;
  private alive = true;
  private finalStatus: number | undefined;
  private exitInfo: ExitInfo | undefined;
  /** Handoff mode: the fds kept raw for nsrun-supervise. */
  private kept: { control?: number; relay?: [number, number, number]; cgroup?: SandboxCgroup } | undefined;
  /** @internal set by startPlan for a named sandbox */
  registration?: registry.Registration;

  /** @internal use spawn() */
  constructor(p: {
    pid: number;
    pidfd: number;
    plan: Plan;
    exit: Promise<ExitInfo>;
    control?: number;
    master?: number;
    pipes?: [number, number, number];
    /** 'inherit' with terminals: our ends of the pipes standing in for them (-1: not relayed). */
    relay?: [number, number, number];
    cgroup?: SandboxCgroup;
    handoff?: boolean;
  }) {
    super();
    if (p.handoff) this.kept = { control: p.control, relay: p.relay, cgroup: p.cgroup };
    this.pid = p.pid;
    this.pidfd = p.pidfd;
    this.plan = p.plan;
    const n = native();
    if (p.pipes) {
      this.stdin = socket({ fd: p.pipes[0], readable: false, writable: true });
      this.stdout = socket({ fd: p.pipes[1], readable: true, writable: false });
      this.stderr = socket({ fd: p.pipes[2], readable: true, writable: false });
      // A command that closes its stdin early must not crash the caller with EPIPE.
      this.stdin.on('error', () => {});
    } else {
      this.stdin = this.stdout = this.stderr = null;
    }
    let terminalDone: Promise<void> = Promise.resolve();
    let t: tty.ReadStream | null = null;
    if (p.master !== undefined) this.masterFd = p.master;
    if (p.master !== undefined && !p.handoff) {
      t = new (require('node:tty') as typeof tty).ReadStream(p.master);
      this.terminal = t;
      const term = t;
      terminalDone = new Promise((resolve) => {
        // The slave side closing shows up as EIO on the master: that is the end of output.
        term.on('error', () => resolve());
        term.on('close', () => resolve());
        term.on('end', () => resolve());
      });
    } else {
      this.terminal = null;
    }

    const relayDone = p.relay && !p.handoff ? this.relayTerminals(p.relay) : { output: Promise.resolve(), stop: () => {} };

    let ready!: () => void;
    let failed!: (e: Error) => void;
    this.started = new Promise<void>((res, rej) => {
      ready = res;
      failed = rej;
    });
    this.started.catch(() => {});
    let controlDone: Promise<void> = Promise.resolve();
    if (p.control !== undefined) {
      ({ controlDone } = this.readControl(p.control, !!p.handoff, ready, failed));
    } else {
      ready();
    }

    const exit = p.exit.then((info) => {
      this.alive = false;
      this.exitInfo = info;
      n.close(this.pidfd);
      return info;
    });
    this.exited = (async () => {
      const info = await exit;
      await controlDone;
      await withTimeout(relayDone.output, 300);
      relayDone.stop();
      if (t) {
        // Drain what the sandbox wrote before exiting, but never wait on an orphan holding the pty.
        await withTimeout(terminalDone, 300);
        t.destroy();
      }
      const r: ExitResult =
        this.finalStatus !== undefined
          ? decodeWaitStatus(this.finalStatus)
          : { exitCode: info.exitCode, signal: info.signal === null ? null : signalName(info.signal) ?? null };
      if (p.cgroup && !p.handoff) {
        // (a handoff sandbox's cgroup goes with nsrun-supervise, or with spawnPlan on failure)
        const oom = p.cgroup.oom();
        if (oom && oom.kills > 0) r.oom = oom;
        await p.cgroup.remove();
      }
      return r;
    })();
  }

  /** Stand between the sandbox and the caller's terminal on the relayed fds. */
  private relayTerminals(fds: [number, number, number]) {
    const outputs: Promise<void>[] = [];
    let input: net.Socket | undefined;
    if (fds[0] >= 0) {
      input = socket({ fd: fds[0], readable: false, writable: true });
      input.on('error', () => {});
      process.stdin.pipe(input);
    }
    for (const [i, target] of [[1, process.stdout], [2, process.stderr]] as const) {
      if (fds[i] < 0) continue;
      const out = socket({ fd: fds[i], readable: true, writable: false });
      out.pipe(target, { end: false });
      outputs.push(new Promise((resolve) => out.on('close', () => resolve())));
      this.once('relay-stop', () => out.destroy());
    }
    return {
      output: Promise.all(outputs).then(() => {}),
      stop: () => {
        if (input) {
          process.stdin.unpipe(input);
          process.stdin.pause();
          input.destroy();
        }
        this.emit('relay-stop');
      },
    };
  }

  /**
   * Reads nsrun-init's control pipe. Natively (a poll on the pipe, read(2) when it is readable): a
   * net.Socket per sandbox cost more main-thread time than the rest of reading its few bytes
   * together, and fs.read starts libuv's thread pool (4 threads, ~1.5 ms of a CLI start).
   * Handoff mode: read byte by byte exactly up to 'R' and leave the pipe there, open: the records
   * after it are nsrun-supervise's. On failure the pipe is read to the end and closed.
   */
  private readControl(fd: number, handoff: boolean, ready: () => void, failed: (e: Error) => void) {
    let buf: Buffer = Buffer.alloc(0);
    let started = false;
    let done!: () => void;
    const controlDone = new Promise<void>((resolve) => (done = resolve));
    const onChunk = (chunk: Buffer | null): boolean | void => {
      if (chunk === null) {
        native().close(fd);
        if (!started) failed(initGone());
        done();
        return;
      }
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length > 0) {
        const kind = String.fromCharCode(buf[0]);
        const need = kind === 'E' || kind === 'X' ? 5 : 1;
        if (buf.length < need) break;
        const value = need === 5 ? buf.readInt32LE(1) : 0;
        buf = buf.subarray(need);
        if (kind === 'R') {
          started = true;
          ready();
          if (handoff) {
            done();
            return true;
          }
        } else if (kind === 'E') {
          started = true;
          failed(this.execFailed(value));
        } else if (kind === 'S') {
          // Deferred: a command may stop before the caller of spawn() had a chance to listen.
          setImmediate(() => this.emit('stop'));
        } else if (kind === 'X') {
          this.finalStatus = value;
        }
      }
    };
    const rc = native().readFd(fd, onChunk, handoff);
    if (rc < 0) onChunk(null);
    return { controlDone };
  }

  private execFailed(errno: number): NsrunError {
    return systemError({ step: 'exec', object: this.plan.command[0], syscall: 'execve', errno, side: 'init', context: { rootless: this.plan.caller.rootless } });
  }

  /** @internal Handoff mode: the state nsrun-supervise takes over. Node must not use the Sandbox after. */
  detach(): Detached {
    if (!this.kept) throw new Error('detach: not a handoff sandbox');
    const info = this.exitInfo;
    const waitStatus = !info ? undefined : info.signal !== null ? info.signal : (info.exitCode ?? 125) << 8;
    return {
      pid: this.pid,
      pidfd: this.alive ? this.pidfd : undefined,
      waitStatus,
      control: this.kept.control,
      master: this.masterFd >= 0 ? this.masterFd : undefined,
      relay: this.kept.relay,
      cgroup: this.kept.cgroup,
      registration: this.registration,
    };
  }

  /** Send a signal to the sandbox (nsrun-init forwards it to the command). */
  kill(sig: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (!this.alive) return false;
    return native().pidfdSendSignal(this.pidfd, signalNumber(sig)) === 0;
  }

  /** Continue a command stopped for job control (after a 'stop' event). */
  resume(): boolean {
    return this.kill(SIGCONT);
  }

  /** Resize the sandbox's terminal (stdio 'pty'). */
  resize(rows: number, cols: number): void {
    if (this.masterFd >= 0) native().setWinsize(this.masterFd, rows, cols);
  }
}

function initGone(): NsrunError {
  return new NsrunError({ step: 'init', object: 'nsrun-init', reason: 'exited before starting the command', code: 'ERR_NSRUN_INIT', side: 'init' });
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
}

function fdPair(r: [number, number] | number, what: string): [number, number] {
  if (typeof r === 'number') throw systemError({ step: 'setup', object: what, syscall: what, errno: -r, side: 'parent' });
  return r;
}

function childFailure(f: NativeFailure, meta: StepMeta[], plan: Plan): NsrunError {
  const m = meta[f.step ?? -1] ?? { step: 'setup' };
  return systemError({
    step: m.step,
    object: m.object,
    syscall: f.syscall,
    errno: f.errno,
    side: 'child',
    context: { rootless: plan.caller.rootless, namespaces: plan.namespaces, memory: plan.cgroup?.limits.memory },
  });
}

/** Start a sandbox from a checked plan. */
export async function spawnPlan(plan: Plan, facts: HostFacts, extras: SpawnExtras = {}): Promise<Sandbox> {
  // cgroups a SIGKILLed nsrun left behind are collected by the next run (a library process:
  // on its first spawn, then every 10 s; with a cgroup of its own, every time, before the clone).
  // Without a cgroup of its own the sweep waits for nothing: it runs while the child starts.
  if (!plan.cgroup) {
    if (plan.mode !== 'create' || !claimLeftoverSweep()) return spawnWith(plan, facts, extras);
    const then = extras.whileStarting;
    const whileStarting = () => {
      void collectLeftovers().catch(() => 0);
      then?.();
    };
    return spawnWith(plan, facts, { ...extras, whileStarting });
  }
  // the cgroup exists, limits written, before the clone; it goes again on every failure path
  const cg = SandboxCgroup.create(await prepareCgroup(plan.cgroup, plan.caller.rootless), plan.caller.rootless);
  try {
    return await spawnWith(plan, facts, extras, cg);
  } catch (e) {
    await cg.remove();
    throw e;
  }
}

async function spawnWith(plan: Plan, facts: HostFacts, extras: SpawnExtras, cg?: SandboxCgroup): Promise<Sandbox> {
  const n = native();
  if (activeFault()) {
    // tests only (never in the bundled CLI): pause at every step so nsrun can die at any of them
    plan = withFaultPauses(plan);
    extras = { ...extras, stepper: faultStepper(extras.stepper) };
  }
  const preserve = plan.steps.find((s) => s.kind === 'preserve-fds');
  if (preserve?.kind === 'preserve-fds') checkPreservedFds(preserve.count);
  const parentFds: number[] = [];
  const childFds: number[] = [...(extras.planFds ?? [])];
  const closeAll = (fds: number[]) => fds.splice(0).forEach((fd) => n.close(fd));
  let control: [number, number] | undefined;
  let ptySock: [number, number] | undefined;
  let pipes: [number, number][] | undefined;
  let initFd = -1;
  let rootfsFd: number | undefined;
  try {
    if (plan.rootfs?.overlay) {
      // the overlay's lower layer, reached through /proc/self/fd once a tmpfs covers its path
      rootfsFd = fs.openSync(plan.rootfs.root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      childFds.push(rootfsFd);
    }
    if (plan.init) {
      initFd = sealedInitFd();
      control = fdPair(n.pipe(), 'pipe');
      parentFds.push(control[0]);
      childFds.push(control[1]);
    }
    if (plan.stdio === 'pty') {
      ptySock = fdPair(n.socketpair(), 'socketpair');
      parentFds.push(ptySock[0]);
      childFds.push(ptySock[1]);
    } else if (plan.stdio === 'pipe' || plan.relay.some(Boolean)) {
      pipes = [0, 1, 2].map((i) => (plan.stdio === 'pipe' || plan.relay[i] ? fdPair(n.pipe(), 'pipe') : [-1, -1])) as [number, number][];
      // [read, write]: the child reads its stdin and writes its stdout/stderr
      for (const [i, [r, w]] of pipes.entries()) {
        if (r < 0) continue;
        parentFds.push(i === 0 ? w : r);
        childFds.push(i === 0 ? r : w);
      }
    }
  } catch (e) {
    closeAll(parentFds);
    closeAll(childFds);
    throw e;
  }

  const compile = compilePlan(plan, {
    initFd,
    controlFd: control?.[1],
    ptySocket: ptySock?.[1],
    stdio: pipes ? [pipes[0][0], pipes[1][1], pipes[2][1]] : undefined,
    winsize: extras.winsize,
    rootfsFd,
  });
  const { wire, meta } = compile;
  const h = n.spawn(wire);
  // The child has its own copy of the fd table: the parent's copies of its ends go now.
  closeAll(childFds);
  if ('errno' in h) {
    closeAll(parentFds);
    throw systemError({
      step: 'clone',
      object: plan.namespaces.length ? `${plan.namespaces.join(',')} namespaces` : 'process',
      syscall: 'clone',
      errno: h.errno,
      side: 'parent',
      context: { rootless: plan.caller.rootless, namespaces: plan.namespaces },
    });
  }
  const watch = (pidfd: number) => new Promise<ExitInfo>((resolve) => n.watchExit(pidfd, resolve));
  let exit = watch(h.pidfd);
  let pid = h.pid;
  let pidfd = h.pidfd;
  const proceed = (go: boolean) =>
    new Promise<[NativeFailure | null, number | undefined]>((resolve) => n.proceed(h.id, go, (f, forked) => resolve([f, forked])));
  const abort = async (err: unknown): Promise<never> => {
    n.pidfdSendSignal(pidfd, 9);
    await exit;
    n.close(pidfd);
    closeAll(parentFds);
    throw err;
  };

  const stepper = plan.step ? extras.stepper : undefined;
  const total = (plan.step ? compile.pauses.length : 0) + (plan.idMaps ? 2 : 1);
  let at = 0;
  let proceeding: Promise<[NativeFailure | null, number | undefined]> | undefined;
  // --step: wait for the stepper; if it stops, let the child go (it exits on the closed pipe),
  // wait for it, and fail with the stepper's reason.
  let stopped: Promise<never> | undefined;
  const pause = async (name: string, text: string, look: string[]): Promise<void> => {
    if (!stepper) return;
    try {
      await stepper.pause({ index: ++at, total, name, text, pid: h.pid, look });
    } catch (e) {
      stopped = (async () => {
        if (proceeding) {
          n.stepGo(h.id, true);
          await proceeding;
        } else {
          await proceed(false);
        }
        return abort(e);
      })();
      return stopped;
    }
  };
  // (the time namespace, and with a cgroup or --net the cgroup and network ones, come later: unshare-*)
  const late = plan.steps.flatMap((s) => (s.kind.startsWith('unshare-') ? [s.kind.slice('unshare-'.length)] : []));
  const cloned = plan.namespaces.filter((ns) => !late.includes(ns));
  await pause('clone', `the child exists in its new namespaces (${cloned.join(', ') || 'none'}) and waits`, lookAt('clone', h.pid));
  if (plan.idMaps) {
    try {
      await writeIdMapsFromParent(h.pid, plan.idMaps, facts, plan.caller.rootless);
    } catch (e) {
      await proceed(false);
      return abort(e);
    }
    await pause('id-map', 'uid_map and gid_map are written', lookAt('id-map', h.pid));
  }
  if (cg) {
    // before "go": nothing the command runs is ever outside its limits
    try {
      cg.attach(h.pid, plan.caller.rootless);
    } catch (e) {
      await proceed(false);
      return abort(e);
    }
  }
  if (stepper) {
    proceeding = new Promise((resolve) => n.proceed(h.id, 2, (f, forked) => resolve([f, forked])));
    let finished = false;
    void proceeding.then(() => (finished = true));
    for (const st of compile.pauses) {
      if (finished) break; // the child failed at an earlier step
      await Promise.race([pause('name' in st ? st.name : st.kind, describeStep(st, plan) ?? st.kind, lookAt(st, h.pid)), proceeding]).catch(() => {});
      if (stopped) return stopped;
      if (!finished) n.stepGo(h.id, false);
    }
    if (!finished) n.stepGo(h.id, true);
  } else {
    proceeding = proceed(true);
  }
  extras.whileStarting?.();
  const result = proceeding;
  const [failure, forked] = await result;
  if (plan.mode === 'join') {
    // The first child entered the namespaces, forked the process that runs the command (our own
    // child, through CLONE_PARENT) and exited: reap it and follow the new one.
    await exit;
    n.close(h.pidfd);
    if (forked === undefined) {
      closeAll(parentFds);
      throw failure ? childFailure(failure, meta, plan) : systemError({ step: 'fork', syscall: 'clone', errno: 71, side: 'child' });
    }
    pid = forked;
    pidfd = n.pidfdOpen(forked);
    if (pidfd < 0) {
      closeAll(parentFds);
      throw systemError({ step: 'fork', object: String(forked), syscall: 'pidfd_open', errno: -pidfd, side: 'parent' });
    }
    exit = watch(pidfd);
  }
  if (failure) return abort(childFailure(failure, meta, plan));

  let master: number | undefined;
  if (ptySock) {
    const fd = n.recvFd(ptySock[0]);
    n.close(ptySock[0]);
    parentFds.splice(parentFds.indexOf(ptySock[0]), 1);
    if (fd < 0) return abort(systemError({ step: 'pty', object: 'pty master', syscall: 'recvmsg', errno: -fd, side: 'parent' }));
    master = fd;
  }
  const sandbox = new Sandbox({
    pid,
    pidfd,
    plan,
    exit,
    control: control?.[0],
    master,
    pipes: pipes && plan.stdio === 'pipe' ? [pipes[0][1], pipes[1][0], pipes[2][0]] : undefined,
    relay: pipes && plan.stdio === 'inherit' ? [pipes[0][1], pipes[1][0], pipes[2][0]] : undefined,
    cgroup: cg,
    handoff: extras.handoff,
  });
  try {
    await sandbox.started;
  } catch (e) {
    await sandbox.exited;
    for (const stream of [sandbox.stdin, sandbox.stdout, sandbox.stderr]) stream?.destroy();
    throw e;
  }
  faultPoint('started');
  return sandbox;
}

/** Create a sandbox and start the command in it. Resolves once the command is running. */
export async function spawn(options: SandboxOptions, extras: SpawnExtras = {}): Promise<Sandbox> {
  const facts = extras.facts ?? gatherHostFacts();
  const probe = probeRootfs(options);
  return startPlan(buildPlan(options, facts, probe), facts, options.name, extras);
}

/** Start a built plan, registered under `name` when one is given. */
export async function startPlan(plan: Plan, facts: HostFacts, name: string | undefined, extras: SpawnExtras = {}): Promise<Sandbox> {
  if (name === undefined) return spawnPlan(plan, facts, extras);
  registry.checkAvailable(name);
  const sb = await spawnPlan(plan, facts, extras);
  let registration: registry.Registration;
  try {
    registration = registry.register({
      name,
      pid: sb.pid,
      startTime: registry.processStartTime(sb.pid) ?? '',
      namespaces: readNamespaces(sb.pid),
      command: plan.command,
      cgroup: readCgroup(sb.pid),
      createdAt: new Date().toISOString(),
      uid: facts.euid,
      security: plan.security?.options,
    });
  } catch (e) {
    sb.kill('SIGKILL');
    await sb.exited;
    throw e;
  }
  faultPoint('registry');
  sb.registration = registration;
  sb.exited.finally(() => registration.unregister());
  Object.defineProperty(sb, 'name', { value: name, enumerable: true });
  return sb;
}

function readCgroup(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Enter a running sandbox's namespaces and run a command there (nsrun exec). */
export async function exec(options: ExecOptions, extras: SpawnExtras = {}): Promise<Sandbox> {
  const facts = extras.facts ?? gatherHostFacts();
  const prepared = prepareJoin(options, facts);
  return spawnPlan(prepared.plan, facts, { ...extras, planFds: prepared.fds });
}

export interface RunOptions extends SandboxOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
}

export interface RunResult extends ExitResult {
  stdout: string;
  stderr: string;
}

function collect(stream: Readable | null): Promise<string> {
  if (!stream) return Promise.resolve('');
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => stream.on('close', () => resolve(Buffer.concat(chunks).toString())));
}

/** Run a command in a sandbox and collect its output. */
export async function run(options: RunOptions): Promise<RunResult> {
  const { input, ...rest } = options;
  const sb = await spawn({ ...rest, stdio: 'pipe' });
  const [stdout, stderr] = [collect(sb.stdout), collect(sb.stderr)];
  sb.stdin!.end(input ?? '');
  const result = await sb.exited;
  return { ...result, stdout: await stdout, stderr: await stderr };
}

export type { NsrunErrorFields };
