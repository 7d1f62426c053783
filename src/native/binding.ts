// Loads the addon and locates nsrun-init. The native surface is declared once here.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Step opcodes; keep in sync with native/plan.h. */
export const OP = {
  AWAIT_GO: 1,
  UNSHARE: 2,
  SETHOSTNAME: 3,
  MOUNT: 4,
  LOOPBACK_UP: 5,
  SETGROUPS: 6,
  SETRESGID: 7,
  SETRESUID: 8,
  CHDIR: 9,
  PDEATHSIG: 10,
  SETSID: 11,
  PTY: 12,
  DUP2: 13,
  STDIO_INHERIT: 14,
  CLOSE_FROM: 15,
  EXEC: 16,
  SETNAME: 17,
  DUMPABLE: 18,
  SETNS_PIDFD: 19,
  SETNS_FD: 20,
  FORK: 21,
  FCHROOT: 22,
  FCHDIR: 23,
  WRITE_FILE: 24,
  PIVOT_ROOT: 25,
  OPEN_TREE: 26,
  MOVE_MOUNT: 27,
  MKDIR: 28,
  MKFILE: 29,
  SYMLINK: 30,
  REMOUNT_RO: 31,
  CHECK_DIR: 32,
  CHECK_CWD: 33,
  REOPEN: 34,
  MOUNT_AT: 35,
  STEP_WAIT: 36,
  CAP_BOUNDING: 40,
  CAPSET: 41,
  NO_NEW_PRIVS: 42,
  SECCOMP: 43,
  SETRLIMIT: 50,
} as const;

export interface WireStep {
  op: number;
  n1?: number;
  n2?: number;
  s1?: string;
  s2?: string;
  s3?: string;
  s4?: string;
  ids?: number[] | Uint32Array;
  /** mount steps: skip a missing path instead of failing */
  optional?: number;
}

export interface WirePlan {
  cloneFlags: number;
  steps: WireStep[];
  argv: string[];
  envp: string[];
}

/** A failure as the native side reports it: positive errno, the call, and the plan step index. */
export interface NativeFailure {
  errno: number;
  syscall: string;
  step?: number;
}

export interface ExitInfo {
  exitCode: number | null;
  signal: number | null;
  errno?: number;
}

export interface MappedFile<T> {
  data: T;
  size: number;
  /** as fs.Stats.mtimeMs */
  mtimeMs: number;
  ino: number;
  /** the first line, newline included (with `header`) */
  header?: string;
}

export interface NativeBinding {
  spawn(plan: WirePlan): { id: number; pid: number; pidfd: number } | NativeFailure;
  /** forkedPid: the pid the plan's fork step created (join plans). */
  /** go: false/0 aborts, true/1 goes, 2 goes and keeps the pipe for stepGo (--step). */
  proceed(id: number, go: boolean | 0 | 1 | 2, cb: (failure: NativeFailure | null, forkedPid?: number) => void): void;
  stepGo(id: number, last: boolean): number;
  watchExit(pidfd: number, cb: (exit: ExitInfo) => void): void;
  pidfdSendSignal(pidfd: number, sig: number): number;
  pidfdOpen(pid: number): number;
  close(fd: number): number;
  /** The name of a user (getpwuid_r), undefined if it has none. */
  userName(uid: number): string | undefined;
  /** [low, high] 32 bits of the effective capability set (capget), or -errno. */
  capEff(): [number, number] | number;
  /**
   * Read a pipe as data arrives; null at EOF or on an error (then close the fd). A callback
   * returning true stops the reading, the fd left open and blocking; byteAtATime: nothing past
   * that byte was read. 0 | -errno (libuv).
   */
  readFd(fd: number, cb: (chunk: Buffer | null) => boolean | void, byteAtATime?: boolean): number;
  pipe(): [number, number] | number;
  socketpair(): [number, number] | number;
  recvFd(sock: number): number;
  setWinsize(fd: number, rows: number, cols: number): number;
  isatty(fd: number): boolean;
  nsType(fd: number): number;
  /** One write(2) of all of `text` to an existing file: 0 | -errno (EIO: a short write). */
  writeFile(path: string, text: string): number;
  sealedCopy(fd: number, name: string): number;
  /**
   * A regular file mapped read-only, as a latin1 string or a Buffer (no copy), with what
   * identifies it; or -errno. `header`: its first line apart, `data` what follows.
   */
  mapFile(path: string, asString: true, header?: boolean): MappedFile<string> | number;
  mapFile(path: string, asString: false, header?: boolean): MappedFile<Buffer> | number;
  /** uname(2)'s release of the running kernel (uname -r). */
  readonly kernelRelease: string;
  /** The signals nsrun-supervise forwards or relays (native/protocol.h), name -> number. */
  readonly supervisedSignals: Readonly<Record<string, number>>;
  /**
   * Hold these signals (blocked in every thread: pending for the process) and call cb from the
   * event loop with each that arrives, until holdSignals or releaseSignals. 0 | -errno.
   */
  watchSignals(signals: number[], cb: (signo: number) => void): number;
  /** The handoff: stop watching; the supervisor's signals stay pending through the exec. */
  holdSignals(): void;
  /**
   * Ask Node's other threads to block the held signals too (until then a signal one of them gets
   * is re-sent to the main thread). They answer asynchronously; holdSignals waits for them, and
   * asks them itself if this was not called.
   */
  holdInOtherThreads(): void;
  /** Stop watching and give the held signals back to Node's handlers. */
  releaseSignals(): void;
  /** Replace this process by nsrun-supervise; returns -errno only if the exec failed. */
  execSupervisor(file: string, argv: string[], envp: string[], keepFds: number[], options: Buffer): number;
}

/** The package root: the nearest directory above this file holding binding.gyp (this file may be
 *  dist/native/binding.js or, bundled, dist/nsrun.js). */
function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'binding.gyp'))) {
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '..', '..');
    dir = up;
  }
  return dir;
}

const root = packageRoot();
const buildDirs = ['build/Release', 'build/Debug'].map((d) => path.join(root, d));

let cached: NativeBinding | undefined;

export function native(): NativeBinding {
  if (cached) return cached;
  const tried: string[] = [];
  for (const dir of buildDirs) {
    const file = path.join(dir, 'nsrun.node');
    tried.push(file);
    if (fs.existsSync(file)) {
      // process.dlopen, not require: the module loader's resolution (stat, realpath, package
      // scope) took longer than loading the addon itself (~1 ms of a CLI start)
      const mod = { exports: {} as NativeBinding };
      process.dlopen(mod, file);
      cached = mod.exports;
      return cached;
    }
  }
  throw new Error(`nsrun's native addon is not built (run npm install); looked in: ${tried.join(', ')}`);
}

/**
 * The addon as bin/nsrun.cjs already loaded it (it maps the CLI bundle with it, before the bundle
 * runs), so that native() does not load it a second time. Loaded from the same directories.
 */
export function adoptNative(binding: NativeBinding): void {
  cached ??= binding;
}

let sealedInit: number | undefined;

/**
 * nsrun-init as a sealed in-memory copy, made once per process: the sandbox execs it by fd, and
 * nothing inside can write through /proc/PID/exe to the file on the host (CVE-2019-5736).
 */
export function initFd(): number {
  if (sealedInit !== undefined) return sealedInit;
  const src = fs.openSync(initPath(), 'r');
  try {
    const fd = native().sealedCopy(src, 'nsrun-init');
    if (fd < 0) throw new Error(`cannot make a sealed copy of nsrun-init: errno ${-fd}`);
    sealedInit = fd;
    return fd;
  } finally {
    fs.closeSync(src);
  }
}

/** nsrun-supervise, if it was built (the CLI then hands running sandboxes to it). */
export function supervisorPath(): string | undefined {
  return buildDirs.map((d) => path.join(d, 'nsrun-supervise')).find((f) => fs.existsSync(f));
}

/** A file of the package (dist/..., bin/...). */
export function packageFile(rel: string): string {
  return path.join(root, rel);
}

export function initPath(): string {
  for (const dir of buildDirs) {
    const file = path.join(dir, 'nsrun-init');
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`nsrun-init is not built (run npm install); looked in: ${buildDirs.join(', ')}`);
}
