// Facts about the host and the caller that planning depends on, gathered once (parent side).
import * as fs from 'node:fs';
import { NAMESPACE_TYPES, type NamespaceType } from '../linux';
import { native } from '../native/binding';
import { type CapName, capsFromHex, capsFromMask } from '../security/capabilities';

export interface SubIdRange {
  start: number;
  count: number;
}

export interface HostFacts {
  euid: number;
  egid: number;
  /** The caller's user name: looked up for an unprivileged caller only. */
  userName?: string;
  /** Namespace types this kernel has (from /proc/self/ns). */
  supported: NamespaceType[];
  subuid: SubIdRange[];
  subgid: SubIdRange[];
  newuidmap?: string;
  newgidmap?: string;
  stdinTty: boolean;
  stdoutTty: boolean;
  stderrTty: boolean;
  /** The caller's effective capabilities (/proc/self/status CapEff); absent: assume root has all. */
  capEff?: CapName[];
}

function which(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    const p = `${dir}/${name}`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Entries of /etc/subuid or /etc/subgid for a user, by name or by numeric id. */
export function parseSubIds(text: string, name: string | undefined, id: number): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (count === undefined || (who !== name && who !== String(id))) continue;
    if (!/^\d+$/.test(start) || !/^\d+$/.test(count)) continue;
    out.push({ start: Number(start), count: Number(count) });
  }
  return out;
}

function readSubIds(file: string, name: string | undefined, id: number): SubIdRange[] {
  try {
    return parseSubIds(fs.readFileSync(file, 'utf8'), name, id);
  } catch {
    return [];
  }
}

function readCapEff(): CapName[] | undefined {
  // capget(2) through the addon: this thread's set, now (a capset elsewhere in the process shows)
  const r = native().capEff();
  if (typeof r !== 'number') return capsFromMask(r[0], r[1]);
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? capsFromHex(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// What cannot change while this process lives, looked up once: the namespace types the kernel
// has, the name of a uid (per euid: a process may switch), where newuidmap/newgidmap are.
// The library builds a plan per spawn; these lookups were most of gatherHostFacts' time.
let supportedCache: NamespaceType[] | undefined;
const userNames = new Map<number, string | undefined>();
const helpers = new Map<string, string | undefined>();

function userNameOf(euid: number): string | undefined {
  if (userNames.has(euid)) return userNames.get(euid);
  const name = native().userName(euid);
  userNames.set(euid, name);
  return name;
}

/** The namespace types this kernel has: the entries of /proc/self/ns (one readdir). */
function namespaceTypes(): NamespaceType[] {
  let have: string[];
  try {
    have = fs.readdirSync('/proc/self/ns');
  } catch {
    return [];
  }
  return NAMESPACE_TYPES.filter((t) => have.includes(t));
}

function helper(name: string): string | undefined {
  if (!helpers.has(name)) helpers.set(name, which(name));
  return helpers.get(name);
}

export function gatherHostFacts(): HostFacts {
  const euid = process.geteuid!();
  const egid = process.getegid!();
  // The user name, subordinate ids and the setuid helpers matter only to an unprivileged caller,
  // and only when a plan maps id ranges (or says it cannot): looked up on first read (the name
  // reads nsswitch.conf and passwd; /etc/subuid was a start's first readFileSync, ~0.6 ms).
  const rootless = euid !== 0;
  const once = <T>(f: () => T): (() => T) => {
    let v: { value: T } | undefined;
    return () => (v ??= { value: f() }).value;
  };
  const userName = once(() => (rootless ? userNameOf(euid) : undefined));
  const subuid = once(() => (rootless ? readSubIds('/etc/subuid', userName(), euid) : []));
  const subgid = once(() => (rootless ? readSubIds('/etc/subgid', userName(), egid) : []));
  supportedCache ??= namespaceTypes();
  const supported = supportedCache;
  const n = native();
  return {
    euid,
    egid,
    get userName() {
      return userName();
    },
    supported: [...supported],
    get subuid() {
      return subuid();
    },
    get subgid() {
      return subgid();
    },
    get newuidmap() {
      return rootless ? helper('newuidmap') : undefined;
    },
    get newgidmap() {
      return rootless ? helper('newgidmap') : undefined;
    },
    stdinTty: n.isatty(0),
    stdoutTty: n.isatty(1),
    stderrTty: n.isatty(2),
    capEff: readCapEff(),
  };
}
