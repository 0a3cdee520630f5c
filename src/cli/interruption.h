// What happens when a signal stops `vcap caption` (Ctrl-C, a scheduler's SIGTERM, a closed
// terminal's SIGHUP): the rows in flight are not struck as suspects on the next run (the list
// of them is removed: pipeline/crash_guard.h), and the user reads that every clip finished so far
// is in the journal and the same command goes on from there. The process still ends by that
// signal, as it would have without the handler (a shell reports 128 + its number).
#ifndef VCAP_CLI_INTERRUPTION_H_
#define VCAP_CLI_INTERRUPTION_H_

namespace vcap::cli {

// Installs the handler for SIGINT, SIGTERM and SIGHUP; a --devices worker gives no notice (its
// parent gives it once; see mark_workers_quiet).
void announce_interruptions();

// Called by a --devices parent before it starts its workers: they leave the notice to it.
void mark_workers_quiet();

}  // namespace vcap::cli

#endif  // VCAP_CLI_INTERRUPTION_H_
