// The parent/child protocol of one spawn, written down once.
//
//   parent (Node main thread)                         child (clone(CLONE_VM|CLONE_PIDFD|ns flags))
//   ─────────────────────────                         ─────────────────────────────────────────────
//   pipe2(err, O_CLOEXEC), pipe2(sync, O_CLOEXEC)
//   block all signals; clone ───────────────────────► signals stay blocked; reset dispositions
//   restore signal mask                               close parent's pipe ends; PDEATHSIG=SIGKILL
//   return {pid, pidfd, errFd, syncFd} to JS          step "await-go": read(sync) ... blocks
//   JS: write setgroups/uid_map/gid_map
//       (or run newuidmap/newgidmap)
//   proceed(): write SYNC_GO, close sync ───────────► reads SYNC_GO (EOF: parent gone → _exit)
//   uv_poll(errFd) ...                                 run the remaining steps in order
//                                                      on failure: write ChildReport, _exit(125)
//                   ◄────── ChildReport (on failure)   execve/execveat: errFd is O_CLOEXEC, so
//   EOF: exec happened (or the child died) ◄────────  a successful exec closes it
//   free the child's stack and plan arena (the child no longer uses Node's memory after EOF)
//
// Joining (nsrun exec) adds a fork step: setns() changes only the caller's children's PID
// namespace, so after the setns steps the child clones once more (CLONE_PARENT, so the new process
// is Node's own child), reports that pid with PID_MAGIC and exits; the new process runs the rest.
//
// A report is a fixed-size record so the child needs no formatting; the parent turns it into
// text in src/errors.ts.
#pragma once

#include <signal.h>
#include <stdint.h>

namespace nsrun {

constexpr uint8_t SYNC_GO = 0x47;           // 'G': the parent finished its side, go on
constexpr uint32_t REPORT_MAGIC = 0x6e737231;  // "nsr1"
constexpr uint32_t PID_MAGIC = 0x6e737270;     // "nsrp": the fork step's new pid, in `err`

struct ChildReport {
  uint32_t magic;
  int32_t step;        // index into the plan's steps
  int32_t err;         // positive errno
  char syscall[20];    // NUL-terminated name of the failing call
};

// Records nsrun-init writes on its control fd (fd 3 in the sandbox).
constexpr char INIT_RUNNING = 'R';    // the command was exec'd successfully
constexpr char INIT_STOPPED = 'S';    // the command stopped for job control (SIGTSTP/TTIN/TTOU)
constexpr char INIT_EXITED = 'X';     // followed by the int32 wait status of the command
constexpr char INIT_EXEC_FAILED = 'E';  // followed by the int32 errno of the command's execve

// The signals nsrun-supervise forwards to the sandbox (SIGWINCH: it resizes the terminal). The
// addon holds them at the CLI's handoff (holdSignals), so one that arrives meanwhile stays pending
// for the supervisor's signalfd.
constexpr int SUPERVISED_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

}  // namespace nsrun
