// --explain: the plan, one step per line, in words a workshop can follow.
import { quoteArgv } from '../quote';
import { CLONE_FLAG_NAME, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, NAMESPACE_ISOLATES } from '../linux';
import type { IdRange } from '../options';
import { DEVPTS_OPTIONS } from './compile';
import { limitText } from './rlimit';
import { ROOTFS_FD_TOKEN } from './rootfs';
import type { CgroupPlan } from '../cgroup/sandbox-cgroup';
import type { Plan, Step } from './types';
import { describeCapList } from '../security/capabilities';

export function mapText(ranges: IdRange[]): string {
  return ranges.map((r) => `${r.inner} ${r.outer} ${r.count}`).join('\n');
}

function describeRanges(ranges: IdRange[], kind: 'uid' | 'gid'): string {
  if (ranges.length === 0) return `no ${kind}s mapped (they show as 65534 inside)`;
  return ranges
    .map((r) =>
      r.count === 1
        ? `inside ${kind} ${r.inner} = outside ${kind} ${r.outer}`
        : `inside ${kind}s ${r.inner}-${r.inner + r.count - 1} = outside ${r.outer}-${r.outer + r.count - 1}`,
    )
    .join('; ');
}

const FLAG_NAMES: [number, string][] = [
  [MS_RDONLY, 'ro'], [MS_NOSUID, 'nosuid'], [MS_NODEV, 'nodev'], [MS_NOEXEC, 'noexec'], [MS_BIND, 'bind'], [MS_REC, 'rec'],
];

export function mountFlags(flags: number, data?: string): string {
  const names = FLAG_NAMES.filter(([f]) => flags & f).map(([, n]) => n);
  if (data) names.push(data);
  return names.join(',') || 'defaults';
}

export function describeStep(s: Step, plan: Plan): string | undefined {
  switch (s.kind) {
    case 'bind-rootfs':
      return `mount --rbind ${s.root} ${s.root}: pivot_root needs the new root to be a mount point`;
    case 'reopen-rootfs':
      return `open ${s.root} in the new mount namespace: the overlay's lower layer`;
    case 'capture':
      return `open_tree(${s.source}${s.recursive ? ', recursive' : ''}): keep a detached copy to attach inside the new root`;
    case 'pivot-root':
      return `pivot_root(${s.newRoot}), then detach the old root: the host's files are unreachable from here on`;
    case 'mount':
      return `mount ${s.fstype ? `-t ${s.fstype} ` : ''}${s.source} on ${s.target} (${mountFlags(s.flags, s.data?.replace(ROOTFS_FD_TOKEN, 'N'))})${s.optional ? ', if it exists' : ''}`;
    case 'mount-point':
      return `create ${s.type === 'dir' ? 'directory' : 'file'} ${s.path} if missing (a symlink is refused)`;
    case 'symlink':
      return `symlink ${s.path} -> ${s.target}`;
    case 'attach':
      return `move_mount: attach ${s.source} on ${s.target}`;
    case 'remount-ro':
      return `remount ${s.path} read-only (bind,remount,ro + its locked flags)${s.optional ? ', if it exists' : ''}`;
    case 'check-cwd':
      return 'check the working directory is inside the new root';
    case 'await-id-maps':
      return undefined; // shown with the id-map line
    case 'unshare-time':
      return 'unshare(CLONE_NEWTIME): children get a new time namespace (clone() cannot take this flag)';
    case 'unshare-net':
      return 'unshare(CLONE_NEWNET): the child makes its own network namespace, the slowest one to set up (in clone() that would run in nsrun\'s own thread)';
    case 'unshare-cgroup':
      return 'unshare(CLONE_NEWCGROUP) now that the child is in its own cgroup: inside, that cgroup is the root';
    case 'make-private':
      return 'mount --make-rprivate /: nothing mounted inside propagates back to the host';
    case 'mount-proc':
      return 'mount proc on /proc (nosuid,nodev,noexec): ps and /proc show only this PID namespace';
    case 'mount-devpts':
      return `mount devpts on /dev/pts (${DEVPTS_OPTIONS}): the sandbox's own pseudo-terminals`;
    case 'sethostname':
      return `sethostname("${s.hostname}") in the new UTS namespace`;
    case 'loopback-up':
      return 'bring lo up (SIOCSIFFLAGS IFF_UP): the new network namespace has only lo, down';
    case 'pty':
      return `open ${s.ptmx}: a new pseudo-terminal; setsid, make it the controlling terminal, relay it to yours in raw mode`;
    case 'setsid':
      return 'setsid(): a new session without a controlling terminal';
    case 'stdio': {
      if (s.mode === 'pipe') return 'stdin/stdout/stderr: pipes to the caller';
      const names = ['stdin', 'stdout', 'stderr'];
      const relayed = names.filter((_, i) => s.relay[i]);
      if (!relayed.length) return 'stdin/stdout/stderr: passed straight through';
      return `${relayed.join(', ')}: your terminal, relayed through a pipe (the sandbox never holds it: no TIOCSTI); the rest passed straight through`;
    }
    case 'close-fds':
      return `close-on-exec every fd from ${s.from} up: the command gets only what it was given`;
    case 'preserve-fds':
      return `keep ${s.count === 1 ? 'fd 3' : `fds 3-${2 + s.count}`} open across exec (--preserve-fds ${s.count})`;
    case 'rlimit':
      return `prlimit(RLIMIT_${s.resource.toUpperCase()}, soft ${limitText(s.soft)}, hard ${limitText(s.hard)})`;
    case 'control-fd':
      return 'keep the control pipe nsrun-init reports stops and exit status on';
    case 'identity': {
      const parts = [];
      if (s.groups !== undefined) parts.push(`setgroups(${s.groups.join(',') || 'none'})`);
      if (s.gid !== undefined) parts.push(`setresgid(${s.gid})`);
      if (s.uid !== undefined) parts.push(`setresuid(${s.uid})`);
      return `switch identity: ${parts.join(', ')}${s.why ? ` (${s.why})` : ''}`;
    }
    case 'chdir':
      return `chdir("${s.dir}")`;
    case 'die-with-parent':
      return 'PR_SET_PDEATHSIG(SIGKILL): the sandbox dies if nsrun is killed';
    case 'cap-bounding':
      return `keep ${s.keep.length} capabilities in the bounding set (listed below), drop the rest: no process inside can regain them; clear the ambient set${s.keepCaps ? '; PR_SET_KEEPCAPS for the uid switch' : ''}`;
    case 'capabilities': {
      const c = s.sets;
      if (c.effective.length === 0 && c.ambient.length === 0) return 'capset: no effective, permitted or inheritable capabilities';
      if (c.ambient.length) return `capset + ambient: the command keeps ${describeCapList(c.ambient)} across exec (non-root uid)`;
      return 'capset: effective and permitted = the bounding set, inheritable none';
    }
    case 'no-new-privs':
      return 'PR_SET_NO_NEW_PRIVS: execve never grants privileges again (setuid bits and file capabilities are ignored; --allow-new-privs turns this off)';
    case 'seccomp': {
      const f = s.filter;
      const what = f.profile === 'default' ? "nsrun's default seccomp filter" : f.profile === 'unconfined' ? 'a seccomp filter for --disable-userns only' : `seccomp profile ${f.profile}`;
      return `install ${what}: ${f.instructions} BPF instructions, checks the architecture, rules for ${f.filtered.length} syscalls, default ${f.defaultAction.replace('SCMP_ACT_', '').toLowerCase()}`;
    }
    case 'join-cgroup':
      return `join the target's cgroup: write 0 to ${s.file}`;
    case 'non-dumpable':
      return 'PR_SET_DUMPABLE 0: processes inside cannot ptrace or read our memory while we join';
    case 'setns':
      return s.types.length > 1
        ? `setns(pidfd of ${s.pid}, ${s.types.join('|')}): enter these namespaces of the target at once`
        : `setns(pidfd of ${s.pid}, ${s.types[0]}): enter the target's ${s.types[0]} namespace`;
    case 'setns-fd':
      return `setns(${s.path}, ${s.type})`;
    case 'fork':
      return s.ownMemory
        ? 'fork: setns(pid) applies to children only, so the command runs in a new child (Node\'s, via CLONE_PARENT) with its own copy of the memory, which a time namespace requires'
        : 'fork: setns(pid) applies to children only, so the command runs in a new child (Node\'s, via CLONE_PARENT)';
    case 'enter-root':
      return `chroot into the target's root (${s.path})`;
    case 'enter-cwd':
      return `chdir into the target's working directory (${s.path})`;
    case 'exec':
      if (s.viaInit && plan.mode === 'join') return `exec nsrun-init (forwards signals, relays stops), which runs: ${quoteArgv(plan.command)}`;
      if (s.viaInit) {
        const role = plan.namespaces.includes('pid')
          ? 'as PID 1 (reaps orphans, forwards signals, exits with the command\'s status)'
          : '(subreaper: forwards signals, reaps orphans; no PID namespace)';
        return `exec nsrun-init ${role}, which runs: ${quoteArgv(plan.command)}`;
      }
      return `exec ${quoteArgv(plan.command)}${plan.namespaces.includes('pid') ? ' as PID 1 (--as-pid-1: it must reap and handle signals itself)' : ''}`;
  }
}

/** The system call each step makes, with its man page section: where to read more. */
export const MAN_PAGES: Record<string, string> = {
  clone: 'clone(2), namespaces(7)',
  join: 'setns(2), namespaces(7)',
  'id-map': 'user_namespaces(7): /proc/PID/uid_map',
  'unshare-time': 'unshare(2), time_namespaces(7)',
  'unshare-cgroup': 'unshare(2), cgroup_namespaces(7)',
  'unshare-net': 'unshare(2), network_namespaces(7)',
  'make-private': 'mount(2) MS_PRIVATE, mount_namespaces(7)',
  'mount-proc': 'mount(2), proc(5), pid_namespaces(7)',
  'mount-devpts': 'mount(2), pts(4)',
  sethostname: 'sethostname(2), uts_namespaces(7)',
  'loopback-up': 'ioctl SIOCSIFFLAGS, netdevice(7)',
  pty: 'ptmx(4), setsid(2), ioctl_tty(2) TIOCSCTTY',
  setsid: 'setsid(2)',
  stdio: 'fcntl(2) FD_CLOEXEC',
  'close-fds': 'close_range(2)',
  'control-fd': 'dup2(2)',
  'preserve-fds': 'fcntl(2) F_SETFD',
  rlimit: 'prlimit(2), getrlimit(2)',
  identity: 'setgroups(2), setresgid(2), setresuid(2)',
  chdir: 'chdir(2)',
  'die-with-parent': 'prctl(2) PR_SET_PDEATHSIG',
  exec: 'execveat(2), execve(2)',
  'bind-rootfs': 'mount(2) MS_BIND',
  'reopen-rootfs': 'open(2), dup3(2)',
  capture: 'open_tree(2)',
  'pivot-root': 'pivot_root(2), umount2(2)',
  mount: 'mount(2)',
  'mount-dev': 'mount(2), tmpfs(5)',
  'mount-shm': 'mount(2), tmpfs(5)',
  'mount-tmp': 'mount(2), tmpfs(5)',
  'mount-sys': 'mount(2), sysfs(5)',
  tmpfs: 'mount(2), tmpfs(5)',
  overlay: 'mount(2), overlayfs',
  mask: 'mount(2) MS_BIND',
  'mask-dir': 'mount(2), tmpfs(5)',
  'read-only-proc': 'mount(2) MS_REMOUNT|MS_RDONLY',
  'read-only': 'mount(2) MS_REMOUNT|MS_RDONLY',
  'ro-bind': 'mount(2) MS_REMOUNT|MS_RDONLY',
  'mount-point': 'mkdir(2), open(2) O_NOFOLLOW',
  symlink: 'symlink(2)',
  attach: 'move_mount(2)',
  'remount-ro': 'mount(2) MS_REMOUNT|MS_RDONLY',
  'check-cwd': 'getcwd(2)',
  'join-cgroup': 'cgroups(7): cgroup.procs',
  cgroup: 'cgroups(7)',
  'non-dumpable': 'prctl(2) PR_SET_DUMPABLE',
  setns: 'setns(2) with a pidfd',
  'setns-fd': 'setns(2)',
  fork: 'clone(2) CLONE_PARENT',
  'enter-root': 'fchdir(2), chroot(2)',
  'enter-cwd': 'fchdir(2)',
  'cap-bounding': 'prctl(2) PR_CAPBSET_DROP, capabilities(7)',
  capabilities: 'capset(2), prctl(2) PR_CAP_AMBIENT',
  'no-new-privs': 'prctl(2) PR_SET_NO_NEW_PRIVS',
  seccomp: 'seccomp(2)',
};

/** The result, after the steps: what the command may do. */
export function explainSecurity(plan: Plan): string[] {
  const sec = plan.security;
  if (!sec) return [];
  const lines = ['the command runs with:'];
  if (sec.caps) {
    const c = sec.caps;
    const same = c.effective.length === c.bounding.length;
    lines.push(`  capabilities  ${same ? `${describeCapList(c.effective)} (effective = bounding set)` : `effective ${describeCapList(c.effective)}; bounding set ${describeCapList(c.bounding)}`}`);
  } else lines.push('  capabilities  none');
  if (sec.capsNote) lines.push(`                ${sec.capsNote}`);
  lines.push(`  no_new_privs  ${sec.noNewPrivs ? '1' : '0 (--allow-new-privs: setuid programs inside can gain privileges)'}`);
  if (sec.seccomp) {
    const f = sec.seccomp;
    const name = f.profile === 'default' ? 'default profile' : f.profile === 'unconfined' ? 'no profile (--seccomp=unconfined)' : f.profile;
    const which = f.filtered.length > 60 ? `${f.filtered.length} syscalls` : f.filtered.join(' ');
    lines.push(`  seccomp       ${name}, default ${f.defaultAction.replace('SCMP_ACT_', '').toLowerCase()}, rules for: ${which}`);
    if (f.unknown.length && f.profile !== 'default') lines.push(`                ${f.unknown.length} names the profile uses do not exist on this architecture and are skipped`);
  } else lines.push('  seccomp       unconfined (no filter)');
  if (sec.disableUserns) lines.push('  userns        cannot be created inside (clone/unshare CLONE_NEWUSER: EPERM, clone3: ENOSYS)');
  return lines;
}

export function explainPlan(plan: Plan): string[] {
  const lines: string[] = [];
  const who = plan.caller.rootless ? `uid ${plan.caller.uid}, unprivileged` : 'root';
  lines.push(`nsrun plan (caller: ${who}):`);
  const steps: [string, string][] = [];
  if (plan.mode === 'join') {
    steps.push(['join', plan.namespaces.length ? `enter the target's ${plan.namespaces.join(', ')} namespaces` : 'no namespace differs from yours: nothing to enter']);
  } else if (plan.namespaces.length) {
    // clone() cannot take CLONE_NEWTIME: the time namespace is an unshare step further down.
    // With limits, the cgroup namespace is unshared too, once the child is in its own cgroup.
    const late = plan.steps.filter((s) => s.kind === 'unshare-time' || s.kind === 'unshare-cgroup' || s.kind === 'unshare-net').map((s) => s.kind.slice('unshare-'.length));
    const cloned = plan.namespaces.filter((n) => !late.includes(n));
    const flags = cloned.map((n) => CLONE_FLAG_NAME[n]).join('|');
    const time = late.map((n) => ` (${n}: see unshare-${n})`).join('');
    steps.push(['clone', cloned.length ? `new ${plan.namespaces.join(', ')} namespaces: clone(${flags})${time}` : `a plain clone(): the ${late.join(' and ')} namespace${late.length > 1 ? 's come' : ' comes'} from the ${late.map((n) => `unshare-${n}`).join(' and ')} step${late.length > 1 ? 's' : ''}`]);
    for (const ns of plan.namespaces) {
      const why = plan.implied[ns] ? ` [added: ${plan.implied[ns]}]` : '';
      steps.push(['', `  ${ns.padEnd(6)} isolates ${NAMESPACE_ISOLATES[ns]}${why}`]);
    }
  } else {
    steps.push(['clone', 'no new namespaces: the command shares all of them with the host']);
  }
  if (plan.idMaps) {
    const m = plan.idMaps;
    const uidWho = m.uidVia === 'write' ? 'the parent writes' : 'newuidmap writes';
    const gidWho = m.gidVia === 'write' ? 'the parent writes' : 'newgidmap writes';
    steps.push(['id-map', `${uidWho} uid_map: ${describeRanges(m.uid, 'uid')}`]);
    steps.push(['', `  setgroups=${m.setgroups}${m.setgroups === 'deny' ? ' (required before an unprivileged gid_map)' : ''}`]);
    steps.push(['', `  ${gidWho} gid_map: ${describeRanges(m.gid, 'gid')}`]);
    steps.push(['', '  the child waits until the maps are written'])
  }
  if (plan.cgroup) steps.push(...explainCgroup(plan.cgroup));
  for (const s of plan.steps) {
    const text = describeStep(s, plan);
    if (text) steps.push(['name' in s ? s.name : s.kind, text]);
  }
  let n = 0;
  for (const [name, text] of steps) {
    const man = MAN_PAGES[name];
    if (name) lines.push(`${String(++n).padStart(3)}. ${name.padEnd(15)} ${text}${man ? `   [${man}]` : ''}`);
    else lines.push(`     ${''.padEnd(15)} ${text}`);
  }
  lines.push(...explainSecurity(plan));
  return lines;
}

/** --step: what to look at from another terminal while the child waits before step `s`. */
export function lookAt(s: Step | 'clone' | 'id-map', pid: number): string[] {
  const kind = typeof s === 'string' ? s : s.kind;
  switch (kind) {
    case 'clone':
      return [`ls -l /proc/${pid}/ns   (compare: ls -l /proc/self/ns)`, `cat /proc/${pid}/uid_map   (empty until the maps are written)`];
    case 'id-map':
      return [`cat /proc/${pid}/uid_map /proc/${pid}/gid_map /proc/${pid}/setgroups`, `grep -E '^(Uid|Gid)' /proc/${pid}/status`];
    case 'make-private':
    case 'bind-rootfs':
    case 'mount':
    case 'mount-proc':
    case 'mount-devpts':
    case 'pivot-root':
    case 'attach':
    case 'remount-ro':
      return [`findmnt -N ${pid}   (or: cat /proc/${pid}/mountinfo)`];
    case 'sethostname':
      return [`nsenter -t ${pid} -u hostname`];
    case 'unshare-net':
    case 'loopback-up':
      return [`nsenter -t ${pid} -n ip -br link   (compare: readlink /proc/${pid}/ns/net /proc/self/ns/net)`];
    case 'rlimit':
      return [`cat /proc/${pid}/limits`];
    case 'identity':
    case 'die-with-parent':
      return [`grep -E '^(Uid|Gid|Groups|Cap)' /proc/${pid}/status`];
    case 'cap-bounding':
    case 'capabilities':
    case 'no-new-privs':
    case 'seccomp':
      return [`grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/${pid}/status   (capsh --decode=HEX names a mask)`];
    case 'setsid':
    case 'pty':
    case 'stdio':
    case 'close-fds':
    case 'preserve-fds':
      return [`ls -l /proc/${pid}/fd`, `ps -o pid,pgid,sid,tty,comm -p ${pid}`];
    case 'exec':
      return [`ps -o pid,comm,args -p ${pid}   (after this step it is nsrun-init or your command)`];
    default:
      return [`ls -l /proc/${pid}/ns; cat /proc/${pid}/status | head`];
  }
}

/** The cgroup steps: exact files and values once prepared on this host, else the limits. */
function explainCgroup(c: CgroupPlan): [string, string][] {
  const out: [string, string][] = [];
  const s = c.setup;
  if (!s) {
    out.push(['cgroup', `a cgroup of its own, ${c.name}${c.parent ? ` under ${c.parent}` : ''}, with ${Object.entries(c.limits).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') || 'no limits'}`]);
    return out;
  }
  out.push(['cgroup', `cgroup v${s.version}: the sandbox's own cgroup ${s.name}, made before the clone`]);
  for (const op of s.ops) {
    if (op.op === 'mkdir') out.push(['', `  mkdir ${op.path}`]);
    else if (op.op === 'enable') out.push(['', `  echo ${op.value} > ${op.path}   (enable ${op.controller} for the children)`]);
    else out.push(['', `  echo '${op.value}' > ${op.path}${op.optional ? '   (if the kernel has it)' : ''}`]);
  }
  for (const f of s.procs) out.push(['', `  attach: echo CHILD_PID > ${f}`]);
  out.push(['', '  (the child is attached while it waits for "go": the command never runs outside its limits)']);
  out.push(['', '  removed when the sandbox ends (what is left inside is killed first)']);
  return out;
}
