// --preserve-fds N (parent side): fds 3..3+N-1 of nsrun go to the command as they are. They must
// be open, and must be fds nsrun was given, not fds Node opened for itself: Node takes the lowest
// free numbers at start-up, so when a caller leaves a gap (passes fd 3 and 5, asks for 3), Node's
// epoll fd or a libuv self-pipe sits in it and would be handed to the sandbox.
import * as fs from 'node:fs';
import { usageError } from '../errors';

export const MAX_PRESERVE_FDS = 1024;

/** Node/libuv-internal kinds of fd; nobody passes these to nsrun on purpose. */
const INTERNAL = /^anon_inode:\[?(eventpoll|eventfd|io_uring|signalfd|timerfd|pidfd)\]?$/;

function link(fd: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

export function checkPreserveCount(n: unknown, flag = '--preserve-fds'): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_PRESERVE_FDS)
    throw usageError(flag, `${String(n)} is not a number of fds (0-${MAX_PRESERVE_FDS})`);
  return n;
}

/** Checks fds 3..3+n-1 before anything is created. */
export function checkPreservedFds(n: number, flag = '--preserve-fds'): void {
  if (n === 0) return;
  const all = new Map<number, string>();
  for (const e of fs.readdirSync('/proc/self/fd')) {
    const t = link(Number(e));
    if (t !== undefined) all.set(Number(e), t);
  }
  const range = n === 1 ? 'fd 3' : `fds 3..${2 + n}`;
  for (let fd = 3; fd < 3 + n; fd++) {
    const target = all.get(fd);
    if (target === undefined)
      throw usageError(flag, `fd ${fd} is not open`, `start nsrun with ${range} open (e.g. 3<file 4>&1), or ask for fewer`);
    // A pipe nsrun also holds above the range (where only Node's own fds are) is a Node self-pipe;
    // the same pipe on 0-2 is fine (3>&1).
    const selfPipe = target.startsWith('pipe:') && [...all].some(([other, t]) => other >= 3 + n && t === target);
    if (INTERNAL.test(target) || selfPipe)
      throw usageError(flag, `fd ${fd} was not passed to nsrun (it is Node's own ${target})`, `start nsrun with ${range} open, without gaps`);
  }
}
