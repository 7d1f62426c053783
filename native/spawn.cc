#include "spawn.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "child.h"

namespace nsrun {

constexpr size_t kStackSize = 256 * 1024;

// Stacks whose child has exec'd or exited, kept for the next spawns (main thread only). Mapping
// a fresh one per spawn cost page faults on its first use and, on munmap, a TLB flush on every
// CPU running Node's memory, which the CLONE_VM children of other spawns in flight share.
constexpr int kPoolMax = 16;
void* g_pool[kPoolMax];
int g_pooled = 0;

void* take_stack() noexcept {
  if (g_pooled > 0) return g_pool[--g_pooled];
  void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  return stack == MAP_FAILED ? nullptr : stack;
}

int spawn_child(Plan* plan, SpawnResult* out) noexcept {
  void* stack = take_stack();
  if (!stack) return -errno;
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
    free_child_stack(stack, kStackSize);
    return -saved;
  }
  out->pid = pid;
  out->pidfd = pidfd;
  out->stack = stack;
  out->stack_size = kStackSize;
  return pid;
}

// Only once nothing runs on it any more: the child has exec'd (EOF on the error pipe) or died.
void free_child_stack(void* stack, size_t size) noexcept {
  if (size == kStackSize && g_pooled < kPoolMax) g_pool[g_pooled++] = stack;
  else munmap(stack, size);
}

}  // namespace nsrun
