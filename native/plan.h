// The plan as the child executes it: plain data, decoded and copied into one arena on the main
// thread before the clone. Nothing here allocates; the child only reads it.
#pragma once

#include <stdint.h>

namespace nsrun {

// Step kinds. Keep in sync with OP in src/native/types.ts.
enum Op : int32_t {
  OP_AWAIT_GO = 1,      // wait for the parent (id maps written); n1 = 1 keeps the sync pipe open
  OP_UNSHARE = 2,       // n1 = flags (CLONE_NEWTIME cannot be passed to clone)
  OP_SETHOSTNAME = 3,   // s1 = name
  OP_MOUNT = 4,         // s1 = source, s2 = target, s3 = fstype, n1 = flags (low), n2 = flags (high), s4 = data
  OP_LOOPBACK_UP = 5,   // s1 = interface name
  OP_SETGROUPS = 6,     // ids[0..nids)
  OP_SETRESGID = 7,     // n1 = gid
  OP_SETRESUID = 8,     // n1 = uid
  OP_CHDIR = 9,         // s1 = dir
  OP_PDEATHSIG = 10,    // n1 = signal; also checks the parent is still alive (n2 = fd to poll for EOF, or -1)
  OP_SETSID = 11,
  OP_PTY = 12,          // n1 = socket to send the master on, n2 = rows<<16|cols; s1 = ptmx path
  OP_DUP2 = 13,         // n1 = from, n2 = to (the new fd is not close-on-exec)
  OP_STDIO_INHERIT = 14,  // clear FD_CLOEXEC on 0..2 (Node sets it at startup)
  OP_CLOSE_FROM = 15,   // n1 = first fd: mark every fd >= n1 close-on-exec
  OP_EXEC = 16,         // n1 = fd to execveat (or -1), s1 = file, s2 = PATH for the search
  OP_SETNAME = 17,      // s1 = process name (prctl PR_SET_NAME)
  OP_DUMPABLE = 18,     // n1 = 0 or 1
  OP_SETNS_PIDFD = 19,  // n1 = pidfd, n2 = CLONE_NEW* mask: enter all at once
  OP_SETNS_FD = 20,     // n1 = namespace fd, n2 = CLONE_NEW* type (0 = any)
  OP_FORK = 21,         // vfork-style clone(CLONE_VM|CLONE_VFORK|CLONE_PARENT): the new process runs
                        // the remaining steps; this one reports its pid and exits. n1 = 1: a plain
                        // fork instead (own copy of the memory, which setns(CLONE_NEWTIME) needs)
  OP_FCHROOT = 22,      // n1 = directory fd: fchdir + chroot(".")
  OP_FCHDIR = 23,       // n1 = directory fd
  OP_WRITE_FILE = 24,   // s1 = path, s2 = content (e.g. "0" into a cgroup.procs: join it)
  // root filesystems (nsrun run --rootfs)
  OP_PIVOT_ROOT = 25,   // s1 = new root (a mount point): pivot_root, detach the old root, chdir /
  OP_OPEN_TREE = 26,    // s1 = path, n1 = slot, n2 = 1 for recursive: a detached copy of a mount
                        // taken before pivot_root, attached after it with OP_MOVE_MOUNT
  OP_MOVE_MOUNT = 27,   // n1 = slot, s1 = target
  OP_MKDIR = 28,        // s1 = path, n1 = mode: an existing directory is fine, anything else fails
  OP_MKFILE = 29,       // s1 = path, n1 = mode: an existing file is fine, a directory fails
  OP_SYMLINK = 30,      // s1 = link target, s2 = link path
  OP_REMOUNT_RO = 31,   // s1 = mount point: read-only, keeping its locked flags (user namespaces)
  OP_CHECK_DIR = 32,    // s1 = path: must be a directory, not a symlink
  OP_CHECK_CWD = 33,    // the working directory must be inside the root
  OP_REOPEN = 34,       // s1 = directory, n1 = fd number: open it here (this mount namespace) as n1
  OP_MOUNT_AT = 35,     // as OP_MOUNT, but the target directory is opened first (no symlink
                        // followed in its last component) and mounted on through /proc/self/fd
  OP_STEP_WAIT = 36,    // --step: wait for one byte on the sync pipe before going on
  // security (40-49): capability sets, no_new_privs, seccomp; masks and the BPF program are built
  // in TypeScript (src/security/)
  OP_CAP_BOUNDING = 40,  // ids = {keep_lo, keep_hi}: drop every other cap up to n1 (cap_last_cap)
                         // from the bounding set, clear the ambient set; n2 = 1 sets PR_SET_KEEPCAPS
  OP_CAPSET = 41,        // ids = {eff_lo, eff_hi, perm_lo, perm_hi, inh_lo, inh_hi, amb_lo, amb_hi}
  OP_NO_NEW_PRIVS = 42,
  OP_SECCOMP = 43,       // ids = struct sock_filter[nids / 2] as (code|jt<<16|jf<<24, k) word pairs
  // 50-59: hardening (fds, rlimits)
  OP_SETRLIMIT = 50,    // n1 = RLIMIT_*, s1 = soft, s2 = hard (decimal; 18446744073709551615 = unlimited)
};

constexpr int kSlots = 64;

struct Step {
  int32_t op;
  int64_t n1;
  int64_t n2;
  const char* s1;
  const char* s2;
  const char* s3;
  const char* s4;
  const uint32_t* ids;
  int32_t nids;
  int32_t optional;  // mount steps: a missing path (ENOENT) is skipped, not an error
};

struct Plan {
  uint64_t clone_flags;   // CLONE_NEW* handed to clone()
  int32_t nsteps;
  Step* steps;
  char* const* argv;      // NULL-terminated
  char* const* envp;      // NULL-terminated
  int err_fd;             // child's end of the error pipe (write)
  int sync_fd;            // child's end of the sync pipe (read), -1 when there is no await-go
  int parent_err_fd;      // the parent's ends, closed first thing in the child
  int parent_sync_fd;
  // fds the child opens for later steps (OP_OPEN_TREE); written by the child only
  int32_t slots[kSlots];
};

}  // namespace nsrun
