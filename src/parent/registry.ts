// Named sandboxes: one JSON file per name in a host-only state directory (root: /run/nsrun,
// others: $XDG_RUNTIME_DIR/nsrun; mode 0700, owned by the caller). Entries are created
// atomically and exclusively (write a temp file, then link(2) it to the name: EEXIST if the name
// is taken), removed at exit, and an entry whose pid is dead or reused (start time differs) is
// stale: collected, never used. Identity comes only from this directory and a pidfd, never from
// anything inside a sandbox.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsrunError, usageError } from '../errors';
import { faultPoint } from './fault';
import type { SecurityOptions } from '../plan/security';

export interface RegistryEntry {
  name: string;
  pid: number;
  /** Field 22 of /proc/PID/stat: tells a pid apart from a later process that reuses it. */
  startTime: string;
  namespaces: Record<string, string>;
  command: string[];
  cgroup: string;
  createdAt: string;
  uid: number;
  /** --cap-add, --seccomp ... as given to run (a profile file as its JSON): nsrun exec applies them too. */
  security?: SecurityOptions;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** `object`: what the error names (--name when creating, target when looking one up). */
export function checkName(name: string, object = '--name'): void {
  if (!NAME_RE.test(name))
    throw usageError(object, `'${name}' is not a valid name (letters, digits, '_', '.', '-'; up to 63; starting with a letter or digit)`);
}

export function stateDir(): string {
  if (process.geteuid!() === 0) return '/run/nsrun';
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (!xdg || !path.isAbsolute(xdg))
    throw usageError('--name', 'XDG_RUNTIME_DIR is not set: named sandboxes need a private runtime directory', 'log in through a session manager (systemd --user), or set XDG_RUNTIME_DIR to a directory only you can write');
  return path.join(xdg, 'nsrun');
}

/** The state directory, created 0700 if missing, refused unless it is ours and private. */
function openStateDir(create: boolean): string | undefined {
  // Reading without a runtime directory: nothing can have been registered (ps lists nothing).
  if (!create && process.geteuid!() !== 0 && !path.isAbsolute(process.env.XDG_RUNTIME_DIR ?? '')) return undefined;
  const dir = stateDir();
  if (create) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new NsrunError({ step: 'registry', object: dir, reason: (e as Error).message, code: (e as NodeJS.ErrnoException).code ?? 'EIO', side: 'parent' });
    }
  }
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch {
    return undefined;
  }
  const euid = process.geteuid!();
  if (!st.isDirectory() || st.uid !== euid || (st.mode & 0o077) !== 0)
    throw new NsrunError({ step: 'registry', object: dir, reason: `must be a directory owned by uid ${euid} with mode 0700 (refusing to trust it)`, code: 'EPERM', side: 'parent' });
  return dir;
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields start after the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // a zombie is dead, whether or not its new parent has reaped it yet
    if (f[0] === 'Z' || f[0] === 'X') return undefined;
    return f[19];
  } catch {
    return undefined;
  }
}

export function isLive(e: Pick<RegistryEntry, 'pid' | 'startTime'>): boolean {
  return processStartTime(e.pid) === e.startTime;
}

function readEntry(file: string): RegistryEntry | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid!()) return undefined; // not written by us
    const e = JSON.parse(fs.readFileSync(fd, 'utf8')) as RegistryEntry;
    if (typeof e.pid !== 'number' || typeof e.startTime !== 'string' || typeof e.name !== 'string') return undefined;
    return e;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** A live entry by name; a stale one is removed and reported as missing. */
export function lookup(name: string, object = '--name'): RegistryEntry | undefined {
  checkName(name, object);
  const dir = openStateDir(false);
  if (!dir) return undefined;
  const file = path.join(dir, `${name}.json`);
  const e = readEntry(file);
  if (!e) return undefined;
  if (!isLive(e)) {
    fs.rmSync(file, { force: true });
    return undefined;
  }
  return e;
}

/** Every live entry; stale ones are collected on the way. */
export function list(): RegistryEntry[] {
  const dir = openStateDir(false);
  if (!dir) return [];
  const out: RegistryEntry[] = [];
  for (const f of fs.readdirSync(dir)) {
    collectStaleTemp(dir, f);
    if (!f.endsWith('.json')) continue;
    const file = path.join(dir, f);
    const e = readEntry(file);
    if (!e) continue;
    if (isLive(e)) out.push(e);
    else fs.rmSync(file, { force: true });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** A `.NAME.PID.TIME.tmp` left by an nsrun killed between writing and linking its entry. */
function collectStaleTemp(dir: string, f: string): void {
  const m = /^\.(.+)\.(\d+)\.\d+\.tmp$/.exec(f);
  if (m && !fs.existsSync(`/proc/${m[2]}`)) fs.rmSync(path.join(dir, f), { force: true });
}

/** Fails before anything is created if the name is taken by a live sandbox. */
export function checkAvailable(name: string): void {
  checkName(name);
  openStateDir(true);
  const e = lookup(name);
  if (e) throw usageError('--name', `a sandbox named '${name}' is already running (pid ${e.pid})`, `pick another name, or nsrun kill ${name}`);
}

/** Registers an entry; the returned function removes it (only if it is still ours). */
/** A registry entry this process wrote: `id` (dev:ino) tells it from a later one of the same name. */
export interface Registration {
  file: string;
  id: string;
  unregister(): void;
}

export function register(entry: RegistryEntry): Registration {
  const dir = openStateDir(true)!;
  const file = path.join(dir, `${entry.name}.json`);
  const tmp = path.join(dir, `.${entry.name}.${process.pid}.${Date.now()}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(entry, null, 2), { mode: 0o600, flag: 'wx' });
  try {
    faultPoint('registry-link');
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
        const other = lookup(entry.name); // removes it if stale
        if (other) throw usageError('--name', `a sandbox named '${entry.name}' is already running (pid ${other.pid})`);
      }
    }
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.rmSync(tmp, { force: true });
  const st = fs.lstatSync(file, { bigint: true });
  return {
    file,
    id: `${st.dev}:${st.ino}`,
    unregister: () => {
      const current = readEntry(file);
      if (current && current.pid === entry.pid && current.startTime === entry.startTime) fs.rmSync(file, { force: true });
    },
  };
}
