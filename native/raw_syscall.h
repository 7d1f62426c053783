// Raw system calls for code that runs between clone and execve.
//
// The child shares Node's memory (CLONE_VM) and therefore the spawning thread's TLS, including
// glibc's errno. glibc's wrappers write errno on failure, so the child must not call them: these
// return -errno in the result instead and touch no memory but their arguments. They are always
// inlined: after the vfork-style clone of the join path, parent and child share one stack, and
// neither may return through a frame the other could have overwritten.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

namespace nsrun {

#if defined(__x86_64__)
__attribute__((always_inline)) static inline long raw_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6) noexcept {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
__attribute__((always_inline)) static inline long raw_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6) noexcept {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a1;
  register long x1 __asm__("x1") = a2;
  register long x2 __asm__("x2") = a3;
  register long x3 __asm__("x3") = a4;
  register long x4 __asm__("x4") = a5;
  register long x5 __asm__("x5") = a6;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}
#else
#error "nsrun: raw syscalls are implemented for x86_64 and aarch64 only"
#endif

template <typename... A>
__attribute__((always_inline)) static inline long sys(long n, A... args) noexcept {
  long v[6] = {(long)args...};
  return raw_syscall6(n, v[0], v[1], v[2], v[3], v[4], v[5]);
}
__attribute__((always_inline)) static inline long sys(long n) noexcept { return raw_syscall6(n, 0, 0, 0, 0, 0, 0); }

// A failed raw call returns -4095..-1.
static inline bool failed(long r) noexcept { return r < 0 && r > -4096; }

static inline size_t cstrlen(const char* s) noexcept {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

}  // namespace nsrun
