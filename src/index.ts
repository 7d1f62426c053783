// nsrun's library API: the same path as the CLI, without the CLI.
export { spawn, run, exec, Sandbox, shellStatus, type ExitResult, type RunOptions, type RunResult, type SpawnExtras } from './sandbox';
export type { SandboxOptions, IdRange, StdioMode, RlimitValue } from './options';
export type { ExecOptions } from './parent/join';
export { NsrunError, isNsrunError, formatError } from './errors';
export { buildPlan } from './plan/build';
export { explainPlan } from './plan/explain';
export type { Plan, Step, IdMaps } from './plan/types';
export { gatherHostFacts, type HostFacts } from './parent/host';
export { NAMESPACE_TYPES, type NamespaceType } from './linux';
export type { SecurityOptions } from './plan/security';
export type { SeccompProfile, SeccompRule } from './security/seccomp';
export { DEFAULT_CAPS, CAPABILITY_NAMES } from './security/capabilities';

import type { SandboxOptions } from './options';
import { gatherHostFacts } from './parent/host';
import { buildPlan } from './plan/build';
import { explainPlan } from './plan/explain';

/** The --explain text for these options, without running anything. */
export function explain(options: SandboxOptions): string {
  return explainPlan(buildPlan(options, gatherHostFacts())).join('\n');
}

export { ps, inspect, kill, pause, resume, parseSignal, type SandboxInfo, type Inspection } from './manage';
export type { CgroupLimits, IoMaxSpec } from './cgroup/limits';
export type { CgroupInfo } from './cgroup/sandbox-cgroup';
export type { OomInfo } from './cgroup/driver';
export { formatInspection } from './parent/inspect';
export { doctor, formatDoctor, type Check, type DoctorEnv, type Verdict } from './doctor';
export { stats, watchStats, type StatsOptions, type StatsTick } from './stats/watch';
export type { SandboxStats } from './stats/compute';
export { formatTable as formatStatsTable } from './stats/format';
