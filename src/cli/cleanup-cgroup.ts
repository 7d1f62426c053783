// Run by nsrun-supervise, never by hand: `node cleanup-cgroup.js RECORD STATUS`. The supervisor
// removes a sandbox's cgroup with rmdir alone; when something is still inside (a daemon the
// command started without a PID namespace), it execs this (same PID, so the record is still ours)
// to kill what is left and remove the cgroup the library's way, then exit with the sandbox's status.
import * as fs from 'node:fs';
import { removeRecorded } from '../cgroup/sandbox-cgroup';

export async function cleanupMain(args: string[]): Promise<number> {
  const [record, status] = args;
  const code = Number(status);
  if (!record || !Number.isInteger(code)) {
    fs.writeSync(2, 'nsrun: cleanup-cgroup is run by nsrun-supervise, not by hand\n');
    return 125;
  }
  if (!(await removeRecorded(record))) fs.writeSync(2, `nsrun: the sandbox's cgroup could not be removed (record ${record}); the next nsrun run collects it\n`);
  return code;
}

if (require.main === module) void cleanupMain(process.argv.slice(2)).then((code) => process.exit(code));
