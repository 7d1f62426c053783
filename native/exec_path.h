// execvp without allocation: search PATH for a command and execve it. Used by the cloned child
// (--as-pid-1) and by nsrun-init for the command. Returns only on failure, with a positive errno
// chosen as execvp does: EACCES if some candidate existed but could not be executed, else the
// last "real" error (ENOENT when nothing was found).
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "raw_syscall.h"

namespace nsrun {

static inline int exec_search(const char* file, const char* path, char* const* argv,
                              char* const* envp) noexcept {
  if (file[0] == '\0') return ENOENT;
  for (const char* p = file; *p; p++) {
    if (*p == '/') return (int)-sys(SYS_execve, file, argv, envp);
  }
  if (!path || !*path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t flen = cstrlen(file);
  if (flen >= NAME_MAX + 1) return ENAMETOOLONG;
  char buf[PATH_MAX];
  bool seen_eacces = false;
  int last = ENOENT;
  const char* seg = path;
  for (;;) {
    const char* end = seg;
    while (*end && *end != ':') end++;
    size_t dlen = (size_t)(end - seg);
    if (dlen + 1 + flen + 1 <= sizeof(buf)) {
      size_t n = 0;
      if (dlen == 0) buf[n++] = '.';  // an empty PATH entry means the current directory
      for (size_t i = 0; i < dlen; i++) buf[n++] = seg[i];
      buf[n++] = '/';
      for (size_t i = 0; i < flen; i++) buf[n++] = file[i];
      buf[n] = '\0';
      int e = (int)-sys(SYS_execve, buf, argv, envp);
      switch (e) {
        case EACCES: {
          // As shells do: an entry we cannot even stat (unsearchable directory) is "not
          // found"; only a file that exists but cannot be executed makes the answer EACCES.
          struct stat st;
          if (!failed(sys(SYS_newfstatat, AT_FDCWD, buf, &st, 0))) seen_eacces = true;
          break;
        }
        case ENOENT: case ENOTDIR: case ESTALE: case ENODEV: case ETIMEDOUT: case ELOOP:
        case ENAMETOOLONG: break;
        default: return e;  // found but failed for another reason (ENOEXEC, E2BIG, ETXTBSY...)
      }
      last = e == ENOTDIR || e == ELOOP || e == ENAMETOOLONG ? last : e;
    }
    if (!*end) break;
    seg = end + 1;
  }
  return seen_eacces ? EACCES : last;
}

}  // namespace nsrun
