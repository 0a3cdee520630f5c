// Worker processes for `--devices 0,1,2,3`: one child process per device on this machine, each
// running vcap again as one rank (the seed's local_worker_num). The parent only starts and waits;
// the children journal and merge like any ranks, so a crashed worker loses nothing that it
// journaled, and rerunning the same command resumes.
#ifndef VCAP_PIPELINE_WORKER_PROCESSES_H_
#define VCAP_PIPELINE_WORKER_PROCESSES_H_

#include <string>
#include <vector>

#include "base/status.h"

namespace vcap::pipeline {

struct WorkerExit {
  int index = 0;            // position in the list given to run_workers
  bool ok = false;          // exited with status 0
  int exit_status = -1;     // its exit status; -1 when a signal ended it
  std::string description;  // "exited with status 1", "killed by signal 9 (Killed)"
};

// Starts every command (argv[0] is the program; "/proc/self/exe" re-runs this binary) with
// fork + execv, then waits for all of them. A worker gets SIGTERM when the calling thread ends
// (the parent died), so the caller's thread must be the one that lives as long as the process.
// kIoError when a worker cannot be started (the ones already started are still waited for).
Result<std::vector<WorkerExit>> run_workers(const std::vector<std::vector<std::string>>& commands);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_WORKER_PROCESSES_H_
