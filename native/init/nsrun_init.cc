// nsrun-init: the sandbox's PID 1 (or, without a PID namespace, a subreaper around the command).
//
// It starts the command in its own process group (the terminal's foreground group when -t),
// forwards signals to it, reaps every orphan, relays job-control stops to the supervisor on the
// control fd, and exits with the command's status. It is a static executable: the dynamic loader
// would be looked up inside the sandbox's root.
//
//   nsrun-init [-c CTLFD] [-t] -- COMMAND [ARG...]
//
// Control records (protocol.h): 'R' the command is running; 'S' the command stopped for job control; 'E' + int32 errno the
// command could not be executed; 'X' + int32 wait status just before exit.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../exec_path.h"
#include "../protocol.h"

extern char** environ;

namespace {

int g_ctl = -1;

void send_record(char kind, const int32_t* value) {
  if (g_ctl < 0) return;
  char buf[1 + sizeof(int32_t)];
  buf[0] = kind;
  size_t len = 1;
  if (value) {
    memcpy(buf + 1, value, sizeof(int32_t));
    len += sizeof(int32_t);
  }
  ssize_t n;
  do n = write(g_ctl, buf, len); while (n < 0 && errno == EINTR);
}

int usage() {
  static const char msg[] = "usage: nsrun-init [-c CTLFD] [-t] -- COMMAND [ARG...]\n";
  ssize_t n = write(2, msg, sizeof(msg) - 1);
  (void)n;
  return 125;
}

bool is_job_control_stop(int sig) { return sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU; }

// Without a PID namespace nothing kills the command's descendants when nsrun dies: nsrun-init
// asks for a catchable signal on its parent's death instead of SIGKILL, and then kills every
// process below it. It is a subreaper, so orphans of dying processes come to it and are
// killed in turn, until it has no children left.
int parent_gone_signal() { return SIGRTMIN + 1; }

bool parent_gone() {
  if (g_ctl < 0) return false;
  struct pollfd p = {g_ctl, POLLOUT, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);  // no reader left on the control pipe
}

[[noreturn]] void kill_descendants() {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
  for (;;) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char buf[4096];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) close(fd);
    if (n > 0) {
      buf[n] = '\0';
      for (char* p = buf; *p;) {
        long pid = strtol(p, &p, 10);
        if (pid > 0) kill((pid_t)pid, SIGKILL);
        while (*p == ' ' || *p == '\n') p++;
      }
    }
    int st;
    pid_t w = waitpid(-1, &st, 0);  // blocks until one goes; orphans come to us meanwhile
    if (w < 0 && errno == ECHILD) _exit(128 + SIGKILL);
  }
}

struct ExecChild {
  char** cmd;
  bool tty;
  int errfd;
};

alignas(16) char g_child_stack[64 * 1024];

// The command's process, until its exec: its own process group (the terminal's foreground one
// with -t; SIGTTOU is still blocked here), killed if we die, signals unblocked for the command.
int exec_child(void* p) {
  const ExecChild* a = (const ExecChild*)p;
  setpgid(0, 0);
  if (a->tty) tcsetpgrp(0, getpid());
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int32_t err = nsrun::exec_search(a->cmd[0], getenv("PATH"), a->cmd, environ);
  ssize_t n = write(a->errfd, &err, sizeof(err));
  (void)n;
  _exit(127);
}

}  // namespace

int main(int argc, char** argv) {
  bool tty = false;
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--")) { i++; break; }
    if (!strcmp(argv[i], "-t")) tty = true;
    else if (!strcmp(argv[i], "-c") && i + 1 < argc) g_ctl = atoi(argv[++i]);
    else return usage();
  }
  if (i >= argc) return usage();
  char** cmd = argv + i;
  if (g_ctl >= 0) fcntl(g_ctl, F_SETFD, FD_CLOEXEC);
  // Exec'd from a sealed memfd, the kernel may name us after the fd: say who we are in ps.
  prctl(PR_SET_NAME, "nsrun-init");
  if (tty && !isatty(0)) tty = false;

  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  bool pid1 = getpid() == 1;
  if (!pid1) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    // Replaces the SIGKILL nsrun's child set (PID 1's death kills its namespace by itself).
    prctl(PR_SET_PDEATHSIG, parent_gone_signal());
    if (parent_gone()) return 125;  // died before the prctl: nothing started yet
  }

  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) return 125;
  // CLONE_VM|CLONE_VFORK, as posix_spawn: no copy of our page tables (~0.5 ms of every start on a
  // VM that shadows them), and we go on once the command is exec'd. The child runs on its own
  // stack, makes calls on its own task only and execs or _exits.
  ExecChild args{cmd, tty, errpipe[1]};
  pid_t child = clone(exec_child, g_child_stack + sizeof(g_child_stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  if (child < 0) return 125;
  setpgid(child, child);  // also from this side, so the group exists before any signal
  close(errpipe[1]);
  int32_t exec_err = 0;
  ssize_t n;
  do n = read(errpipe[0], &exec_err, sizeof(exec_err)); while (n < 0 && errno == EINTR);
  close(errpipe[0]);
  if (n == (ssize_t)sizeof(exec_err)) {
    send_record(nsrun::INIT_EXEC_FAILED, &exec_err);
    int st;
    waitpid(child, &st, 0);
    return exec_err == ENOENT ? 127 : 126;
  }
  send_record(nsrun::INIT_RUNNING, nullptr);

  int status = 0;
  bool done = false;
  while (!done) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, WNOHANG | WUNTRACED);
        if (w <= 0) break;
        if (w != child) continue;  // an orphan: reaped, nothing else to do
        if (WIFSTOPPED(st)) {
          if (is_job_control_stop(WSTOPSIG(st))) {
            if (tty) tcsetpgrp(0, getpgrp());
            send_record(nsrun::INIT_STOPPED, nullptr);
          }
          continue;
        }
        status = st;
        done = true;
      }
    } else if (sig == SIGCONT) {
      if (tty) tcsetpgrp(0, child);
      kill(-child, SIGCONT);
    } else if (is_job_control_stop(sig)) {
      // PID 1 does not stop; the command's own group gets these from its terminal.
    } else if (!pid1 && sig == parent_gone_signal() && parent_gone()) {
      kill_descendants();
    } else {
      kill(child, sig);
    }
  }
  int32_t st32 = status;
  send_record(nsrun::INIT_EXITED, &st32);
  if (pid1) kill(-1, SIGKILL);  // nothing outlives the command inside its PID namespace
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
