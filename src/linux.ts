// Kernel constants nsrun uses, in one place. test/native checks them against the running kernel's
// behaviour; they are the same on every Linux architecture nsrun builds for (x86_64, aarch64).
// Also the few facts of the running kernel read at run time: signal numbers, the release.
import { native } from './native/binding';

export const CLONE_NEWTIME = 0x00000080;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;

export const SIGCONT = 18;

// node:os is loaded on first use, not at start: loading it is ~0.5 ms of a CLI start, and a plain
// run needs neither its signal table (nsrun-supervise forwards signals by the addon's numbers)
// nor os.release() (the addon's uname(2): reading /proc/sys/kernel/osrelease was the start's
// first readFileSync, ~0.6 ms of Node's own code running for the first time).
let signals: Record<string, number> | undefined;
let signalNames: Map<number, NodeJS.Signals> | undefined;
let release: string | undefined;

/** Signal numbers by name (os.constants.signals). */
export function signalNumbers(): Readonly<Record<string, number>> {
  return (signals ??= (require('node:os') as typeof import('node:os')).constants.signals as Record<string, number>);
}

/** A signal's name from its number. */
export function signalName(signo: number): NodeJS.Signals | undefined {
  signalNames ??= new Map(Object.entries(signalNumbers()).map(([name, n]) => [n, name as NodeJS.Signals]));
  return signalNames.get(signo);
}

/** The running kernel's release, as uname -r prints it. */
export function kernelRelease(): string {
  return (release ??= native().kernelRelease);
}

/** Namespace types, named as in /proc/PID/ns. */
export const NAMESPACE_TYPES = ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

export const CLONE_FLAG: Record<NamespaceType, number> = {
  user: CLONE_NEWUSER,
  pid: CLONE_NEWPID,
  mnt: CLONE_NEWNS,
  uts: CLONE_NEWUTS,
  ipc: CLONE_NEWIPC,
  net: CLONE_NEWNET,
  cgroup: CLONE_NEWCGROUP,
  time: CLONE_NEWTIME,
};

export const CLONE_FLAG_NAME: Record<NamespaceType, string> = {
  user: 'CLONE_NEWUSER',
  pid: 'CLONE_NEWPID',
  mnt: 'CLONE_NEWNS',
  uts: 'CLONE_NEWUTS',
  ipc: 'CLONE_NEWIPC',
  net: 'CLONE_NEWNET',
  cgroup: 'CLONE_NEWCGROUP',
  time: 'CLONE_NEWTIME',
};

/** What each namespace type isolates, for --explain and the README. */
export const NAMESPACE_ISOLATES: Record<NamespaceType, string> = {
  user: 'user and group IDs, capabilities',
  pid: 'process IDs (the sandbox gets its own PID 1)',
  mnt: 'mount table',
  uts: 'hostname and NIS domain name',
  ipc: 'System V IPC and POSIX message queues',
  net: 'network devices, addresses, routes, ports',
  cgroup: 'view of the cgroup hierarchy',
  time: 'CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets',
};

/** The 'unshare' names and short flags users know from util-linux. */
export const NAMESPACE_FLAGS: { type: NamespaceType; long: string; short: string }[] = [
  { type: 'pid', long: 'pid', short: 'p' },
  { type: 'net', long: 'net', short: 'n' },
  { type: 'ipc', long: 'ipc', short: 'i' },
  { type: 'uts', long: 'uts', short: 'u' },
  { type: 'mnt', long: 'mount', short: 'm' },
  { type: 'user', long: 'user', short: 'U' },
  { type: 'cgroup', long: 'cgroup', short: 'C' },
  { type: 'time', long: 'time', short: 'T' },
];
