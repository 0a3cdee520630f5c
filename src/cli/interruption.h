// What a user reads when a signal stops `vcap caption` (Ctrl-C, a scheduler's SIGTERM, a closed
// terminal's SIGHUP): every clip finished so far is in the journal, and the same command goes
// on from there. The process still ends by that signal, as it would have without the notice
// (a shell reports 128 + its number), and nothing else is done in the handler.
#ifndef VCAP_CLI_INTERRUPTION_H_
#define VCAP_CLI_INTERRUPTION_H_

namespace vcap::cli {

// Installs the notice for SIGINT, SIGTERM and SIGHUP, unless this process is a --devices worker
// (its parent gives the notice once; see mark_workers_quiet).
void announce_interruptions();

// Called by a --devices parent before it starts its workers: they leave the notice to it.
void mark_workers_quiet();

}  // namespace vcap::cli

#endif  // VCAP_CLI_INTERRUPTION_H_
