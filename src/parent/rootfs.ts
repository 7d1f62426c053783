// What planning a --rootfs sandbox needs to know about the host: the rootfs, resolved, checked to
// be a directory whose /proc, /sys and /dev are not symlinks, and the kind of each bind source.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { usageError } from '../errors';
import type { SandboxOptions } from '../options';

export interface RootfsProbe {
  /** Absolute, symlink-free path of the rootfs. */
  root: string;
  /** Kind of each bind source, by the source as given. */
  sources: Record<string, 'dir' | 'file'>;
}

/** Directories whose replacement by a symlink redirected runtimes' writes (runc CVE-2019-19921, 2023-27561). */
export const NO_SYMLINK_DIRS = ['proc', 'sys', 'dev'];

export function probeRootfs(opts: SandboxOptions, cwd = process.cwd()): RootfsProbe | undefined {
  if (opts.rootfs === undefined) return undefined;
  if (opts.rootfs.includes('\0')) throw usageError('--rootfs', 'contains a NUL byte');
  const given = path.resolve(cwd, opts.rootfs);
  let root: string;
  try {
    root = fs.realpathSync(given);
  } catch {
    throw usageError('--rootfs', `${opts.rootfs}: No such file or directory`);
  }
  if (!fs.statSync(root).isDirectory()) throw usageError('--rootfs', `${opts.rootfs}: Not a directory`);
  if (root === '/') throw usageError('--rootfs', "the host's own / cannot be a rootfs", 'give a directory holding a root filesystem (docs/rootfs.md)');
  for (const d of NO_SYMLINK_DIRS) {
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(path.join(root, d));
    } catch {
      continue; // missing: created at start when the rootfs is writable
    }
    if (st.isSymbolicLink())
      throw usageError('--rootfs', `${path.join(opts.rootfs, d)} is a symlink: /${d} must be an ordinary directory`, 'a symlinked /proc, /sys or /dev could redirect mounts (runc CVE-2019-19921); remove the link');
    if (!st.isDirectory()) throw usageError('--rootfs', `${path.join(opts.rootfs, d)} is not a directory`);
  }
  const sources: Record<string, 'dir' | 'file'> = {};
  for (const m of opts.mounts ?? []) {
    if (m.type !== 'bind') continue;
    let st: fs.Stats;
    try {
      st = fs.statSync(m.source);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw usageError(m.readOnly ? '--ro-bind' : '--bind', `can't find source path ${m.source}: ${code === 'EACCES' ? 'Permission denied' : 'No such file or directory'}`);
    }
    sources[m.source] = st.isDirectory() ? 'dir' : 'file';
  }
  return { root, sources };
}
