// nsrun-supervise: what stays of the nsrun CLI on the host while its sandbox runs.
//
// Once the command runs, the CLI execs this program in place of Node (same PID, same terminal
// job, same parent shell), so a running sandbox costs the host a few hundred KB instead of a Node
// heap. It holds what Node held: the pidfd of the sandbox's first process (our child), nsrun-init's
// control pipe and the terminal relay. It forwards signals, relays the pty (raw mode, window size,
// job-control stops), drains the output, reports the command's status as the shell expects, then
// undoes what the run created: the registry entry and the cgroup. Everything that needs policy was
// decided in TypeScript before the exec; this program only carries it out.
//
// Its instructions come on a pipe named by NSRUN_SUPERVISE_FD, as NUL-separated key/value pairs,
// so that argv (what ps shows) can stay the user's own nsrun command line:
//   pidfd FD | status WAITSTATUS   the first process to wait for, or its status if already reaped
//   control FD                      nsrun-init's control pipe ('S' stops, 'X' final status)
//   pty FD                          the pty master: relay it with fds 0/1, caller's terminal raw
//   relay-in FD, relay-out FD, relay-err FD   pipes standing in for terminals (inherit mode)
//   oom-file PATH, oom-prefix TEXT  memory.events / memory.oom_control and the message's start
//   unregister PATH, unregister-id DEV:INO    the registry entry, removed if it is still ours
//   cgroup DIR (repeated), cgroup-record PATH the sandbox's cgroup and the record naming it
//   cleanup ARG (repeated)          run (with the status appended) when a cgroup will not rmdir:
//                                   it kills what is left and removes it, as the library does
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../protocol.h"

extern char** environ;

namespace {

constexpr int kMaxCgroups = 16;
constexpr int kMaxCleanupArgs = 16;
constexpr int kDrainMs = 300;  // output still in flight after the exit: as long as Node waited

struct Options {
  int pidfd = -1;
  int status = -1;
  int control = -1;
  int pty = -1;
  int relay[3] = {-1, -1, -1};
  const char* oom_file = nullptr;
  const char* oom_prefix = nullptr;
  const char* unregister = nullptr;
  const char* unregister_id = nullptr;
  const char* cgroups[kMaxCgroups];
  int ncgroups = 0;
  const char* cgroup_record = nullptr;
  char* cleanup[kMaxCleanupArgs + 2];
  int ncleanup = 0;
};

Options g;
int g_sigfd = -1;
bool g_raw = false;
struct termios g_saved;

long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void say(const char* a, const char* b = "", const char* c = "") {
  char buf[1024];
  int n = snprintf(buf, sizeof(buf), "nsrun: %s%s%s\n", a, b, c);
  if (n > 0) {
    ssize_t w = write(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    (void)w;
  }
}

bool read_options(int fd) {
  static char buf[65536];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == sizeof(buf) - 1) return false;
  }
  close(fd);
  buf[len] = '\0';
  char* p = buf;
  char* end = buf + len;
  while (p < end) {
    char* key = p;
    p += strlen(p) + 1;
    if (p >= end) return false;
    char* val = p;
    p += strlen(p) + 1;
    if (!strcmp(key, "pidfd")) g.pidfd = atoi(val);
    else if (!strcmp(key, "status")) g.status = atoi(val);
    else if (!strcmp(key, "control")) g.control = atoi(val);
    else if (!strcmp(key, "pty")) g.pty = atoi(val);
    else if (!strcmp(key, "relay-in")) g.relay[0] = atoi(val);
    else if (!strcmp(key, "relay-out")) g.relay[1] = atoi(val);
    else if (!strcmp(key, "relay-err")) g.relay[2] = atoi(val);
    else if (!strcmp(key, "oom-file")) g.oom_file = val;
    else if (!strcmp(key, "oom-prefix")) g.oom_prefix = val;
    else if (!strcmp(key, "unregister")) g.unregister = val;
    else if (!strcmp(key, "unregister-id")) g.unregister_id = val;
    else if (!strcmp(key, "cgroup") && g.ncgroups < kMaxCgroups) g.cgroups[g.ncgroups++] = val;
    else if (!strcmp(key, "cgroup-record")) g.cgroup_record = val;
    else if (!strcmp(key, "cleanup") && g.ncleanup < kMaxCleanupArgs) g.cleanup[g.ncleanup++] = val;
    else return false;
  }
  return g.pidfd >= 0 || g.status >= 0;
}

// Every fd but 0-2 and the ones named in the options goes: Node's were close-on-exec, but a
// library the user loaded may not have been so careful.
void close_others() {
  int keep[6] = {g.pidfd, g.control, g.pty, g.relay[0], g.relay[1], g.relay[2]};
  for (int i = 1; i < 6; i++)  // ascending, so the gaps between them can be closed as ranges
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
      int t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  unsigned lo = 3;
  for (int k : keep) {
    if (k < (int)lo) continue;
    if (k > (int)lo) syscall(SYS_close_range, lo, (unsigned)k - 1, 0);
    fcntl(k, F_SETFD, FD_CLOEXEC);
    lo = (unsigned)k + 1;
  }
  syscall(SYS_close_range, lo, ~0U, 0);
}

// The terminal mode libuv's setRawMode uses, so the relay behaves as it did under Node.
void set_raw(bool on) {
  if (g.pty < 0 || on == g_raw) return;
  if (on) {
    if (tcgetattr(0, &g_saved) < 0) return;
    struct termios t = g_saved;
    t.c_iflag &= ~(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    t.c_oflag |= ONLCR;
    t.c_cflag |= CS8;
    t.c_lflag &= ~(ECHO | ICANON | IEXTEN | ISIG);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(0, TCSADRAIN, &t) == 0) g_raw = true;
  } else {
    tcsetattr(0, TCSADRAIN, &g_saved);
    g_raw = false;
  }
}

void resize() {
  struct winsize ws;
  if (g.pty >= 0 && ioctl(1, TIOCGWINSZ, &ws) == 0) ioctl(g.pty, TIOCSWINSZ, &ws);
}

int send_signal(int sig) { return g.pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, g.pidfd, sig, nullptr, 0) : -1; }

// One direction of the relay: bytes read from `from` wait in `buf` until `to` takes them.
struct Relay {
  int from = -1;
  int to = -1;
  bool close_to_at_eof = false;  // the input relay: the command sees EOF when the caller's stdin ends
  char buf[16384];
  size_t len = 0;
  size_t off = 0;
  bool eof = false;
  bool broken = false;  // `to` failed: keep reading so the sandbox never blocks, drop the bytes

  bool active() const { return from >= 0 && !eof; }
  bool pending() const { return len > off; }
  void read_some() {
    ssize_t n = read(from, buf, sizeof(buf));
    if (n > 0) {
      len = (size_t)n;
      off = 0;
      if (broken) len = off = 0;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      eof = true;  // EIO on a pty master: every slave fd is closed
      finish();
    }
  }
  void write_some() {
    ssize_t n = write(to, buf + off, len - off);
    if (n > 0) off += (size_t)n;
    else if (n < 0 && errno != EINTR && errno != EAGAIN) {
      broken = true;
      len = off = 0;
    }
    if (off == len) {
      len = off = 0;
      if (eof) finish();
    }
  }
  void finish() {
    if (close_to_at_eof && !pending() && to >= 0) {
      close(to);
      to = -1;
    }
  }
};

Relay g_relays[4];
int g_nrelays = 0;

void add_relay(int from, int to, bool close_to_at_eof) {
  Relay& r = g_relays[g_nrelays++];
  r.from = from;
  r.to = to;
  r.close_to_at_eof = close_to_at_eof;
  // our own ends (pipes, the master) never block the loop; the caller's fds stay as they are
  if (from > 2) fcntl(from, F_SETFL, fcntl(from, F_GETFL) | O_NONBLOCK);
  if (to > 2) fcntl(to, F_SETFL, fcntl(to, F_GETFL) | O_NONBLOCK);
}

// The command stopped for job control (Ctrl-Z on a non-shell): hand the terminal back and stop
// ourselves; once a shell's fg/bg continues us, take it again and continue the command.
void job_stop() {
  set_raw(false);
  kill(getpid(), SIGTSTP);
  set_raw(true);
  resize();
  send_signal(SIGCONT);
}

int g_final = -1;  // the 'X' record: the command's own wait status
char g_ctlbuf[8];
size_t g_ctllen = 0;

void read_control() {
  ssize_t n = read(g.control, g_ctlbuf + g_ctllen, sizeof(g_ctlbuf) - g_ctllen);
  if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
    close(g.control);
    g.control = -1;
    return;
  }
  if (n < 0) return;
  g_ctllen += (size_t)n;
  while (g_ctllen > 0) {
    char kind = g_ctlbuf[0];
    size_t need = kind == nsrun::INIT_EXITED || kind == nsrun::INIT_EXEC_FAILED ? 5 : 1;
    if (g_ctllen < need) break;
    if (kind == nsrun::INIT_EXITED) memcpy(&g_final, g_ctlbuf + 1, 4);
    else if (kind == nsrun::INIT_STOPPED && g.pty >= 0) job_stop();
    memmove(g_ctlbuf, g_ctlbuf + need, g_ctllen - need);
    g_ctllen -= need;
  }
}

void on_signal() {
  struct signalfd_siginfo si;
  while (read(g_sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
    if (si.ssi_signo == SIGWINCH) resize();
    else send_signal((int)si.ssi_signo);
  }
}

// The loop: until the first process is reaped (and then for at most kDrainMs, while output
// and the control pipe still have something to say).
int run_loop() {
  int status = g.status;
  long drain_until = status >= 0 ? now_ms() + kDrainMs : -1;
  for (;;) {
    struct pollfd p[12];
    int kinds[12];  // -1 pidfd, -2 signals, -3 control, else relay index * 2 (+1 for output)
    int n = 0;
    if (status < 0) p[n] = {g.pidfd, POLLIN, 0}, kinds[n++] = -1;
    p[n] = {g_sigfd, POLLIN, 0}, kinds[n++] = -2;
    if (g.control >= 0) p[n] = {g.control, POLLIN, 0}, kinds[n++] = -3;
    bool busy = g.control >= 0;
    for (int i = 0; i < g_nrelays; i++) {
      Relay& r = g_relays[i];
      bool input = r.close_to_at_eof || (g.pty >= 0 && r.from == 0);
      if (r.pending() && r.to >= 0) p[n] = {r.to, POLLOUT, 0}, kinds[n++] = i * 2 + 1;
      else if (r.active() && !(status >= 0 && input)) p[n] = {r.from, POLLIN, 0}, kinds[n++] = i * 2;
      if (!input && (r.active() || r.pending())) busy = true;
    }
    int timeout = -1;
    if (drain_until >= 0) {
      long left = drain_until - now_ms();
      if (!busy || left <= 0) break;
      timeout = (int)left;
    }
    int ready = poll(p, (nfds_t)n, timeout);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < n && ready > 0; i++) {
      if (!p[i].revents) continue;
      int k = kinds[i];
      if (k == -1) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (syscall(SYS_waitid, P_PIDFD, g.pidfd, &si, WEXITED, nullptr) < 0) {
          if (errno == EINTR) continue;
          si.si_code = CLD_EXITED;  // not ours to reap after all: nothing more to learn
          si.si_status = 125;
        }
        status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 : (si.si_status & 0x7f);
        close(g.pidfd);
        g.pidfd = -1;
        drain_until = now_ms() + kDrainMs;
      } else if (k == -2) {
        on_signal();
      } else if (k == -3) {
        read_control();
      } else if (k & 1) {
        g_relays[k / 2].write_some();
      } else {
        g_relays[k / 2].read_some();
      }
    }
  }
  return g_final >= 0 ? g_final : status;
}

int shell_status(int ws) { return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws); }

// "oom_kill N" in memory.events (v2) or memory.oom_control (v1, since Linux 4.13).
long oom_kills() {
  if (!g.oom_file) return 0;
  int fd = open(g.oom_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  for (char* line = buf; line && *line;) {
    if (!strncmp(line, "oom_kill ", 9)) return atol(line + 9);
    line = strchr(line, '\n');
    if (line) line++;
  }
  return 0;
}

void unregister() {
  if (!g.unregister || !g.unregister_id) return;
  struct stat st;
  char id[64];
  if (lstat(g.unregister, &st) < 0) return;
  snprintf(id, sizeof(id), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
  if (!strcmp(id, g.unregister_id)) unlink(g.unregister);  // another sandbox may own the name now
}

// The cgroup is normally empty by now (the PID namespace or nsrun-init took everything with it):
// then rmdir is all it takes. A task leaves its cgroup a moment after it is reaped, hence the retries.
bool remove_cgroups() {
  long deadline = now_ms() + 200;
  for (int i = 0; i < g.ncgroups; i++) {
    while (rmdir(g.cgroups[i]) < 0 && errno != ENOENT) {
      if (errno != EBUSY || now_ms() > deadline) return false;
      struct timespec ts = {0, 5 * 1000 * 1000};
      nanosleep(&ts, nullptr);
    }
  }
  if (g.cgroup_record) unlink(g.cgroup_record);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  const char* fdvar = getenv("NSRUN_SUPERVISE_FD");
  if (!fdvar || !read_options(atoi(fdvar))) {
    say("nsrun-supervise is started by nsrun, not by hand");
    return 125;
  }
  unsetenv("NSRUN_SUPERVISE_FD");
  prctl(PR_SET_NAME, "nsrun");
  close_others();

  // The CLI held these before the exec: one that arrived meanwhile is pending, not lost.
  sigset_t set;
  sigemptyset(&set);
  for (int s : nsrun::SUPERVISED_SIGNALS) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  g_sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTSTP, SIG_DFL);
  sigset_t tstp;
  sigemptyset(&tstp);
  sigaddset(&tstp, SIGTSTP);
  sigaddset(&tstp, SIGCONT);
  sigprocmask(SIG_UNBLOCK, &tstp, nullptr);
  if (g.control >= 0) fcntl(g.control, F_SETFL, fcntl(g.control, F_GETFL) | O_NONBLOCK);

  if (g.pty >= 0) {
    add_relay(0, g.pty, false);
    add_relay(g.pty, 1, false);
    if (isatty(0)) set_raw(true);
    resize();
  }
  if (g.relay[0] >= 0) add_relay(0, g.relay[0], true);
  if (g.relay[1] >= 0) add_relay(g.relay[1], 1, false);
  if (g.relay[2] >= 0) add_relay(g.relay[2], 2, false);

  int ws = run_loop();
  set_raw(false);
  int status = shell_status(ws);

  long kills = status == 137 ? oom_kills() : 0;
  if (kills > 0 && g.oom_prefix) {
    char msg[1200];
    int n = snprintf(msg, sizeof(msg), "%s%ld)\n", g.oom_prefix, kills);
    ssize_t w = write(2, msg, n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : 0);
    (void)w;
  }
  unregister();
  if (!remove_cgroups() && g.ncleanup > 0) {
    // Something is left inside (a daemon the command started without a PID namespace): the
    // library's removal kills it and waits for the cgroup to empty.
    char st[16];
    snprintf(st, sizeof(st), "%d", status);
    g.cleanup[g.ncleanup++] = st;
    g.cleanup[g.ncleanup] = nullptr;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(g.cleanup[0], g.cleanup, environ);
    say("cannot run the cgroup cleanup: ", strerror(errno));
  }
  return status;
}
