// Facts about the host and the caller that planning depends on, gathered once (parent side).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { NAMESPACE_TYPES, type NamespaceType } from '../linux';
import { native } from '../native/binding';
import { type CapName, capsFromHex } from '../security/capabilities';

export interface SubIdRange {
  start: number;
  count: number;
}

export interface HostFacts {
  euid: number;
  egid: number;
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
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? capsFromHex(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function gatherHostFacts(): HostFacts {
  const euid = process.geteuid!();
  const egid = process.getegid!();
  let userName: string | undefined;
  try {
    userName = os.userInfo().username;
  } catch {
    userName = undefined;
  }
  const supported = NAMESPACE_TYPES.filter((t) => fs.existsSync(`/proc/self/ns/${t}`));
  // Subordinate ids and the setuid helpers matter only to an unprivileged caller.
  const rootless = euid !== 0;
  return {
    euid,
    egid,
    userName,
    supported,
    subuid: rootless ? readSubIds('/etc/subuid', userName, euid) : [],
    subgid: rootless ? readSubIds('/etc/subgid', userName, egid) : [],
    newuidmap: rootless ? which('newuidmap') : undefined,
    newgidmap: rootless ? which('newgidmap') : undefined,
    stdinTty: native().isatty(0),
    stdoutTty: native().isatty(1),
    stderrTty: native().isatty(2),
    capEff: readCapEff(),
  };
}
