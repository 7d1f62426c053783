// Fault injection, for tests: NSRUN_FAULT=POINT[#N][:after] makes nsrun SIGKILL itself at a named
// point of a sandbox's setup, so that a test can prove nothing outlives it (no process, mount,
// state file, cgroup or fd). NSRUN_FAULT=trace prints every point as it passes, without killing.
//
// Points: 'clone' (the child exists, id maps not yet written), 'id-map' (maps written, the child
// not yet released), then every child step by its plan name ('make-private', 'mount-proc',
// 'pivot-root', 'close-fds', 'exec', ...: the child waits before each one on the sync pipe, as
// with --step), 'started' (the command runs), 'registry-link' (a named sandbox's state file is
// written but not yet in place), 'registry' (it is in place). #N picks the N-th time a point is
// passed (a plan has many 'mount' steps); ':after' lets a child step run and kills nsrun while
// it does.
//
// Off in production: the bundled CLI (dist/nsrun.js, which bin/nsrun.cjs runs) is built with
// __NSRUN_FAULTS__ = false, so esbuild drops all of this. The unbundled modules (dist/index.js,
// dist/cli/main.js) keep it behind the environment variable; tests run the CLI through
// test/helpers/nsrun-unbundled.js. The hook can only kill nsrun itself, which anyone who can set
// its environment could do anyway.
import * as fs from 'node:fs';
import type { Plan } from '../plan/types';
import type { StepInfo, Stepper } from '../sandbox';

declare const __NSRUN_FAULTS__: boolean | undefined;

export interface Fault {
  /** The point's name, or 'trace'. */
  point: string;
  /** 1-based: the N-th time the point is passed. */
  nth: number;
  when: 'before' | 'after';
}

export function parseFault(spec: string | undefined): Fault | undefined {
  if (!spec) return undefined;
  if (spec === 'trace') return { point: 'trace', nth: 0, when: 'before' };
  const m = /^([a-z0-9-]+)(?:#(\d+))?(?::(before|after))?$/.exec(spec);
  if (!m) throw new Error(`NSRUN_FAULT: '${spec}' is not POINT[#N][:after]`);
  return { point: m[1], nth: m[2] ? Number(m[2]) : 1, when: (m[3] as Fault['when']) ?? 'before' };
}

interface Hook {
  active(): Fault | undefined;
  point(name: string): number;
  after(name: string, n: number): void;
}

// The whole implementation; unreferenced (so dropped by esbuild) when __NSRUN_FAULTS__ is false.
function createHook(): Hook {
  let parsed: { spec: string | undefined; fault: Fault | undefined } | undefined;
  const seen = new Map<string, number>();
  const die = (): never => {
    process.kill(process.pid, 'SIGKILL');
    throw new Error('unreachable: SIGKILL did not kill nsrun');
  };
  const active = () => {
    const spec = process.env.NSRUN_FAULT;
    if (!parsed || parsed.spec !== spec) parsed = { spec, fault: parseFault(spec) };
    return parsed.fault;
  };
  return {
    active,
    point(name) {
      const f = active();
      if (!f) return 0;
      const n = (seen.get(name) ?? 0) + 1;
      seen.set(name, n);
      if (f.point === 'trace') fs.writeSync(2, `nsrun-fault: ${name}#${n}\n`);
      else if (f.point === name && f.nth === n && f.when === 'before') die();
      return n;
    },
    after(name, n) {
      const f = active();
      if (f && f.point === name && f.nth === n && f.when === 'after') die();
    },
  };
}

const hook: Hook | undefined = typeof __NSRUN_FAULTS__ === 'undefined' || __NSRUN_FAULTS__ ? createHook() : undefined;

/** The fault asked for in the environment; always undefined in the bundled CLI. */
export function activeFault(): Fault | undefined {
  return hook?.active();
}

/** Passes a point: dies here if it is the one asked for (or names it, tracing). Returns N. */
export function faultPoint(name: string): number {
  return hook ? hook.point(name) : 0;
}

/** The N-th pass of a point is under way: dies if ':after' was asked for it. */
export function faultAfter(name: string, n: number): void {
  hook?.after(name, n);
}

/**
 * A plan that pauses before each child step (as --step does), so the child can be caught at every
 * step; the plan is otherwise unchanged.
 */
export function withFaultPauses(plan: Plan): Plan {
  if (plan.step) return plan;
  const steps = plan.steps[0]?.kind === 'await-id-maps' ? plan.steps : [{ kind: 'await-id-maps' as const }, ...plan.steps];
  return { ...plan, step: true, steps };
}

/** A stepper that passes each pause as a fault point, then lets the step run (or asks `inner`). */
export function faultStepper(inner?: Stepper): Stepper {
  return {
    async pause(info: StepInfo): Promise<void> {
      const n = faultPoint(info.name);
      if (inner) await inner.pause(info);
      // ':after': the step goes ahead (spawnPlan releases the child as soon as this resolves)
      // and nsrun dies while it runs.
      setImmediate(() => faultAfter(info.name, n));
    },
  };
}
