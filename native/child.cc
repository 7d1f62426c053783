// The cloned child: executes the plan's steps between clone and execve.
//
// Rules (see protocol.h and ../design.md): this code shares Node's memory and TLS, so it makes raw
// syscalls only (raw_syscall.h), allocates nothing, throws nothing and reads only the plan, which
// was prepared before the clone. Every failure becomes a ChildReport on the error pipe.
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <linux/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>

#include "exec_path.h"
#include "protocol.h"
#include "raw_syscall.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_execveat
#define SYS_execveat 322
#endif

namespace nsrun {
namespace child {
namespace {

// The kernel's struct sigaction (not glibc's).
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

[[noreturn]] void die(int code) noexcept {
  for (;;) sys(SYS_exit_group, code);
}

[[noreturn]] void fail(const Plan* plan, int step, const char* syscall, long rc) noexcept {
  ChildReport r;
  r.magic = REPORT_MAGIC;
  r.step = step;
  r.err = (int)-rc;
  size_t i = 0;
  for (; syscall[i] && i < sizeof(r.syscall) - 1; i++) r.syscall[i] = syscall[i];
  for (; i < sizeof(r.syscall); i++) r.syscall[i] = '\0';
  sys(SYS_write, plan->err_fd, &r, sizeof(r));
  die(125);
}

void reset_signal_dispositions() noexcept {
  KernelSigaction dfl = {nullptr, 0, nullptr, 0};  // SIG_DFL
  for (int sig = 1; sig < 65; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sys(SYS_rt_sigaction, sig, &dfl, nullptr, 8);
  }
}

long loopback_up(const char* name) noexcept {
  long s = sys(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (failed(s)) return s;
  struct ifreq ifr;
  char* p = (char*)&ifr;
  for (size_t i = 0; i < sizeof(ifr); i++) p[i] = 0;
  for (size_t i = 0; name[i] && i < IFNAMSIZ - 1; i++) ifr.ifr_name[i] = name[i];
  long r = sys(SYS_ioctl, s, SIOCGIFFLAGS, &ifr);
  if (!failed(r)) {
    ifr.ifr_flags |= IFF_UP;
    r = sys(SYS_ioctl, s, SIOCSIFFLAGS, &ifr);
  }
  sys(SYS_close, s);
  return r;
}

long dup_to(long from, long to) noexcept {
  if (from == to) return sys(SYS_fcntl, to, F_SETFD, 0);
  return sys(SYS_dup3, from, to, 0);
}

long send_fd(int sock, int fd) noexcept {
  char byte = 'P';
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  for (size_t i = 0; i < sizeof(u.buf); i++) u.buf[i] = 0;
  struct msghdr msg;
  char* m = (char*)&msg;
  for (size_t i = 0; i < sizeof(msg); i++) m[i] = 0;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof(u.buf);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  *(int*)CMSG_DATA(c) = fd;
  return sys(SYS_sendmsg, sock, &msg, MSG_NOSIGNAL);
}

// The child's own pseudo-terminal, allocated through ptmx_path so that it lives in the devpts
// instance the sandbox sees; the master goes to the parent over `sock`.
void setup_pty(const Plan* plan, int i, const Step& s) noexcept {
  long master = sys(SYS_openat, AT_FDCWD, s.s1, O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
  if (failed(master)) fail(plan, i, "open", master);
  int unlock = 0;
  long r = sys(SYS_ioctl, master, TIOCSPTLCK, &unlock);
  if (failed(r)) fail(plan, i, "ioctl(TIOCSPTLCK)", r);
  struct winsize ws = {(unsigned short)((s.n2 >> 16) & 0xffff), (unsigned short)(s.n2 & 0xffff), 0, 0};
  if (ws.ws_row && ws.ws_col) sys(SYS_ioctl, master, TIOCSWINSZ, &ws);
  long slave = sys(SYS_ioctl, master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (failed(slave)) fail(plan, i, "ioctl(TIOCGPTPEER)", slave);
  r = sys(SYS_setsid);
  if (failed(r)) fail(plan, i, "setsid", r);
  r = sys(SYS_ioctl, slave, TIOCSCTTY, 0);
  if (failed(r)) fail(plan, i, "ioctl(TIOCSCTTY)", r);
  r = send_fd((int)s.n1, (int)master);
  if (failed(r)) fail(plan, i, "sendmsg", r);
  for (int fd = 0; fd < 3; fd++) {
    r = sys(SYS_dup3, slave, fd, 0);
    if (failed(r)) fail(plan, i, "dup3", r);
  }
  sys(SYS_close, slave);
  sys(SYS_close, master);
  sys(SYS_close, s.n1);
}

long mark_cloexec_from(int first) noexcept {
  long r = sys(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC);
  if (r != -ENOSYS && r != -EINVAL) return r;
  // Kernels before 5.11: walk the fd numbers up to the soft limit.
  struct { uint64_t cur, max; } lim = {1024, 1024};
  sys(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &lim);
  uint64_t top = lim.cur > 65536 ? 65536 : lim.cur;
  for (uint64_t fd = (uint64_t)first; fd < top; fd++) sys(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
  return 0;
}

[[noreturn]] void run_steps(const Plan* plan, int first) noexcept;

// vfork semantics on the shared stack: the new process runs the remaining steps and leaves only by
// execve or exit, and this one stays suspended until then; it then reports the pid and exits.
// noinline keeps this frame, the only one both of them return into, small and separate.
// own_memory: a plain fork instead, because setns(CLONE_NEWTIME) refuses (EUSERS) a process whose
// memory is shared with another (ours is Node's); the copy is made of Node's address space, once.
__attribute__((noinline)) [[noreturn]] void fork_rest(const Plan* plan, int i, bool own_memory) noexcept {
  unsigned long flags = own_memory ? CLONE_PARENT | SIGCHLD : CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD;
  long pid = sys(SYS_clone, flags, 0, 0, 0, 0);
  if (pid == 0) {
    sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
    run_steps(plan, i + 1);
  }
  if (failed(pid)) fail(plan, i, "clone", pid);
  ChildReport r;
  r.magic = PID_MAGIC;
  r.step = i;
  r.err = (int)pid;
  for (size_t k = 0; k < sizeof(r.syscall); k++) r.syscall[k] = '\0';
  sys(SYS_write, plan->err_fd, &r, sizeof(r));
  die(0);
}

// Statfs flags that a remount must repeat: in a user namespace they are locked (EPERM otherwise).
long remount_ro(const char* path) noexcept {
  struct statfs st;
  long r = sys(SYS_statfs, path, &st);
  if (failed(r)) return r;
  unsigned long keep = 0;
  const unsigned long kept[] = {ST_NOSUID, ST_NODEV, ST_NOEXEC, ST_NOATIME, ST_NODIRATIME, ST_RELATIME};
  for (unsigned long f : kept) {
    if (st.f_flags & f) keep |= f;  // ST_* and MS_* have the same values for these
  }
  return sys(SYS_mount, nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, nullptr);
}

long pivot_into(const char* root) noexcept {
  long r = sys(SYS_chdir, root);
  if (failed(r)) return r;
  // pivot_root(".", "."): the old root ends up mounted on top of the new one, then goes away.
  r = sys(SYS_pivot_root, ".", ".");
  if (failed(r)) return r;
  r = sys(SYS_umount2, ".", MNT_DETACH);
  if (failed(r)) return r;
  return sys(SYS_chdir, "/");
}

// mkdir -p for the directories above path (0755); existing ones are fine.
long make_parents(const char* path) noexcept {
  char buf[PATH_MAX];
  size_t n = cstrlen(path);
  if (n >= sizeof(buf)) return -ENAMETOOLONG;
  for (size_t i = 0; i <= n; i++) buf[i] = path[i];
  for (size_t i = 1; i < n; i++) {
    if (buf[i] != '/') continue;
    buf[i] = '\0';
    long r = sys(SYS_mkdirat, AT_FDCWD, buf, 0755);
    buf[i] = '/';
    if (failed(r) && r != -EEXIST) return r;
  }
  return 0;
}

long make_dir(const char* path, long mode) noexcept {
  long r = make_parents(path);
  if (failed(r) && r != -EROFS) return r;  // a read-only root may well have them already
  r = sys(SYS_mkdirat, AT_FDCWD, path, mode);
  if (r == -EEXIST) {
    // it must be a real directory: not a file, and not a symlink to somewhere else
    long fd = sys(SYS_openat, AT_FDCWD, path, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC, 0);
    if (failed(fd)) return fd;
    sys(SYS_close, fd);
    return 0;
  }
  return r;
}

long make_file(const char* path, long mode) noexcept {
  long p = make_parents(path);
  if (failed(p) && p != -EROFS) return p;
  long fd = sys(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
  if (fd == -EROFS || fd == -EACCES) {
    // read-only root or no write access: fine if the file is already there
    long e = sys(SYS_openat, AT_FDCWD, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
    if (failed(e)) return fd;
    struct stat st;
    long r = sys(SYS_fstat, e, &st);
    sys(SYS_close, e);
    if (failed(r)) return r;
    return S_ISDIR(st.st_mode) ? -EISDIR : 0;
  }
  if (failed(fd)) return fd;
  sys(SYS_close, fd);
  return 0;
}

// "/proc/self/fd/<fd>" into buf, without allocation or stdio.
void fd_path(char* buf, long fd) noexcept {
  const char prefix[] = "/proc/self/fd/";
  size_t n = 0;
  for (; prefix[n]; n++) buf[n] = prefix[n];
  char digits[24];
  size_t k = 0;
  do {
    digits[k++] = (char)('0' + fd % 10);
    fd /= 10;
  } while (fd > 0);
  while (k > 0) buf[n++] = digits[--k];
  buf[n] = '\0';
}

long mount_at(const Step& s) noexcept {
  long fd = sys(SYS_openat, AT_FDCWD, s.s2, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC, 0);
  if (failed(fd)) return fd;
  char target[48];
  fd_path(target, fd);
  unsigned long flags = (unsigned long)(uint32_t)s.n1 | ((unsigned long)(uint32_t)s.n2 << 32);
  long r = sys(SYS_mount, s.s1, target, s.s3, flags, s.s4);
  sys(SYS_close, fd);
  return r;
}

long reopen(const char* path, long target) noexcept {
  long fd = sys(SYS_openat, AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (failed(fd)) return fd;
  long r = sys(SYS_dup3, fd, target, O_CLOEXEC);
  sys(SYS_close, fd);
  return r;
}

long check_cwd() noexcept {
  char buf[PATH_MAX];
  long r = sys(SYS_getcwd, buf, sizeof(buf));
  if (failed(r)) return r;
  // the kernel prefixes "(unreachable)" when the cwd is outside the root
  return buf[0] == '/' ? 0 : -EXDEV;
}

// Decimal text to a number, without libc; the plan was checked in TypeScript.
uint64_t parse_u64(const char* s) noexcept {
  uint64_t v = 0;
  for (; s && *s >= '0' && *s <= '9'; s++) v = v * 10 + (uint64_t)(*s - '0');
  return v;
}

long set_rlimit(const Step& s) noexcept {
  struct { uint64_t cur, max; } lim = {parse_u64(s.s1), parse_u64(s.s2)};
  return sys(SYS_prlimit64, 0, s.n1, &lim, nullptr);
}

long write_file(const char* path, const char* content) noexcept {
  long fd = sys(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0);
  if (failed(fd)) return fd;
  long r = sys(SYS_write, fd, content, cstrlen(content));
  sys(SYS_close, fd);
  return r;
}

// Bounding set first (needs CAP_SETPCAP, so before any uid change), then the ambient set.
void cap_bounding(const Plan* plan, int i, const Step& s) noexcept {
  for (long cap = 0; cap <= s.n1 && cap < 64; cap++) {
    uint32_t word = s.nids >= 2 ? s.ids[cap / 32] : 0;
    if (word & (1u << (cap % 32))) continue;
    long r = sys(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0);
    if (r == -EINVAL) break;  // past the kernel's last capability
    if (failed(r)) fail(plan, i, "prctl(PR_CAPBSET_DROP)", r);
  }
  long r = sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (failed(r) && r != -EINVAL) fail(plan, i, "prctl(PR_CAP_AMBIENT)", r);
  if (s.n2) {
    r = sys(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0);
    if (failed(r)) fail(plan, i, "prctl(PR_SET_KEEPCAPS)", r);
  }
}

void cap_set(const Plan* plan, int i, const Step& s) noexcept {
  if (s.nids < 8) fail(plan, i, "plan", -EINVAL);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  for (int w = 0; w < 2; w++) {
    data[w].effective = s.ids[0 + w];
    data[w].permitted = s.ids[2 + w];
    data[w].inheritable = s.ids[4 + w];
  }
  long r = sys(SYS_capset, &hdr, data);
  if (failed(r)) fail(plan, i, "capset", r);
  for (long cap = 0; cap < 64; cap++) {
    if (!(s.ids[6 + cap / 32] & (1u << (cap % 32)))) continue;
    r = sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    if (failed(r)) fail(plan, i, "prctl(PR_CAP_AMBIENT_RAISE)", r);
  }
}

static_assert(sizeof(struct sock_filter) == 8 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the plan carries sock_filter as little-endian 32-bit word pairs");

long install_seccomp(const Step& s) noexcept {
  struct sock_fprog prog;
  prog.len = (unsigned short)(s.nids / 2);
  prog.filter = (struct sock_filter*)s.ids;  // same layout: u16 code, u8 jt, u8 jf, u32 k
  return sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

}  // namespace

int run(void* arg) noexcept {
  const Plan* plan = (const Plan*)arg;
  reset_signal_dispositions();
  sys(SYS_close, plan->parent_err_fd);
  if (plan->parent_sync_fd >= 0) sys(SYS_close, plan->parent_sync_fd);
  // Provisional: dies with the spawning thread from here on (set again after credential changes).
  sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  run_steps(plan, 0);
}

namespace {

void run_steps(const Plan* plan, int first) noexcept {
  for (int i = first; i < plan->nsteps; i++) {
    const Step& s = plan->steps[i];
    long r = 0;
    switch (s.op) {
      case OP_AWAIT_GO: {
        uint8_t b = 0;
        do r = sys(SYS_read, plan->sync_fd, &b, 1); while (r == -EINTR);
        if (r == 0) die(125);  // the parent went away before finishing its side
        if (failed(r)) fail(plan, i, "read", r);
        if (b != SYNC_GO) fail(plan, i, "read", -EPROTO);
        if (!s.n1) sys(SYS_close, plan->sync_fd);  // n1: keep it for OP_STEP_WAIT (--step)
        break;
      }
      case OP_STEP_WAIT: {
        // --step: the parent writes one byte per step, after the user pressed Enter
        uint8_t b = 0;
        do r = sys(SYS_read, plan->sync_fd, &b, 1); while (r == -EINTR);
        if (r == 0) die(125);  // aborted
        if (failed(r)) fail(plan, i, "read", r);
        break;
      }
      case OP_UNSHARE:
        r = sys(SYS_unshare, s.n1);
        if (failed(r)) fail(plan, i, "unshare", r);
        break;
      case OP_SETHOSTNAME:
        r = sys(SYS_sethostname, s.s1, cstrlen(s.s1));
        if (failed(r)) fail(plan, i, "sethostname", r);
        break;
      case OP_MOUNT: {
        unsigned long flags = (unsigned long)(uint32_t)s.n1 | ((unsigned long)(uint32_t)s.n2 << 32);
        r = sys(SYS_mount, s.s1, s.s2, s.s3, flags, s.s4);
        if (failed(r) && !(s.optional && r == -ENOENT)) fail(plan, i, "mount", r);
        break;
      }
      case OP_LOOPBACK_UP:
        r = loopback_up(s.s1);
        if (failed(r)) fail(plan, i, "ioctl(SIOCSIFFLAGS)", r);
        break;
      case OP_SETGROUPS:
        r = sys(SYS_setgroups, s.nids, s.ids);
        if (failed(r)) fail(plan, i, "setgroups", r);
        break;
      case OP_SETRESGID:
        r = sys(SYS_setresgid, s.n1, s.n1, s.n1);
        if (failed(r)) fail(plan, i, "setresgid", r);
        break;
      case OP_SETRESUID:
        r = sys(SYS_setresuid, s.n1, s.n1, s.n1);
        if (failed(r)) fail(plan, i, "setresuid", r);
        break;
      case OP_CHDIR:
        r = sys(SYS_chdir, s.s1);
        if (failed(r)) fail(plan, i, "chdir", r);
        break;
      case OP_PDEATHSIG: {
        r = sys(SYS_prctl, PR_SET_PDEATHSIG, s.n1);
        if (failed(r)) fail(plan, i, "prctl(PR_SET_PDEATHSIG)", r);
        // The parent may have died before the prctl: it holds the read end of the error pipe,
        // so a write end with no reader left (POLLERR) means it is gone.
        struct pollfd p = {plan->err_fd, POLLOUT, 0};
        sys(SYS_poll, &p, 1, 0);
        if (p.revents & POLLERR) die(125);
        break;
      }
      case OP_SETSID:
        r = sys(SYS_setsid);
        if (failed(r)) fail(plan, i, "setsid", r);
        break;
      case OP_PTY:
        setup_pty(plan, i, s);
        break;
      case OP_DUP2:
        r = dup_to(s.n1, s.n2);
        if (failed(r)) fail(plan, i, "dup3", r);
        break;
      case OP_STDIO_INHERIT:
        for (int fd = 0; fd < 3; fd++) {
          r = sys(SYS_fcntl, fd, F_SETFD, 0);
          if (failed(r) && r != -EBADF) fail(plan, i, "fcntl", r);
        }
        break;
      case OP_CLOSE_FROM:
        r = mark_cloexec_from((int)s.n1);
        if (failed(r)) fail(plan, i, "close_range", r);
        break;
      case OP_SETNAME:
        sys(SYS_prctl, PR_SET_NAME, s.s1);
        break;
      case OP_DUMPABLE:
        r = sys(SYS_prctl, PR_SET_DUMPABLE, s.n1);
        if (failed(r)) fail(plan, i, "prctl(PR_SET_DUMPABLE)", r);
        break;
      case OP_SETNS_PIDFD:
        r = sys(SYS_setns, s.n1, s.n2);
        if (failed(r)) fail(plan, i, "setns", r);
        break;
      case OP_SETNS_FD:
        r = sys(SYS_setns, s.n1, s.n2);
        if (failed(r)) fail(plan, i, "setns", r);
        break;
      case OP_FORK:
        fork_rest(plan, i, s.n1 != 0);
      case OP_FCHROOT:
        r = sys(SYS_fchdir, s.n1);
        if (failed(r)) fail(plan, i, "fchdir", r);
        r = sys(SYS_chroot, ".");
        if (failed(r)) fail(plan, i, "chroot", r);
        break;
      case OP_FCHDIR:
        r = sys(SYS_fchdir, s.n1);
        if (failed(r)) fail(plan, i, "fchdir", r);
        break;
      case OP_WRITE_FILE:
        r = write_file(s.s1, s.s2);
        if (failed(r)) fail(plan, i, "write", r);
        break;
      case OP_PIVOT_ROOT:
        r = pivot_into(s.s1);
        if (failed(r)) fail(plan, i, "pivot_root", r);
        break;
      case OP_OPEN_TREE: {
        unsigned long flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (s.n2 ? AT_RECURSIVE : 0);
        r = sys(SYS_open_tree, AT_FDCWD, s.s1, flags);
        if (failed(r)) fail(plan, i, "open_tree", r);
        ((Plan*)plan)->slots[s.n1] = (int32_t)r;
        break;
      }
      case OP_MOVE_MOUNT: {
        int fd = plan->slots[s.n1];
        r = sys(SYS_move_mount, fd, "", AT_FDCWD, s.s1, MOVE_MOUNT_F_EMPTY_PATH);
        if (failed(r)) fail(plan, i, "move_mount", r);
        sys(SYS_close, fd);
        break;
      }
      case OP_MKDIR:
        r = make_dir(s.s1, s.n1);
        if (failed(r)) fail(plan, i, "mkdir", r);
        break;
      case OP_MKFILE:
        r = make_file(s.s1, s.n1);
        if (failed(r)) fail(plan, i, "open", r);
        break;
      case OP_SYMLINK:
        r = sys(SYS_symlinkat, s.s1, AT_FDCWD, s.s2);
        if (failed(r) && r != -EEXIST) fail(plan, i, "symlink", r);
        break;
      case OP_REMOUNT_RO:
        r = remount_ro(s.s1);
        if (failed(r) && !(s.optional && r == -ENOENT)) fail(plan, i, "mount", r);
        break;
      case OP_CHECK_DIR: {
        long fd = sys(SYS_openat, AT_FDCWD, s.s1, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC, 0);
        if (failed(fd)) fail(plan, i, "open", fd);
        sys(SYS_close, fd);
        break;
      }
      case OP_REOPEN:
        r = reopen(s.s1, s.n1);
        if (failed(r)) fail(plan, i, "open", r);
        break;
      case OP_MOUNT_AT:
        r = mount_at(s);
        if (failed(r)) fail(plan, i, "mount", r);
        break;
      case OP_SETRLIMIT:
        r = set_rlimit(s);
        if (failed(r)) fail(plan, i, "prlimit64", r);
        break;
      case OP_CHECK_CWD:
        r = check_cwd();
        if (failed(r)) fail(plan, i, "getcwd", r);
        break;
      case OP_CAP_BOUNDING:
        cap_bounding(plan, i, s);
        break;
      case OP_CAPSET:
        cap_set(plan, i, s);
        break;
      case OP_NO_NEW_PRIVS:
        r = sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (failed(r)) fail(plan, i, "prctl(PR_SET_NO_NEW_PRIVS)", r);
        break;
      case OP_SECCOMP:
        r = install_seccomp(s);
        if (failed(r)) fail(plan, i, "seccomp", r);
        break;
      case OP_EXEC: {
        uint64_t empty = 0;
        sys(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, 8);
        if (s.n1 >= 0) {
          r = sys(SYS_execveat, s.n1, "", plan->argv, plan->envp, AT_EMPTY_PATH);
        } else {
          r = -exec_search(s.s1, s.s2, plan->argv, plan->envp);
        }
        // Block again so nothing runs a handler on this borrowed stack while reporting.
        uint64_t all = ~0ULL;
        sys(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, 8);
        fail(plan, i, s.n1 >= 0 ? "execveat" : "execve", r);
      }
      default:
        fail(plan, i, "plan", -EINVAL);
    }
  }
  fail(plan, plan->nsteps, "plan", -ENOEXEC);  // a plan must end with an exec step
}

}  // namespace
}  // namespace child
}  // namespace nsrun
