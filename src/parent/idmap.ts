// Writes the sandbox's uid/gid maps from the parent, in the host's /proc, while the child waits
// (never from inside the sandbox's view of /proc).
import type * as childProcess from 'node:child_process';
import { NsrunError, systemError } from '../errors';
import { native } from '../native/binding';
import type { IdRange } from '../options';
import { mapText } from '../plan/explain';
import type { IdMaps } from '../plan/types';

const MAP_WRITE_LIMIT = 4096; // the kernel takes a map in one write of at most a page

function writeProcFile(pid: number, file: string, text: string, rootless: boolean): void {
  const target = `/proc/${pid}/${file}`;
  if (Buffer.byteLength(text) > MAP_WRITE_LIMIT)
    throw new NsrunError({ step: 'id-map', object: target, reason: `map is larger than the kernel's ${MAP_WRITE_LIMIT}-byte limit`, code: 'E2BIG', side: 'parent' });
  // through the addon: Node's writeFileSync, running for the first time, was ~0.4 ms of the time
  // the child waits for its maps
  const rc = native().writeFile(target, text);
  if (rc < 0) throw systemError({ step: 'id-map', object: target, syscall: 'write', errno: -rc, side: 'parent', context: { rootless } });
}

function runHelper(helper: string, pid: number, ranges: IdRange[]): Promise<void> {
  const args = [String(pid), ...ranges.flatMap((r) => [String(r.inner), String(r.outer), String(r.count)])];
  return new Promise((resolve, reject) => {
    // node:child_process only here (id ranges): loading it costs every other start a few ms
    (require('node:child_process') as typeof childProcess).execFile(helper, args, { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const why = String(stderr).trim().split('\n').pop() || err.message;
      reject(new NsrunError({ step: 'id-map', object: helper, reason: why, code: 'EPERM', side: 'parent',
        hint: 'the ranges must be listed for you in /etc/subuid and /etc/subgid, and newuidmap/newgidmap must be setuid root' }));
    });
  });
}

export async function writeIdMapsFromParent(pid: number, maps: IdMaps, helpers: { newuidmap?: string; newgidmap?: string }, rootless: boolean): Promise<void> {
  if (maps.uid.length) {
    if (maps.uidVia === 'newuidmap') await runHelper(helpers.newuidmap!, pid, maps.uid);
    else writeProcFile(pid, 'uid_map', mapText(maps.uid), rootless);
  }
  // setgroups must be denied before an unprivileged gid_map write (CVE-2014-8989).
  if (maps.setgroups === 'deny') writeProcFile(pid, 'setgroups', 'deny', rootless);
  if (maps.gid.length) {
    if (maps.gidVia === 'newgidmap') await runHelper(helpers.newgidmap!, pid, maps.gid);
    else writeProcFile(pid, 'gid_map', mapText(maps.gid), rootless);
  }
}
