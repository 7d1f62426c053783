// N-API surface of nsrun: decode a plan, spawn, finish the handshake, watch exits, and the few
// fd/terminal calls the supervisor needs. Policy lives in TypeScript; this file only executes.
// Runs on the Node main thread only.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <sched.h>
#include <signal.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <ucontext.h>
#include <dirent.h>
#include <pwd.h>
#include <dlfcn.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plan.h"
#include "protocol.h"
#include "spawn.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace nsrun {
namespace {

// Owns everything the child reads until its exec: strings, step array, argv/envp, the stack.
struct Spawn {
  Plan plan{};
  std::vector<std::unique_ptr<char[]>> strings;
  std::vector<Step> steps;
  std::vector<std::vector<uint32_t>> ids;
  std::vector<char*> argv, envp;
  SpawnResult child{};
  int err_r = -1;  // parent's read end of the error pipe
  int sync_w = -1;  // parent's write end of the sync pipe
  uv_poll_t poll{};
  Napi::FunctionReference cb;
  std::vector<ChildReport> reports;
  char partial[sizeof(ChildReport)];
  size_t partial_len = 0;
  int id = 0;
};

std::map<int, Spawn*> g_spawns;
int g_next_id = 1;

const char* KeepString(Spawn* s, const Napi::Value& v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsString()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a string");
  std::string str = v.As<Napi::String>().Utf8Value();
  if (str.find('\0') != std::string::npos)
    throw Napi::TypeError::New(v.Env(), std::string(what) + " contains a NUL byte");
  std::unique_ptr<char[]> buf(new char[str.size() + 1]);
  memcpy(buf.get(), str.c_str(), str.size() + 1);
  const char* p = buf.get();
  s->strings.push_back(std::move(buf));
  return p;
}

int64_t GetInt(const Napi::Object& o, const char* key, int64_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().Int64Value();
}

std::vector<char*> KeepStringArray(Spawn* s, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<char*> out;
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back((char*)KeepString(s, a.Get(i), what));
  out.push_back(nullptr);
  return out;
}

void FreeSpawn(Spawn* s) {
  if (s->child.stack) free_child_stack(s->child.stack, s->child.stack_size);
  if (s->err_r >= 0) close(s->err_r);
  if (s->sync_w >= 0) close(s->sync_w);
  g_spawns.erase(s->id);
  delete s;
}

Napi::Object Errno(Napi::Env env, int err, const char* syscall) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("errno", err);
  o.Set("syscall", syscall);
  return o;
}

// spawn(plan) -> {id, pid, pidfd}
Napi::Value SpawnJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "spawn(plan): plan must be an object");
  Napi::Object p = info[0].As<Napi::Object>();
  std::unique_ptr<Spawn> s(new Spawn());

  Napi::Value stepsV = p.Get("steps");
  if (!stepsV.IsArray()) throw Napi::TypeError::New(env, "plan.steps must be an array");
  Napi::Array steps = stepsV.As<Napi::Array>();
  s->steps.resize(steps.Length());
  s->ids.resize(steps.Length());
  bool await_go = false;
  for (uint32_t i = 0; i < steps.Length(); i++) {
    if (!steps.Get(i).IsObject()) throw Napi::TypeError::New(env, "plan.steps[] must be objects");
    Napi::Object o = steps.Get(i).As<Napi::Object>();
    Step& st = s->steps[i];
    st.op = (int32_t)GetInt(o, "op", 0);
    st.n1 = GetInt(o, "n1", 0);
    st.n2 = GetInt(o, "n2", 0);
    st.optional = (int32_t)GetInt(o, "optional", 0);
    st.s1 = KeepString(s.get(), o.Get("s1"), "step.s1");
    st.s2 = KeepString(s.get(), o.Get("s2"), "step.s2");
    st.s3 = KeepString(s.get(), o.Get("s3"), "step.s3");
    st.s4 = KeepString(s.get(), o.Get("s4"), "step.s4");
    Napi::Value idsV = o.Get("ids");
    if (idsV.IsTypedArray() && idsV.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array) {
      // (the seccomp program: hundreds of words, copied at once instead of one Get each)
      Napi::Uint32Array a = idsV.As<Napi::Uint32Array>();
      s->ids[i].assign(a.Data(), a.Data() + a.ElementLength());
    } else if (idsV.IsArray()) {
      Napi::Array a = idsV.As<Napi::Array>();
      for (uint32_t k = 0; k < a.Length(); k++)
        s->ids[i].push_back((uint32_t)a.Get(k).As<Napi::Number>().Int64Value());
    }
    st.ids = s->ids[i].data();
    st.nids = (int32_t)s->ids[i].size();
    if (st.op == OP_AWAIT_GO) await_go = true;
  }
  s->argv = KeepStringArray(s.get(), p.Get("argv"), "plan.argv");
  s->envp = KeepStringArray(s.get(), p.Get("envp"), "plan.envp");

  int errp[2], syncp[2] = {-1, -1};
  if (pipe2(errp, O_CLOEXEC) < 0) return Errno(env, errno, "pipe2");
  if (await_go && pipe2(syncp, O_CLOEXEC) < 0) {
    int e = errno;
    close(errp[0]);
    close(errp[1]);
    return Errno(env, e, "pipe2");
  }
  s->plan.clone_flags = (uint64_t)GetInt(p, "cloneFlags", 0);
  s->plan.nsteps = (int32_t)s->steps.size();
  s->plan.steps = s->steps.data();
  s->plan.argv = s->argv.data();
  s->plan.envp = s->envp.data();
  s->plan.err_fd = errp[1];
  s->plan.sync_fd = syncp[0];
  s->plan.parent_err_fd = errp[0];
  s->plan.parent_sync_fd = syncp[1];

  int rc = spawn_child(&s->plan, &s->child);
  close(errp[1]);
  if (syncp[0] >= 0) close(syncp[0]);
  if (rc < 0) {
    close(errp[0]);
    if (syncp[1] >= 0) close(syncp[1]);
    return Errno(env, -rc, "clone");
  }
  s->err_r = errp[0];
  s->sync_w = syncp[1];
  s->id = g_next_id++;
  Spawn* raw = s.release();
  g_spawns[raw->id] = raw;
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", raw->id);
  out.Set("pid", raw->child.pid);
  out.Set("pidfd", raw->child.pidfd);
  return out;
}

void OnErrPipe(uv_poll_t* h, int status, int events) {
  Spawn* s = (Spawn*)h->data;
  bool eof = status < 0;
  while (!eof) {
    ssize_t n = read(s->err_r, s->partial + s->partial_len, sizeof(s->partial) - s->partial_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;  // spurious wakeup: wait for more
    if (n <= 0) {
      eof = true;
      break;
    }
    s->partial_len += (size_t)n;
    if (s->partial_len == sizeof(ChildReport)) {
      ChildReport r;
      memcpy(&r, s->partial, sizeof(r));
      s->reports.push_back(r);
      s->partial_len = 0;
    }
  }
  uv_poll_stop(h);
  uv_close((uv_handle_t*)h, [](uv_handle_t* hh) {
    Spawn* s = (Spawn*)hh->data;
    Napi::Env env = s->cb.Env();
    Napi::HandleScope scope(env);
    Napi::Value arg = env.Null();
    Napi::Value forked = env.Undefined();
    for (const ChildReport& r : s->reports) {
      if (r.magic == PID_MAGIC) {
        forked = Napi::Number::New(env, r.err);
      } else if (r.magic == REPORT_MAGIC && arg.IsNull()) {
        Napi::Object o = Errno(env, r.err, r.syscall);
        o.Set("step", r.step);
        arg = o;
      } else if (arg.IsNull()) {
        arg = Errno(env, EPROTO, "read");
      }
    }
    if (s->partial_len && arg.IsNull()) arg = Errno(env, EPROTO, "read");
    Napi::FunctionReference cb = std::move(s->cb);
    FreeSpawn(s);  // the child has exec'd or died: its stack and plan are free
    cb.MakeCallback(env.Global(), {arg, forked});
  });
}

// proceed(id, go, cb(report|null, forkedPid?)): send SYNC_GO (or just drop the sync pipe when go is false),
// then wait asynchronously for EOF on the error pipe.
Napi::Value ProceedJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = info[0].As<Napi::Number>().Int32Value();
  // mode: 0 = abort (drop the sync pipe), 1 = go, 2 = go and keep the pipe for stepGo (--step)
  int mode = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : (info[1].ToBoolean() ? 1 : 0);
  bool go = mode != 0;
  auto it = g_spawns.find(id);
  if (it == g_spawns.end()) throw Napi::Error::New(env, "proceed: unknown spawn id");
  Spawn* s = it->second;
  if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "proceed: callback required");
  s->cb = Napi::Persistent(info[2].As<Napi::Function>());
  if (s->sync_w >= 0) {
    if (go) {
      uint8_t b = SYNC_GO;
      ssize_t n;
      do n = write(s->sync_w, &b, 1); while (n < 0 && errno == EINTR);
    }
    if (mode != 2) {
      close(s->sync_w);
      s->sync_w = -1;
    }
  }
  fcntl(s->err_r, F_SETFL, fcntl(s->err_r, F_GETFL) | O_NONBLOCK);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, s->err_r);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE | UV_DISCONNECT, OnErrPipe);
  return env.Undefined();
}

// stepGo(id, last) -> 0 | -errno: let a --step child run its next step; `last` closes the pipe.
Napi::Value StepGoJs(const Napi::CallbackInfo& info) {
  auto it = g_spawns.find(info[0].As<Napi::Number>().Int32Value());
  if (it == g_spawns.end() || it->second->sync_w < 0) return Napi::Number::New(info.Env(), -EBADF);
  Spawn* s = it->second;
  int r = 0;
  if (!info[1].ToBoolean()) {
    uint8_t b = SYNC_GO;
    ssize_t n;
    do n = write(s->sync_w, &b, 1); while (n < 0 && errno == EINTR);
    if (n < 0) r = -errno;
  } else {
    close(s->sync_w);
    s->sync_w = -1;
  }
  return Napi::Number::New(info.Env(), r);
}

struct ExitWatch {
  uv_poll_t poll{};
  int pidfd = -1;
  int code = -1, signal = 0, err = 0;
  Napi::FunctionReference cb;
};

void OnPidfd(uv_poll_t* h, int status, int events) {
  ExitWatch* w = (ExitWatch*)h->data;
  siginfo_t si;
  memset(&si, 0, sizeof(si));
  int r;
  do r = (int)syscall(SYS_waitid, P_PIDFD, w->pidfd, &si, WEXITED | WNOHANG | __WALL, nullptr);
  while (r < 0 && errno == EINTR);
  if (r == 0 && si.si_pid == 0) return;  // not exited yet (spurious wakeup)
  if (r < 0) w->err = errno;
  else if (si.si_code == CLD_EXITED) w->code = si.si_status;
  else w->signal = si.si_status;
  uv_poll_stop(h);
  // Tell JS now, in the phase that reaped the child, not from the close callback: a check-phase
  // callback (setImmediate) in between would still see the pid as alive (the CLI's handoff would
  // pass nsrun-supervise a pidfd that nothing can wait for any more).
  {
    Napi::Env env = w->cb.Env();
    Napi::HandleScope scope(env);
    Napi::Object o = Napi::Object::New(env);
    if (w->err) o.Set("errno", w->err);
    o.Set("exitCode", w->err || w->signal ? env.Null() : Napi::Number::New(env, w->code));
    o.Set("signal", w->signal ? Napi::Number::New(env, w->signal) : env.Null());
    Napi::FunctionReference cb = std::move(w->cb);
    cb.MakeCallback(env.Global(), {o});
  }
  uv_close((uv_handle_t*)h, [](uv_handle_t* hh) { delete (ExitWatch*)hh->data; });
}

// watchExit(pidfd, cb({exitCode, signal})): reap the child when its pidfd becomes readable.
// Never waitpid(-1): libuv reaps only its own children and would lose them silently.
Napi::Value WatchExitJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "watchExit: callback required");
  ExitWatch* w = new ExitWatch();
  w->pidfd = pidfd;
  w->cb = Napi::Persistent(info[1].As<Napi::Function>());
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &w->poll, pidfd);
  w->poll.data = w;
  uv_poll_start(&w->poll, UV_READABLE, OnPidfd);
  return env.Undefined();
}

Napi::Value Check(Napi::Env env, long rc) { return Napi::Number::New(env, rc < 0 ? -errno : rc); }

// pidfdSendSignal(pidfd, sig) -> 0 | -errno. No pid-reuse race, unlike kill(2).
Napi::Value PidfdSendSignalJs(const Napi::CallbackInfo& info) {
  return Check(info.Env(), syscall(SYS_pidfd_send_signal, info[0].As<Napi::Number>().Int32Value(),
                                   info[1].As<Napi::Number>().Int32Value(), nullptr, 0));
}

// pidfdOpen(pid) -> fd | -errno
Napi::Value PidfdOpenJs(const Napi::CallbackInfo& info) {
  return Check(info.Env(), syscall(SYS_pidfd_open, info[0].As<Napi::Number>().Int32Value(), 0));
}

// userName(uid) -> the user's name (getpwuid_r: NSS, as id -un) | undefined. For /etc/subuid
// lines, which name users; os.userInfo() would load node:os for it (~0.5 ms of a rootless start).
Napi::Value UserNameJs(const Napi::CallbackInfo& info) {
  uid_t uid = (uid_t)info[0].As<Napi::Number>().Uint32Value();
  std::vector<char> buf(16384);
  struct passwd pw, *found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return info.Env().Undefined();
  return Napi::String::New(info.Env(), found->pw_name);
}

// capEff() -> [low 32 bits, high 32 bits] of this thread's effective capabilities | -errno.
// (capget: cheaper than parsing /proc/self/status, and always current.)
Napi::Value CapEffJs(const Napi::CallbackInfo& info) {
  struct {
    uint32_t version;
    int pid;
  } hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
  struct {
    uint32_t effective, permitted, inheritable;
  } data[2] = {};
  if (syscall(SYS_capget, &hdr, data) < 0) return Napi::Number::New(info.Env(), -errno);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, Napi::Number::New(info.Env(), data[0].effective));
  a.Set(1u, Napi::Number::New(info.Env(), data[1].effective));
  return a;
}

struct FdReader {
  uv_poll_t poll{};
  int fd = -1;
  int flags = 0;         // the fd's status flags before readFd made it non-blocking
  bool byteAtATime = false;
  Napi::FunctionReference cb;
};

void OnReadable(uv_poll_t* h, int status, int events) {
  FdReader* r = (FdReader*)h->data;
  char buf[512];
  ssize_t n = -1;
  int err = 0;
  if (status == 0) {
    do n = read(r->fd, buf, r->byteAtATime ? 1 : sizeof(buf)); while (n < 0 && errno == EINTR);
    if (n < 0) err = errno;
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) return;  // spurious wakeup
  }
  Napi::Env env = r->cb.Env();
  if (n > 0) {
    Napi::HandleScope scope(env);
    Napi::Value stop = r->cb.MakeCallback(env.Global(), {Napi::Buffer<char>::Copy(env, buf, (size_t)n)});
    if (stop.IsBoolean() && stop.As<Napi::Boolean>().Value()) {
      // the caller is done with the fd but keeps it (unread bytes are someone else's): as it was
      fcntl(r->fd, F_SETFL, r->flags);
      uv_poll_stop(h);
      uv_close((uv_handle_t*)h, [](uv_handle_t* hh) { delete (FdReader*)hh->data; });
    }
    return;
  }
  // EOF or an error: stop watching before telling JS, which then closes the fd
  uv_poll_stop(h);
  uv_close((uv_handle_t*)h, [](uv_handle_t* hh) {
    std::unique_ptr<FdReader> r((FdReader*)hh->data);
    Napi::Env env = r->cb.Env();
    Napi::HandleScope scope(env);
    Napi::FunctionReference cb = std::move(r->cb);
    cb.MakeCallback(env.Global(), {env.Null()});
  });
}

// readFd(fd, cb(chunk: Buffer | null), byteAtATime?): read a pipe as data arrives (libuv poll,
// read(2) on the main thread: no stream, no thread pool); null at EOF or on an error, after which
// the caller closes the fd. Replaces a net.Socket for nsrun-init's control pipe. A callback that
// returns true ends the reading there, the fd left open and as blocking as it was; with
// byteAtATime nothing after that byte has been read (the CLI hands the rest to nsrun-supervise).
Napi::Value ReadFdJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "readFd: callback required");
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return Napi::Number::New(env, -errno);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  FdReader* r = new FdReader();
  r->fd = fd;
  r->flags = flags;
  r->byteAtATime = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  r->cb = Napi::Persistent(info[1].As<Napi::Function>());
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc < 0) {
    delete r;
    return Napi::Number::New(env, rc);
  }
  r->poll.data = r;
  uv_poll_start(&r->poll, UV_READABLE | UV_DISCONNECT, OnReadable);
  return Napi::Number::New(env, 0);
}

Napi::Value CloseJs(const Napi::CallbackInfo& info) {
  return Check(info.Env(), close(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value FdPair(Napi::Env env, int rc, int fds[2]) {
  if (rc < 0) return Napi::Number::New(env, -errno);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, fds[0]);
  a.Set(1u, fds[1]);
  return a;
}

// pipe() -> [read, write], both close-on-exec
Napi::Value PipeJs(const Napi::CallbackInfo& info) {
  int fds[2];
  return FdPair(info.Env(), pipe2(fds, O_CLOEXEC), fds);
}

// socketpair() -> [a, b], AF_UNIX stream, close-on-exec (carries the pty master)
Napi::Value SocketpairJs(const Napi::CallbackInfo& info) {
  int fds[2];
  return FdPair(info.Env(), socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), fds);
}

// recvFd(sock) -> fd | -errno: one SCM_RIGHTS fd, without blocking.
Napi::Value RecvFdJs(const Napi::CallbackInfo& info) {
  int sock = info[0].As<Napi::Number>().Int32Value();
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof(u.buf);
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n < 0) return Napi::Number::New(info.Env(), -errno);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (n == 0 || !c || c->cmsg_type != SCM_RIGHTS) return Napi::Number::New(info.Env(), -EPROTO);
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(fd));
  return Napi::Number::New(info.Env(), fd);
}

// setWinsize(fd, rows, cols) -> 0 | -errno
Napi::Value SetWinsizeJs(const Napi::CallbackInfo& info) {
  struct winsize ws;
  memset(&ws, 0, sizeof(ws));
  ws.ws_row = (unsigned short)info[1].As<Napi::Number>().Uint32Value();
  ws.ws_col = (unsigned short)info[2].As<Napi::Number>().Uint32Value();
  return Check(info.Env(), ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCSWINSZ, &ws));
}

// isatty(fd) -> boolean, without touching process.stdin (which would reopen fd 0 non-blocking).
Napi::Value IsattyJs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), isatty(info[0].As<Napi::Number>().Int32Value()) == 1);
}

}  // namespace

// writeFile(path, text) -> 0 | -errno: one write(2) of all of `text` to an existing file (a
// /proc/PID/uid_map takes a map in one write, whole or not at all). For the parent's id-map
// writes: Node's writeFileSync, running for the first time, was ~0.4 ms of a rootless start.
Napi::Value WriteFileJs(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string text = info[1].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Napi::Number::New(info.Env(), -errno);
  ssize_t n;
  do n = write(fd, text.data(), text.size()); while (n < 0 && errno == EINTR);
  int e = n < 0 ? errno : (size_t)n != text.size() ? EIO : 0;
  if (close(fd) < 0 && e == 0) e = errno;
  return Napi::Number::New(info.Env(), -e);
}

// nsType(fd) -> CLONE_NEW* of a namespace file | -errno (ENOTTY: not a namespace file).
Napi::Value NsTypeJs(const Napi::CallbackInfo& info) {
  return Check(info.Env(), ioctl(info[0].As<Napi::Number>().Int32Value(), NS_GET_NSTYPE));
}

// mapFile(path, asString, header) -> { data, size, mtimeMs, ino, header? } | -errno: the file mapped
// read-only, as an external latin1 string or a Buffer (the pages are the page cache's, nothing is
// copied), and what identifies it (mtimeMs as Node's fs.Stats computes it). With `header`, the
// first line is returned as a string and `data` is what follows it. The CLI's loader
// (bin/nsrun.cjs) reads its bundle and code cache so: here every first touch of a fresh page costs
// ~10 us, and copying the 200 KB bundle twice (a buffer, then a V8 string) was ~2 ms of each
// start; Node's fs and Buffer calls, running for the first time, ~0.8 ms more. The file must not
// be rewritten in place while mapped (the build writes a new file and renames it). External
// strings are in Node's N-API from 20.4 / 18.18 (behind NAPI_EXPERIMENTAL for our NAPI_VERSION):
// looked up, so an older Node gets ENOSYS.
struct Mapping {
  void* base;
  size_t len;
};

Napi::Value MapFileJs(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  bool asString = info[1].ToBoolean();
  bool header = info[2].ToBoolean();
  using ExternalLatin1 = napi_status (*)(napi_env, char*, size_t, napi_finalize, void*, napi_value*, bool*);
  static const auto externalLatin1 =
      reinterpret_cast<ExternalLatin1>(dlsym(RTLD_DEFAULT, "node_api_create_external_string_latin1"));
  if (asString && externalLatin1 == nullptr) return Napi::Number::New(env, -ENOSYS);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Napi::Number::New(env, -errno);
  struct stat st;
  int bad = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) || st.st_size <= 0 ? EINVAL : 0;
  if (bad) {
    close(fd);
    return Napi::Number::New(env, -bad);
  }
  size_t len = (size_t)st.st_size;
  char* base = (char*)mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (base == MAP_FAILED) return Napi::Number::New(env, -e);
  size_t skip = 0;
  if (header) {
    const char* nl = (const char*)memchr(base, '\n', len);
    skip = nl ? (size_t)(nl - base) + 1 : 0;
    if (skip == 0 || skip == len) {
      munmap(base, len);
      return Napi::Number::New(env, -EINVAL);
    }
  }
  // called when V8 drops the string or buffer, or at once if N-API copied the bytes instead
  Mapping* m = new Mapping{base, len};
  napi_finalize unmap = [](napi_env, void*, void* hint) {
    Mapping* mm = (Mapping*)hint;
    munmap(mm->base, mm->len);
    delete mm;
  };
  napi_value out;
  bool copied;
  napi_status status = asString ? externalLatin1(env, base + skip, len - skip, unmap, m, &out, &copied)
                                : napi_create_external_buffer(env, len - skip, base + skip, unmap, m, &out);
  if (status != napi_ok) {
    munmap(base, len);
    delete m;
    return Napi::Number::New(env, -ENOMEM);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("data", Napi::Value(env, out));
  r.Set("size", (double)st.st_size);
  r.Set("mtimeMs", (double)st.st_mtim.tv_sec * 1000 + (double)st.st_mtim.tv_nsec / 1000000);
  r.Set("ino", (double)st.st_ino);
  if (header) r.Set("header", Napi::String::New(env, base, skip));
  return r;
}

// sealedCopy(fd, name) -> memfd | -errno: a sealed, unwritable in-memory copy of an executable, so
// a process inside a sandbox can never write through /proc/PID/exe to the binary on the host
// (CVE-2019-5736). Exec'd with execveat(AT_EMPTY_PATH).
Napi::Value SealedCopyJs(const Napi::CallbackInfo& info) {
  int src = info[0].As<Napi::Number>().Int32Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  int mfd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) return Napi::Number::New(info.Env(), -errno);
  char buf[65536];
  off_t off = 0;
  for (;;) {
    ssize_t n = pread(src, buf, sizeof(buf), off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(mfd);
      return Napi::Number::New(info.Env(), -e);
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(mfd, buf + done, (size_t)(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        int e = errno;
        close(mfd);
        return Napi::Number::New(info.Env(), -e);
      }
      done += w;
    }
    off += n;
  }
  // F_SEAL_WRITE waits for the pages' extra references to go and fails with EBUSY if they stay
  // (seen on a loaded machine right after the write: pages still held by per-CPU LRU batches).
  // Retry, then settle for F_SEAL_FUTURE_WRITE (Linux 5.1), which refuses every write from now
  // on just the same here: nothing has the memfd mapped.
  int sealed = -1;
  if (fchmod(mfd, 0555) == 0) {
    for (int attempt = 0; attempt < 5; attempt++) {
      sealed = fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
      if (sealed == 0 || errno != EBUSY) break;
      usleep(2000);
    }
#ifdef F_SEAL_FUTURE_WRITE
    if (sealed < 0 && errno == EBUSY)
      sealed = fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
#endif
  }
  if (sealed < 0) {
    int e = errno;
    close(mfd);
    return Napi::Number::New(info.Env(), -e);
  }
  return Napi::Number::New(info.Env(), mfd);
}

// Signals the CLI keeps for the command. A held signal is blocked in every thread of this
// process, so the kernel leaves it pending (for the process) instead of running a handler on
// whichever thread it picks. While Node supervises the start, watchSignals reads the pending ones
// from a signalfd in the event loop and hands them to JS, which forwards them; at the handoff
// (holdSignals) the watching stops and what arrives stays pending through execve, for
// nsrun-supervise's own signalfd. No signal is ever in flight in a handler or in libuv's queue,
// where the exec would lose it.
//
// Node's other threads (V8's workers, libuv's) exist already and do not block them: each is sent
// kAckSignal, whose handler adds the held set to the mask its return restores (uc_sigmask). A
// thread created later inherits its creator's mask (blocked, from the main thread or a blocked
// worker). As a fallback (a thread not asked yet, or that did not answer in time) the held
// signals' handlers re-send them to the main thread, where they are blocked: pending again.
// Asking (a /proc read per thread, ~0.5 ms) is left out of watchSignals: the CLI asks while the
// sandbox sets itself up (holdInOtherThreads), and the handoff asks if nobody did.
sigset_t g_heldSet;           // held so far
sigset_t g_maskBefore;        // the main thread's mask before the first hold
struct sigaction g_actBefore[NSIG];
bool g_anyHeld = false;
bool g_othersAsked = false;  // the other threads were asked to block g_heldSet as it is now
pid_t g_holderTid = -1;
int g_acks = 0;          // threads that answered kAckSignal ...
int g_acksExpected = 0;  // ... of those asked

void RedirectToHolder(int sig) {
  int saved = errno;
  syscall(SYS_tgkill, getpid(), g_holderTid, sig);
  errno = saved;
}

void AckHandler(int, siginfo_t*, void* ctx) {
  sigset_t* mask = &((ucontext_t*)ctx)->uc_sigmask;
  for (int s = 1; s < NSIG; s++)
    if (sigismember(&g_heldSet, s)) sigaddset(mask, s);
  __atomic_add_fetch(&g_acks, 1, __ATOMIC_SEQ_CST);
}

int AckSignal() { return SIGRTMIN + 7; }  // unused by glibc (SIGRTMIN-2..-1), libuv and V8

unsigned long long SigBit(int sig) { return 1ULL << (sig - 1); }

// A thread's blocked signals (SigBlk in /proc/self/task/TID/status); 0 if unreadable.
unsigned long long ThreadBlocked(pid_t tid) {
  char path[64], buf[2048];
  snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = strstr(buf, "SigBlk:");
  return p ? strtoull(p + 7, nullptr, 16) : 0;
}

// Asks every other thread to block g_heldSet (see above), unless they were asked since it last
// grew; WaitForOtherThreads waits for them.
void BlockInOtherThreads() {
  if (g_othersAsked) return;
  unsigned long long held = 0;
  for (int s = 1; s < 64; s++)
    if (sigismember(&g_heldSet, s)) held |= SigBit(s);
  struct sigaction ack {};
  ack.sa_sigaction = AckHandler;
  ack.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&ack.sa_mask);
  sigaction(AckSignal(), &ack, nullptr);  // stays: a late answer must not kill (its default)
  int sent = 0;
  pid_t self = (pid_t)syscall(SYS_gettid);
  int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    char buf[4096];
    for (;;) {
      long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        struct dirent64* d = (struct dirent64*)(buf + off);
        off += d->d_reclen;
        pid_t tid = (pid_t)atoi(d->d_name);
        if (tid <= 0 || tid == self) continue;
        // a thread that blocks them already needs nothing (Node's inspector thread blocks all);
        // one that blocks kAckSignal cannot be asked (the fallback covers it)
        unsigned long long blocked = ThreadBlocked(tid);
        if ((blocked & held) == held || (blocked & SigBit(AckSignal()))) continue;
        if (syscall(SYS_tgkill, getpid(), tid, AckSignal()) == 0) sent++;
      }
    }
    close(dir);
  }
  __atomic_add_fetch(&g_acksExpected, sent, __ATOMIC_SEQ_CST);
  g_othersAsked = true;
}

// Until the threads asked have answered (a thread that exits first never does: bounded, ~100 ms):
// after that, no handler for a held signal runs anywhere but in this thread. Asked while the
// sandbox set itself up, they have long answered by the handoff.
void WaitForOtherThreads() {
  for (int i = 0; i < 2100 && __atomic_load_n(&g_acks, __ATOMIC_SEQ_CST) < g_acksExpected; i++) {
    if (i < 100) {
      sched_yield();
    } else {
      struct timespec ts {0, 50000};
      nanosleep(&ts, nullptr);
    }
  }
}

// Hold `sigs` in this thread (other threads: BlockInOtherThreads). Unless `always`, only signals
// something handles (not default or ignored) are held.
void Hold(const int* sigs, int count, bool always) {
  if (!g_anyHeld) {
    sigemptyset(&g_heldSet);
    pthread_sigmask(SIG_SETMASK, nullptr, &g_maskBefore);
    g_holderTid = (pid_t)syscall(SYS_gettid);
  }
  sigset_t add;
  sigemptyset(&add);
  for (int i = 0; i < count; i++) {
    int sig = sigs[i];
    if (sigismember(&g_heldSet, sig)) continue;
    struct sigaction old {};
    sigaction(sig, nullptr, &old);
    bool handled = (old.sa_flags & SA_SIGINFO) || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN);
    if (!always && !handled) continue;
    g_actBefore[sig] = old;
    struct sigaction sa {};
    sa.sa_handler = RedirectToHolder;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
    sigaddset(&add, sig);
    sigaddset(&g_heldSet, sig);
  }
  g_anyHeld = true;
  if (sigisemptyset(&add)) return;
  pthread_sigmask(SIG_BLOCK, &add, nullptr);
  g_othersAsked = false;
}

void ReleaseSignals();

struct SignalWatch {
  uv_poll_t poll{};
  int fd = -1;
  Napi::FunctionReference cb;
};
SignalWatch* g_watch = nullptr;

void OnSignalfd(uv_poll_t* h, int status, int) {
  SignalWatch* w = (SignalWatch*)h->data;
  if (status < 0) return;
  struct signalfd_siginfo si[8];
  ssize_t n;
  do n = read(w->fd, si, sizeof(si)); while (n < 0 && errno == EINTR);
  if (n <= 0) return;
  Napi::Env env = w->cb.Env();
  Napi::HandleScope scope(env);
  for (ssize_t i = 0; i < n / (ssize_t)sizeof(si[0]); i++) w->cb.MakeCallback(env.Global(), {Napi::Number::New(env, si[i].ssi_signo)});
}

void StopWatching() {
  if (!g_watch) return;
  SignalWatch* w = g_watch;
  g_watch = nullptr;
  uv_poll_stop(&w->poll);
  close(w->fd);  // what was not read stays pending
  uv_close((uv_handle_t*)&w->poll, [](uv_handle_t* hh) { delete (SignalWatch*)hh->data; });
}

// watchSignals(signals, cb(signo)) -> 0 | -errno: hold `signals` (always) and call cb, from the
// event loop, with each that arrives. Until holdSignals or releaseSignals.
Napi::Value WatchSignalsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = info[0].As<Napi::Array>();
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "watchSignals: callback required");
  if (g_watch) return Napi::Number::New(env, -EBUSY);
  std::vector<int> sigs;
  sigset_t set;
  sigemptyset(&set);
  for (uint32_t i = 0; i < a.Length(); i++) {
    sigs.push_back(a.Get(i).As<Napi::Number>().Int32Value());
    sigaddset(&set, sigs.back());
  }
  Hold(sigs.data(), (int)sigs.size(), true);
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    ReleaseSignals();  // nothing reads them: Node's handlers as they were
    return Napi::Number::New(env, -e);
  }
  SignalWatch* w = new SignalWatch();
  w->fd = fd;
  w->cb = Napi::Persistent(info[1].As<Napi::Function>());
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc < 0) {
    close(fd);
    delete w;
    ReleaseSignals();
    return Napi::Number::New(env, rc);
  }
  w->poll.data = w;
  uv_poll_start(&w->poll, UV_READABLE, OnSignalfd);
  // the poll does not keep Node alive: the sandbox's own handles do
  uv_unref((uv_handle_t*)&w->poll);
  g_watch = w;
  return Napi::Number::New(env, 0);
}

// holdSignals(): the handoff. Stop watching; every signal nsrun-supervise forwards is held from
// here on (those nothing handles keep their disposition) and stays pending through execve.
void HoldForSupervisor() {
  StopWatching();
  Hold(SUPERVISED_SIGNALS, sizeof(SUPERVISED_SIGNALS) / sizeof(SUPERVISED_SIGNALS[0]), false);
  BlockInOtherThreads();
  WaitForOtherThreads();
}

// releaseSignals(): stop watching and give the held signals back to Node (after a failed exec, or
// when Node supervised the sandbox to its end): their handlers as they were, the main thread's
// mask as it was (what is pending is then delivered to them). Other threads keep them blocked.
void ReleaseSignals() {
  StopWatching();
  if (!g_anyHeld) return;
  for (int s = 1; s < NSIG; s++)
    if (sigismember(&g_heldSet, s)) sigaction(s, &g_actBefore[s], nullptr);
  sigemptyset(&g_heldSet);
  pthread_sigmask(SIG_SETMASK, &g_maskBefore, nullptr);
  g_anyHeld = false;
}

Napi::Value HoldSignalsJs(const Napi::CallbackInfo& info) {
  HoldForSupervisor();
  return info.Env().Undefined();
}

// holdInOtherThreads(): ask Node's other threads to block the held signals too. They answer
// asynchronously; the handoff waits for them.
Napi::Value HoldInOtherThreadsJs(const Napi::CallbackInfo& info) {
  if (g_anyHeld) BlockInOtherThreads();
  return info.Env().Undefined();
}

Napi::Value ReleaseSignalsJs(const Napi::CallbackInfo& info) {
  ReleaseSignals();
  return info.Env().Undefined();
}

// execSupervisor(file, argv, envp, keepFds, options) -> -errno (returns only on failure).
// The CLI's handoff: replace this Node process by nsrun-supervise (same PID, so the shell, the
// terminal's job and the sandbox's parent stay the same). `options` travel on a pipe named by
// NSRUN_SUPERVISE_FD; `keepFds` (pidfd, control pipe, pty master...) lose close-on-exec. The
// signals the supervisor forwards are held first (see holdSignals).
Napi::Value ExecSupervisorJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string file = info[0].As<Napi::String>().Utf8Value();
  auto strings = [](const Napi::Array& a) {
    std::vector<std::string> v;
    for (uint32_t i = 0; i < a.Length(); i++) v.push_back(a.Get(i).As<Napi::String>().Utf8Value());
    return v;
  };
  std::vector<std::string> args = strings(info[1].As<Napi::Array>());
  std::vector<std::string> envs = strings(info[2].As<Napi::Array>());
  Napi::Array keepA = info[3].As<Napi::Array>();
  Napi::Buffer<char> opts = info[4].As<Napi::Buffer<char>>();
  if (opts.Length() > 60000) return Napi::Number::New(env, -E2BIG);  // must fit the pipe buffer

  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return Napi::Number::New(env, -errno);
  for (size_t done = 0; done < opts.Length();) {
    ssize_t w = write(p[1], opts.Data() + done, opts.Length() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int e = errno;
      close(p[0]);
      close(p[1]);
      return Napi::Number::New(env, -e);
    }
    done += (size_t)w;
  }
  close(p[1]);
  envs.push_back("NSRUN_SUPERVISE_FD=" + std::to_string(p[0]));
  // fds 0-2 too: Node marks them close-on-exec at start-up (uv_disable_stdio_inheritance)
  std::vector<int> keep{0, 1, 2, p[0]};
  for (uint32_t i = 0; i < keepA.Length(); i++) keep.push_back(keepA.Get(i).As<Napi::Number>().Int32Value());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  HoldForSupervisor();  // normally done already (holdSignals)
  for (int fd : keep) fcntl(fd, F_SETFD, 0);
  execve(file.c_str(), argv.data(), envp.data());
  int e = errno;
  for (int fd : keep) fcntl(fd, F_SETFD, FD_CLOEXEC);  // as they were (0-2 included, see above)
  ReleaseSignals();
  close(p[0]);
  return Napi::Number::New(env, -e);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, SpawnJs));
  exports.Set("watchSignals", Napi::Function::New(env, WatchSignalsJs));
  exports.Set("holdSignals", Napi::Function::New(env, HoldSignalsJs));
  exports.Set("releaseSignals", Napi::Function::New(env, ReleaseSignalsJs));
  exports.Set("holdInOtherThreads", Napi::Function::New(env, HoldInOtherThreadsJs));
  exports.Set("proceed", Napi::Function::New(env, ProceedJs));
  exports.Set("stepGo", Napi::Function::New(env, StepGoJs));
  exports.Set("watchExit", Napi::Function::New(env, WatchExitJs));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignalJs));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpenJs));
  exports.Set("close", Napi::Function::New(env, CloseJs));
  exports.Set("capEff", Napi::Function::New(env, CapEffJs));
  exports.Set("userName", Napi::Function::New(env, UserNameJs));
  exports.Set("readFd", Napi::Function::New(env, ReadFdJs));
  exports.Set("pipe", Napi::Function::New(env, PipeJs));
  exports.Set("socketpair", Napi::Function::New(env, SocketpairJs));
  exports.Set("recvFd", Napi::Function::New(env, RecvFdJs));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsizeJs));
  exports.Set("isatty", Napi::Function::New(env, IsattyJs));
  exports.Set("nsType", Napi::Function::New(env, NsTypeJs));
  exports.Set("writeFile", Napi::Function::New(env, WriteFileJs));
  exports.Set("sealedCopy", Napi::Function::New(env, SealedCopyJs));
  exports.Set("mapFile", Napi::Function::New(env, MapFileJs));
  // The signals nsrun-supervise forwards (protocol.h), by name with this platform's numbers:
  // supervise() watches them so, and node:os need not be loaded for its signal table.
  Napi::Object signals = Napi::Object::New(env);
  for (int sig : SUPERVISED_SIGNALS) signals.Set(std::string("SIG") + sigabbrev_np(sig), sig);
  exports.Set("supervisedSignals", signals);
  struct utsname uts;
  if (uname(&uts) == 0) exports.Set("kernelRelease", uts.release);
  exports.Set("execSupervisor", Napi::Function::New(env, ExecSupervisorJs));
  return exports;
}

}  // namespace nsrun

static Napi::Object InitNsrun(Napi::Env env, Napi::Object exports) { return nsrun::Init(env, exports); }
NODE_API_MODULE(nsrun, InitNsrun)
