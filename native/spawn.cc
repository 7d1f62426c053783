#include "spawn.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "child.h"

namespace nsrun {

constexpr size_t kStackSize = 256 * 1024;

int spawn_child(Plan* plan, SpawnResult* out) noexcept {
  void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -errno;
  // The child starts with every signal blocked: Node's handlers must never run on its stack.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  int flags = CLONE_VM | CLONE_PIDFD | (int)plan->clone_flags | SIGCHLD;
  int pid = clone(child::run, (char*)stack + kStackSize, flags, plan, &pidfd);
  int saved = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    munmap(stack, kStackSize);
    return -saved;
  }
  out->pid = pid;
  out->pidfd = pidfd;
  out->stack = stack;
  out->stack_size = kStackSize;
  return pid;
}

void free_child_stack(void* stack, size_t size) noexcept { munmap(stack, size); }

}  // namespace nsrun
