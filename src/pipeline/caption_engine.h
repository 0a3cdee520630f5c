// The captioning engine of one rank: a reader thread feeds jobs, decode threads plan and prepare
// clips ahead of the model (bounded by --prefetch and by the host memory the waiting clips
// hold, see memory_gate.h), and the calling thread runs the batched
// model session, admitting clips while the batch has room (--bs) and the memory budget allows,
// and hands every finished row to a sink (the journal) at once.
//
//   job source --(jobs queue)--> decode threads --(ready queue, capacity prefetch)--> model
//
// Every job from the source reaches the sink exactly once, as a caption or as a failure status,
// unless the run stops on a fatal error (sink failure, fatal step() status, source error), in
// which case run_engine stops all threads and returns that error; rows not yet in the sink are
// simply not done and a restart does them.
#ifndef VCAP_PIPELINE_CAPTION_ENGINE_H_
#define VCAP_PIPELINE_CAPTION_ENGINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "base/status.h"
#include "pipeline/captioner.h"
#include "pipeline/journal.h"
#include "pipeline/progress.h"

namespace vcap::pipeline {

struct EngineConfig {
  ClipSettings settings;      // what every clip asks for
  uint64_t budget_bytes = 0;  // working-memory budget for the clips in flight
  bool fit = false;           // lower settings instead of too_large
  int bs = 1;                 // clips in the model's batch at most
  int decode_threads = 1;     // >= 1
  int prefetch = 4;           // prepared clips waiting for the model, >= 1
  // Host bytes the clips between decoding and the model may hold together (ClipCost::
  // prepare_bytes while decoding, then PreparedClip::host_bytes); one clip larger than this
  // still goes, alone.
  uint64_t prefetch_bytes = UINT64_MAX;
};

struct EngineReport {
  std::map<ClipStatus, uint64_t> counts;  // rows finished by this run, per status
  StageTimes times;
  uint64_t output_tokens = 0;
};

// Adds the counts, times and tokens of `part` to `total` (one rank's several engine runs).
void add_engine_report(EngineReport& total, const EngineReport& part);

// Called on the reader thread: the next job, nullopt at the end, or an error (fatal).
using JobSource = std::function<Result<std::optional<ClipJob>>()>;
// Called on the engine thread for every finished row. A non-ok Status is fatal.
using RecordSink = std::function<Status(const JournalRecord&)>;

// Clips in a row that the model ends with an internal error (each journaled as such) before
// the run stops with an error instead of going on through the dataset.
inline constexpr int kInternalFailuresToStop = 16;

// Runs until the source is exhausted and every job is in the sink. `progress` may be null.
// REQUIRES: config.bs, decode_threads, prefetch >= 1.
Result<EngineReport> run_engine(const EngineConfig& config, ClipCaptioner& captioner,
                                const JobSource& source, const RecordSink& sink,
                                ProgressReporter* progress);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_CAPTION_ENGINE_H_
