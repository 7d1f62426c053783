#pragma once
#include <stddef.h>

#include "plan.h"

namespace nsrun {

// Parent half of a spawn (main thread). Clones a child with CLONE_VM|CLONE_PIDFD|clone_flags on a
// fresh stack, running child::run(plan). The plan and the stack must stay valid until the error
// pipe reaches EOF. Returns the pid, or -errno.
struct SpawnResult {
  int pid;
  int pidfd;
  void* stack;
  size_t stack_size;
};
int spawn_child(Plan* plan, SpawnResult* out) noexcept;
void free_child_stack(void* stack, size_t size) noexcept;

}  // namespace nsrun
