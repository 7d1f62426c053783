#pragma once
#include "plan.h"

namespace nsrun {
namespace child {
// Entry point of the cloned child. Runs the plan's steps with raw syscalls only and leaves
// through execve or exit_group; never returns normally.
int run(void* plan) noexcept;
}  // namespace child
}  // namespace nsrun
