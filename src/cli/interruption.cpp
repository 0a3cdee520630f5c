#include "cli/interruption.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "pipeline/crash_guard.h"

namespace vcap::cli {
namespace {

constexpr const char* kQuietVariable = "VCAP_DEVICES_WORKER";

struct Notice {
  int signal;
  const char* text;
};

// Written from the handler, so whole and constant: write(2) is all it may call.
constexpr Notice kNotices[] = {
    {SIGINT,
     "\nvcap: interrupted (SIGINT). The clips finished so far are kept in the journal: run the "
     "same command again to go on from there.\n"},
    {SIGTERM,
     "\nvcap: stopped by SIGTERM. The clips finished so far are kept in the journal: run the "
     "same command again to go on from there.\n"},
    {SIGHUP,
     "\nvcap: stopped by SIGHUP (its terminal closed). The clips finished so far are kept in "
     "the journal: run the same command again to go on from there.\n"},
};

// Ends the process as `signal_number` would have, after what the handlers do.
void end_by(int signal_number) {
  // The init of a PID namespace (vcap as a container's first process, without --init) is
  // not ended by a signal whose action is the default: end as a shell reports a signal.
  if (::getpid() == 1) ::_exit(128 + signal_number);
  // SA_RESETHAND made the default action current: the signal, pending until this handler
  // returns, then ends the process as it would have.
  ::raise(signal_number);
}

void stop_quietly(int signal_number) {
  pipeline::forget_rows_in_flight_on_signal();
  end_by(signal_number);
}

void give_notice(int signal_number) {
  pipeline::forget_rows_in_flight_on_signal();
  for (const Notice& notice : kNotices) {
    if (notice.signal != signal_number) continue;
    const ssize_t ignored = ::write(STDERR_FILENO, notice.text, std::strlen(notice.text));
    (void)ignored;
  }
  end_by(signal_number);
}

}  // namespace

void announce_interruptions() {
  struct sigaction action {};
  action.sa_handler = std::getenv(kQuietVariable) != nullptr ? stop_quietly : give_notice;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (const Notice& notice : kNotices) {
    struct sigaction previous {};
    // A signal ignored by whoever started us (nohup's SIGHUP) stays ignored.
    if (::sigaction(notice.signal, nullptr, &previous) == 0 && previous.sa_handler == SIG_IGN)
      continue;
    ::sigaction(notice.signal, &action, nullptr);
  }
}

void mark_workers_quiet() { ::setenv(kQuietVariable, "1", /*overwrite=*/1); }

}  // namespace vcap::cli
