#include "pipeline/worker_processes.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace vcap::pipeline {
namespace {

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "ended with wait status " + std::to_string(status);
}

}  // namespace

Result<std::vector<WorkerExit>> run_workers(const std::vector<std::vector<std::string>>& commands) {
  // Started by a supervisor that ignores SIGCHLD (inherited through exec), the kernel would reap
  // the workers itself and waitpid could not say how they ended.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(SIGCHLD, &default_action, nullptr);
  std::vector<pid_t> children;
  Status start_error;
  const pid_t parent = ::getpid();
  for (const std::vector<std::string>& command : commands) {
    // Built before fork: the child only calls async-signal-safe functions.
    std::vector<char*> argv;
    for (const std::string& argument : command) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      // A worker ends with its parent (even a parent killed by SIGKILL): left running, it would
      // hold its GPU and its rank's lock against the rerun.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    if (pid < 0) {
      start_error = Status::from_errno("cannot start a worker process", errno);
      break;
    }
    children.push_back(pid);
  }
  std::vector<WorkerExit> exits;
  for (size_t i = 0; i < children.size(); ++i) {
    int status = 0;
    pid_t waited = 0;
    while ((waited = ::waitpid(children[i], &status, 0)) < 0 && errno == EINTR) {
    }
    if (waited < 0) {  // how it ended is unknown: not a success
      exits.push_back({static_cast<int>(i), false, -1,
                       std::string("could not be waited for: ") + std::strerror(errno)});
      continue;
    }
    const int exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    exits.push_back({static_cast<int>(i), exit_status == 0, exit_status, describe(status)});
  }
  if (!start_error.ok()) return start_error;
  return exits;
}

}  // namespace vcap::pipeline
