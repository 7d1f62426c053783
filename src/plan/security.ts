// The security steps of a plan (nsrun run and nsrun exec): capability sets, no_new_privs, seccomp.
//
// Order in the child, and why:
//   cap-bounding   before the identity switch: dropping from the bounding set needs CAP_SETPCAP,
//                  which a switch to a non-root uid takes away (PR_SET_KEEPCAPS keeps the permitted
//                  set across it when a non-root user is to keep added capabilities)
//   identity, chdir ...
//   capabilities   capset + ambient raise, after the uid switch cleared what it clears
//   die-with-parent
//   no-new-privs   just before the filter: seccomp without it needs CAP_SYS_ADMIN
//   seccomp        the very last step; after it only execveat (and, on failure, write/exit) run.
//                  With --allow-new-privs it comes first instead (before cap-bounding): without
//                  no_new_privs the kernel wants CAP_SYS_ADMIN, which the default set lacks (runc
//                  orders it the same way); the filter must then allow capset, setresuid & co.
//   exec           nsrun-init then runs under the same filter: it needs only ordinary calls
//                  (fork, wait4, kill, rt_sigtimedwait, setpgid, ioctl(TIOCSPGRP), execve)
import { usageError } from '../errors';
import { allowedCaps, type CapName, capSets, sortCaps } from '../security/capabilities';
import { DEFAULT_PROFILE, nativeArch, readProfile, resolveProfile, type SeccompProfile, USERNS_ONLY_PROFILE } from '../security/seccomp';
import type { SecuritySummary, Step } from './types';

export interface SecurityOptions {
  /** Capabilities to add to the default set (names with or without CAP_, any case; 'ALL'). */
  capAdd?: string[];
  /** Capabilities to remove ('ALL': start from none). */
  capDrop?: string[];
  /** Leave no_new_privs off: setuid binaries and file capabilities work inside. */
  allowNewPrivs?: boolean;
  /** 'default' (nsrun's profile), 'unconfined' (no filter), a Docker/OCI JSON file, or a parsed profile. */
  seccomp?: 'default' | 'unconfined' | string | SeccompProfile;
  /** No new user namespaces inside (a seccomp rule on clone/unshare; clone3 gets ENOSYS). */
  disableUserns?: boolean;
}

export const SECURITY_KEYS = ['capAdd', 'capDrop', 'allowNewPrivs', 'seccomp', 'disableUserns'] as const;

export interface SecurityContext {
  /** The child holds capabilities it can drop: it is in a user namespace of its own (new or
   *  joined), or the caller has CAP_SETPCAP. Otherwise the command has none to begin with. */
  privileged: boolean;
  /** The uid the command runs as inside. */
  uid: number;
  /** The caller's effective capabilities (what an unprivileged command keeps, i.e. none normally). */
  callerCaps: CapName[];
}

export interface SecuritySteps {
  /** --allow-new-privs: the filter, installed while CAP_SYS_ADMIN is still there. */
  early: Step[];
  /** Before the identity switch. */
  bounding?: Step;
  /** After the identity switch and chdir. */
  caps?: Step;
  /** no-new-privs, seccomp: right before exec. */
  final: Step[];
  summary: SecuritySummary;
}

export function validateSecurity(opts: SecurityOptions): void {
  for (const [k, flag] of [['capAdd', '--cap-add'], ['capDrop', '--cap-drop']] as const) {
    const v = opts[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((c) => typeof c !== 'string'))) throw usageError(flag, 'must be a list of capability names');
  }
  allowedCaps(opts); // names and contradictions
  const s = opts.seccomp;
  if (s !== undefined && typeof s !== 'string' && (typeof s !== 'object' || s === null || Array.isArray(s)))
    throw usageError('--seccomp', "must be 'default', 'unconfined', a profile file or a profile object");
  if (s === '') throw usageError('--seccomp', "needs 'unconfined' or a profile file");
}

export function planSecurity(opts: SecurityOptions, ctx: SecurityContext): SecuritySteps {
  validateSecurity(opts);
  const final: Step[] = [];
  const early: Step[] = [];
  let bounding: Step | undefined;
  let caps: Step | undefined;
  let sets: SecuritySummary['caps'];
  let capsNote: string | undefined;
  if (ctx.privileged) {
    sets = capSets(opts, ctx.uid);
    bounding = { kind: 'cap-bounding', keep: sets.bounding, keepCaps: sets.ambient.length > 0 };
    caps = { kind: 'capabilities', sets };
    if (ctx.uid !== 0) capsNote = `uid ${ctx.uid} is not root: it keeps only capabilities added with --cap-add (as ambient capabilities)`;
  } else {
    // Nothing to drop: an unprivileged process has no capabilities, and its bounding set can
    // only be changed with CAP_SETPCAP. Clearing the (normally empty) sets is still allowed.
    const none = { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] };
    caps = { kind: 'capabilities', sets: none };
    capsNote = 'unprivileged and without a user namespace: the command has no capabilities (the bounding set cannot be changed without CAP_SETPCAP)';
    if ((opts.capAdd ?? []).length)
      throw usageError('--cap-add', 'cannot add capabilities: you are not root and the sandbox has no user namespace', 'add a user namespace (-U or --map-root-user)');
  }
  if (!opts.allowNewPrivs) final.push({ kind: 'no-new-privs' });

  const mode = opts.seccomp ?? 'default';
  let seccomp: SecuritySummary['seccomp'];
  let given: SecurityOptions['seccomp'] = mode === 'default' || mode === 'unconfined' ? mode : undefined;
  if (mode !== 'unconfined' || opts.disableUserns) {
    const arch = nativeArch();
    const profile = mode === 'default' ? DEFAULT_PROFILE : mode === 'unconfined' ? USERNS_ONLY_PROFILE : typeof mode === 'string' ? readProfile(mode) : mode;
    given ??= profile;
    const label = typeof mode === 'string' ? mode : 'profile';
    const filterCaps = ctx.privileged ? sets!.bounding : sortCaps(ctx.callerCaps);
    seccomp = resolveProfile(profile, { arch, caps: filterCaps, disableUserns: opts.disableUserns }, label);
    if (opts.allowNewPrivs && !ctx.privileged)
      throw usageError(
        '--allow-new-privs',
        'a seccomp filter without no_new_privs needs CAP_SYS_ADMIN, which you do not have here',
        'drop --allow-new-privs, add a user namespace (-U), or use --seccomp=unconfined',
      );
    (opts.allowNewPrivs ? early : final).push({ kind: 'seccomp', filter: seccomp });
  }
  return {
    early,
    bounding,
    caps,
    final,
    summary: {
      caps: sets,
      capsNote,
      noNewPrivs: !opts.allowNewPrivs,
      seccomp,
      disableUserns: !!opts.disableUserns,
      options: { capAdd: opts.capAdd, capDrop: opts.capDrop, allowNewPrivs: opts.allowNewPrivs, seccomp: given, disableUserns: opts.disableUserns },
    },
  };
}

/**
 * nsrun exec into a named sandbox: its own options again (docker exec applies the container's),
 * except where exec was given its own: capabilities (--cap-add/--cap-drop together), the filter,
 * no_new_privs and --disable-userns each replace the target's.
 */
export function inheritSecurity(target: SecurityOptions | undefined, exec: SecurityOptions): SecurityOptions {
  if (!target) return exec;
  const ownCaps = exec.capAdd !== undefined || exec.capDrop !== undefined;
  return {
    capAdd: ownCaps ? exec.capAdd : target.capAdd,
    capDrop: ownCaps ? exec.capDrop : target.capDrop,
    allowNewPrivs: exec.allowNewPrivs ?? target.allowNewPrivs,
    seccomp: exec.seccomp ?? target.seccomp,
    disableUserns: exec.disableUserns ?? target.disableUserns,
  };
}

/** Puts the security steps into a plan's step list at their places (see the order above). */
export function insertSecuritySteps(steps: Step[], sec: SecuritySteps): Step[] {
  const out: Step[] = [];
  const identity = steps.findIndex((s) => s.kind === 'identity');
  const beforeCaps = steps.findIndex((s) => s.kind === 'die-with-parent');
  const boundingAt = identity >= 0 ? identity : beforeCaps;
  steps.forEach((s, i) => {
    if (i === boundingAt) out.push(...sec.early);
    if (sec.bounding && i === boundingAt) out.push(sec.bounding);
    if (sec.caps && i === beforeCaps) out.push(sec.caps);
    if (s.kind === 'exec') out.push(...sec.final);
    out.push(s);
  });
  return out;
}
