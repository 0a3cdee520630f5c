#include "pipeline/caption_engine.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "base/stopwatch.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/memory_budget.h"
#include "pipeline/memory_gate.h"

namespace vcap::pipeline {
namespace {

// The per-clip guard (the one catch-all of vcap, see STYLE.md): whatever a captioner throws
// while handling one clip becomes that clip's status, never the end of the run.
template <typename T, typename Fn>
ClipValue<T> guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return {ClipOutcome::failure(ClipStatus::kOom, "out of memory (std::bad_alloc)"), T{}};
  } catch (const std::exception& e) {
    return {ClipOutcome::failure(ClipStatus::kInternal,
                                 one_line(std::string("unexpected exception: ") + e.what())),
            T{}};
  } catch (...) {
    return {ClipOutcome::failure(ClipStatus::kInternal, "unexpected exception"), T{}};
  }
}

// A job after the decode threads: prepared for the model, or failed.
struct ReadyClip {
  ClipJob job;
  ClipOutcome outcome;
  ClipCost cost;
  bool fitted = false;
  std::string fit_note;
  std::unique_ptr<PreparedClip> prepared;
  MemoryGate::Reservation host_memory;  // ends when the model takes the clip or records it
};

class Engine {
 public:
  Engine(const EngineConfig& config, ClipCaptioner& captioner, const JobSource& source,
         const RecordSink& sink, ProgressReporter* progress)
      : config_(config),
        captioner_(captioner),
        source_(source),
        sink_(sink),
        progress_(progress),
        jobs_(static_cast<size_t>(config.decode_threads) * 2),
        host_memory_(config.prefetch_bytes),
        ready_(static_cast<size_t>(config.prefetch)),
        decoders_left_(config.decode_threads) {}

  Result<EngineReport> run();

 private:
  struct InFlight {
    std::string path;
    uint64_t bytes = 0;
    bool fitted = false;
    std::string fit_note;
  };

  void read_jobs();
  void decode_loop();
  ReadyClip prepare_one(ClipJob job);
  bool fit_settings(ReadyClip& ready, ClipSettings& used);
  Status model_loop();
  Status admit();
  Status step();
  Status finish_row(JournalRecord record);
  void stop() {
    stopping_ = true;
    jobs_.close();
    ready_.close();
    host_memory_.close();
  }

  const EngineConfig& config_;
  ClipCaptioner& captioner_;
  const JobSource& source_;
  const RecordSink& sink_;
  ProgressReporter* progress_;
  BoundedQueue<ClipJob> jobs_;
  MemoryGate host_memory_;  // before ready_ and waiting_: their clips' reservations end in it
  BoundedQueue<ReadyClip> ready_;
  std::atomic<int> decoders_left_;
  std::atomic<bool> stopping_ = false;

  std::mutex mutex_;  // guards the two fields below (written by reader/decode threads)
  Status source_error_;
  StageTimes decode_times_;

  // Engine thread only.
  std::map<uint64_t, InFlight> in_flight_;
  uint64_t in_flight_bytes_ = 0;
  std::optional<ReadyClip> waiting_;  // ready but over the budget while the batch is busy
  int internal_failures_in_a_row_ = 0;  // clips the model ended with kInternal, none since
  EngineReport report_;
};

Result<EngineReport> Engine::run() {
  Status status;
  {
    std::vector<std::jthread> threads;
    try {
      threads.emplace_back([this] { read_jobs(); });
      for (int i = 0; i < config_.decode_threads; ++i)
        threads.emplace_back([this] { decode_loop(); });
    } catch (const std::system_error& error) {  // a process or thread limit (ulimit -u)
      stop();
      return Status::internal("cannot start " + std::to_string(config_.decode_threads + 1) +
                              " threads for reading and decoding: " + error.what());
    }
    status = model_loop();
    if (!status.ok()) stop();
  }  // joins every thread
  if (status.ok()) {
    std::lock_guard lock(mutex_);
    status = source_error_;
  }
  if (!status.ok()) return status;
  std::lock_guard lock(mutex_);
  report_.times.plan_sec = decode_times_.plan_sec;
  report_.times.prepare_sec = decode_times_.prepare_sec;
  return report_;
}

void Engine::read_jobs() {
  while (!stopping_) {
    Result<std::optional<ClipJob>> job = source_();
    if (!job) {
      std::lock_guard lock(mutex_);
      source_error_ = job.status();
      break;
    }
    if (!job->has_value() || !jobs_.push(std::move(**job))) break;
  }
  jobs_.close();
}

void Engine::decode_loop() {
  while (std::optional<ClipJob> job = jobs_.pop()) {
    if (stopping_) break;
    if (!ready_.push(prepare_one(std::move(*job)))) break;
  }
  if (decoders_left_.fetch_sub(1) == 1) ready_.close();
}

ReadyClip Engine::prepare_one(ClipJob job) {
  ReadyClip ready;
  ready.job = std::move(job);
  const Clock::time_point plan_start = Clock::now();
  ClipValue<ClipCost> plan =
      guarded<ClipCost>([&] { return captioner_.plan(ready.job, config_.settings); });
  ClipSettings used = config_.settings;
  ready.outcome = plan.outcome;
  ready.cost = plan.value;
  bool usable = ready.outcome.ok() && fit_settings(ready, used);
  const double plan_sec = seconds_since(plan_start);
  double prepare_sec = 0;
  if (usable) {
    ready.host_memory = host_memory_.reserve(ready.cost.prepare_bytes);
    const Clock::time_point prepare_start = Clock::now();
    ClipValue<std::unique_ptr<PreparedClip>> prepared =
        guarded<std::unique_ptr<PreparedClip>>([&] { return captioner_.prepare(ready.job, used); });
    prepare_sec = seconds_since(prepare_start);
    ready.outcome = prepared.outcome;
    ready.prepared = std::move(prepared.value);
    if (ready.outcome.ok() && !ready.prepared)
      ready.outcome = ClipOutcome::failure(ClipStatus::kInternal, "prepare() returned nothing");
    ready.host_memory.shrink_to(ready.outcome.ok() ? ready.prepared->host_bytes() : 0);
  }
  std::lock_guard lock(mutex_);
  decode_times_.plan_sec += plan_sec;
  decode_times_.prepare_sec += prepare_sec;
  return ready;
}

// Applies the budget to a planned clip: true when it may go on with `used` settings (lowered by
// --fit if needed); false with ready.outcome set otherwise.
bool Engine::fit_settings(ReadyClip& ready, ClipSettings& used) {
  if (ready.cost.working_bytes <= config_.budget_bytes) return true;
  if (!config_.fit) {
    ready.outcome = ClipOutcome::failure(
        ClipStatus::kTooLarge, describe_too_large(ready.cost, config_.budget_bytes, false));
    return false;
  }
  // Frames too narrow for a smaller area (a wide clip's short side would round to nothing):
  // the last area that planned stays, and the candidates go on lowering the fps at it.
  std::optional<ClipSettings> smallest_frames;
  for (ClipSettings candidate : fit_candidates(config_.settings)) {
    if (smallest_frames) {
      candidate.max_pixels = smallest_frames->max_pixels;
      candidate.exact_height = smallest_frames->exact_height;
      candidate.exact_width = smallest_frames->exact_width;
      if (candidate == used) continue;  // planned already (`used`: the last that planned)
    }
    ClipValue<ClipCost> plan =
        guarded<ClipCost>([&] { return captioner_.plan(ready.job, candidate); });
    if (!plan.outcome.ok()) {
      if (plan.outcome.status == ClipStatus::kBadAspectRatio && !smallest_frames) {
        smallest_frames = used;  // the requested frames, or the last candidate that planned
        continue;
      }
      ready.outcome = plan.outcome;
      return false;
    }
    used = candidate;
    ready.cost = plan.value;
    if (plan.value.working_bytes <= config_.budget_bytes) {
      ready.fitted = true;
      ready.fit_note = describe_fit(used, config_.settings, config_.budget_bytes);
      return true;
    }
  }
  ready.outcome = ClipOutcome::failure(ClipStatus::kTooLarge,
                                       describe_too_large(ready.cost, config_.budget_bytes, true));
  return false;
}

Status Engine::model_loop() {
  while (true) {
    if (Status status = admit(); !status.ok()) return status;
    if (captioner_.active() == 0) return Status();  // admit() found nothing more to do
    if (Status status = step(); !status.ok()) return status;
    if (progress_ != nullptr) progress_->tick();
  }
}

Status Engine::admit() {
  while (captioner_.active() < static_cast<size_t>(config_.bs)) {
    std::optional<ReadyClip> item;
    if (waiting_) {
      item = std::move(waiting_);
      waiting_.reset();
    } else {
      item = captioner_.active() == 0 ? ready_.pop() : ready_.try_pop();
    }
    if (!item) break;
    if (!item->outcome.ok()) {
      JournalRecord record{item->job.row_index,
                           item->job.path,
                           item->outcome.status,
                           one_line(item->outcome.message),
                           "",
                           0};
      if (Status status = finish_row(std::move(record)); !status.ok()) return status;
      continue;
    }
    const uint64_t bytes = item->cost.working_bytes;
    if (captioner_.active() > 0 && in_flight_bytes_ + bytes > config_.budget_bytes) {
      waiting_ = std::move(item);  // joins when the batch has shrunk
      break;
    }
    in_flight_[item->job.row_index] = {item->job.path, bytes, item->fitted, item->fit_note};
    in_flight_bytes_ += bytes;
    // As in step(): a throw must end the run through stop(), or the decode threads, blocked on
    // full queues, would never be joined.
    try {
      captioner_.add(item->job.row_index, std::move(item->prepared));
    } catch (const std::exception& e) {
      return Status::internal(
          one_line(std::string("adding a clip to the batch failed: ") + e.what()));
    }
  }
  return Status();
}

Status Engine::step() {
  const Clock::time_point start = Clock::now();
  Result<std::vector<FinishedCaption>> finished = Status::internal("step() did not run");
  try {
    finished = captioner_.step();
  } catch (const std::exception& e) {
    return Status::internal(one_line(std::string("model step failed: ") + e.what()));
  }
  report_.times.model_sec += seconds_since(start);
  if (!finished) return finished.status();
  for (FinishedCaption& caption : *finished) {
    const auto it = in_flight_.find(caption.row_index);
    if (it == in_flight_.end())
      return Status::internal("captioner finished row " + std::to_string(caption.row_index) +
                              ", which is not in its batch");
    InFlight row = std::move(it->second);
    in_flight_.erase(it);
    in_flight_bytes_ -= row.bytes;
    JournalRecord record{caption.row_index,       std::move(row.path),
                         caption.outcome.status,  one_line(caption.outcome.message),
                         std::move(caption.text), caption.output_tokens};
    if (caption.outcome.ok() && row.fitted) {
      record.status = ClipStatus::kFitted;
      record.error = row.fit_note;
    }
    if (!has_caption(record.status)) record.text.clear();
    const bool internal = record.status == ClipStatus::kInternal;
    internal_failures_in_a_row_ = internal ? internal_failures_in_a_row_ + 1 : 0;
    const std::string last_error = record.error;
    if (Status status = finish_row(std::move(record)); !status.ok()) return status;
    if (internal_failures_in_a_row_ >= kInternalFailuresToStop) {
      // A device that fails every clip (a sticky GPU fault, a driver gone) would otherwise mark
      // the rest of the dataset failed, one clip after another.
      return Status::internal(
          std::to_string(internal_failures_in_a_row_) +
          " clips in a row failed inside the model (the last: " + last_error +
          "); stopping, as the device may be unusable. Rerun to go on; add --retry internal to "
          "caption those clips again");
    }
  }
  return Status();
}

Status Engine::finish_row(JournalRecord record) {
  const Clock::time_point start = Clock::now();
  if (Status status = sink_(record); !status.ok()) return status;
  report_.times.journal_sec += seconds_since(start);
  ++report_.counts[record.status];
  report_.output_tokens += static_cast<uint64_t>(std::max<int64_t>(0, record.output_tokens));
  if (progress_ != nullptr) {
    progress_->record(record.status, record.output_tokens);
    progress_->tick();
  }
  return Status();
}

}  // namespace

Result<EngineReport> run_engine(const EngineConfig& config, ClipCaptioner& captioner,
                                const JobSource& source, const RecordSink& sink,
                                ProgressReporter* progress) {
  VCAP_CHECK(config.bs >= 1 && config.decode_threads >= 1 && config.prefetch >= 1,
             "run_engine: bs, decode_threads and prefetch must be >= 1");
  Engine engine(config, captioner, source, sink, progress);
  return engine.run();
}

void add_engine_report(EngineReport& total, const EngineReport& part) {
  for (const auto& [status, count] : part.counts) total.counts[status] += count;
  total.times.plan_sec += part.times.plan_sec;
  total.times.prepare_sec += part.times.prepare_sec;
  total.times.model_sec += part.times.model_sec;
  total.times.journal_sec += part.times.journal_sec;
  total.output_tokens += part.output_tokens;
}

}  // namespace vcap::pipeline
