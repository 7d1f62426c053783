// The cloned child: executes the plan's steps between clone and execve.
//
// Rules (see protocol.h and ../design.md): this code shares Node's memory and TLS, so it makes raw
// syscalls only (raw_syscall.h), allocates nothing, throws nothing and reads only the plan, which
// was prepared before the clone. Every failure becomes a ChildReport on the error pipe.
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
__attribute__((noinline)) [[noreturn]] void fork_rest(const Plan* plan, int i) noexcept {
  long pid = sys(SYS_clone, CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
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

long write_file(const char* path, const char* content) noexcept {
  long fd = sys(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0);
  if (failed(fd)) return fd;
  long r = sys(SYS_write, fd, content, cstrlen(content));
  sys(SYS_close, fd);
  return r;
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
        sys(SYS_close, plan->sync_fd);
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
        if (failed(r)) fail(plan, i, "mount", r);
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
        fork_rest(plan, i);
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
