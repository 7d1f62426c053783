// --io-max DEV: MAJ:MIN or a block device path -> "MAJ:MIN" of a whole disk (throttling is per
// disk: the kernel refuses partitions).
import * as fs from 'node:fs';
import { problem } from './driver';
import type { ResolvedLimits } from './limits';

export function resolveBlockDevice(device: string, limits?: ResolvedLimits, sysDevBlock = '/sys/dev/block'): string {
  let id = device;
  if (!/^\d+:\d+$/.test(device)) {
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(device, { bigint: true });
    } catch (e) {
      throw problem('invalid', 'io', `${device}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such device' : (e as Error).message}`, { limits });
    }
    if (!st.isBlockDevice()) throw problem('invalid', 'io', `${device} is not a block device`, { limits });
    const major = ((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & ~0xfffn);
    const minor = (st.rdev & 0xffn) | ((st.rdev >> 12n) & ~0xffn);
    id = `${major}:${minor}`;
  }
  if (!fs.existsSync(`${sysDevBlock}/${id}`)) throw problem('invalid', 'io', `${device}: no block device ${id} on this host (see lsblk)`, { limits });
  if (fs.existsSync(`${sysDevBlock}/${id}/partition`))
    throw problem('invalid', 'io', `${device} (${id}) is a partition: I/O limits apply to whole disks`, { limits });
  return id;
}
