#include "pipeline/caption_run.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "pipeline/crash_guard.h"
#include "pipeline/file_sync.h"
#include "pipeline/fingerprint.h"
#include "pipeline/journal.h"
#include "pipeline/memory_budget.h"
#include "pipeline/meta_table.h"
#include "pipeline/resume_state.h"
#include "pipeline/retry.h"

namespace vcap::pipeline {
namespace {

// Streams the CSV and yields this rank's rows that are not done yet, among the `total_rows`
// counted at the start: rows appended to the CSV since (while the model loaded, say) are left to
// the next run, which continues a journal finished for fewer rows (load_journal).
JobSource make_job_source(MetaReader& meta, const Shard& shard, const ResumeState& resume,
                          uint64_t total_rows, const std::filesystem::path& root,
                          const std::filesystem::path& journal) {
  return [&meta, &shard, &resume, total_rows, root, journal]() -> Result<std::optional<ClipJob>> {
    std::vector<std::string> fields;
    while (true) {
      Result<bool> more = meta.next(fields);
      if (!more) return more.status();
      const uint64_t row = meta.rows_read() - 1;
      if (!*more || row >= total_rows) return std::optional<ClipJob>();
      if (!shard.owns(row)) continue;
      std::string& path = fields[meta.path_column()];
      const uint32_t done = resume.path_crc(row);
      if (done == 0) {
        ClipJob job{row, path, resolve_clip_path(root, path)};
        return std::optional<ClipJob>(std::move(job));
      }
      if (done != path_check(path))
        return Status::invalid_argument(
            csv_changed(journal, "row " + std::to_string(row) + " has another path now"));
    }
  };
}

std::string rank_label(const Shard& shard) {
  if (shard.world_size == 1) return "";
  return "rank " + std::to_string(shard.rank) + "/" + std::to_string(shard.world_size);
}

// The folder relative paths resolve against, for messages.
std::string root_folder(const CaptionOptions& options) {
  std::error_code error;
  const std::filesystem::path root =
      options.root.empty() ? std::filesystem::current_path(error) : options.root;
  return root.string();
}

// When the first clips left to this rank are all missing, the cause is nearly always a wrong
// --root (or a CSV written on another machine): said before the model loads, not after a run
// that gives every row not_found.
void warn_if_first_clips_missing(const CaptionOptions& options, const Shard& shard,
                                 const ResumeState& resume, std::FILE* log) {
  constexpr int kProbed = 16;
  Result<MetaReader> meta = MetaReader::open(options.meta_path);
  if (!meta) return;  // the run reports it
  std::vector<std::string> fields;
  std::string first_path;
  std::filesystem::path first_file;
  int missing = 0;
  while (missing < kProbed) {
    Result<bool> more = meta->next(fields);
    if (!more || !*more) break;
    const uint64_t row = meta->rows_read() - 1;
    if (!shard.owns(row) || resume.has(row)) continue;
    const std::string& path = fields[meta->path_column()];
    const std::filesystem::path file = resolve_clip_path(options.root, path);
    std::error_code error;
    if (path.empty() || std::filesystem::exists(file, error) || error) return;
    if (missing++ == 0) {
      first_path = path;
      first_file = std::filesystem::absolute(file, error);
    }
  }
  if (missing == 0) return;
  std::fprintf(log,
               "vcap: warning: the first %d clip(s) left to caption do not exist ('%s' is looked "
               "for at %s); relative paths are resolved against --root, now %s\n",
               missing, first_path.c_str(), first_file.c_str(), root_folder(options).c_str());
}

// The rows of this rank not done yet, in CSV order, each listed in `in_flight` once started.
Result<EngineReport> caption_in_order(const CaptionOptions& options, const EngineConfig& config,
                                      ClipCaptioner& captioner, const Shard& shard,
                                      const ResumeState& resume, uint64_t total_rows,
                                      const JournalWriter& journal, InFlightRows& in_flight,
                                      const RecordSink& sink, ProgressReporter& progress) {
  Result<MetaReader> meta = MetaReader::open(options.meta_path);
  if (!meta) return meta.status();
  const JobSource rows =
      make_job_source(*meta, shard, resume, total_rows, options.root, journal.path());
  const JobSource source = [&rows, &in_flight]() -> Result<std::optional<ClipJob>> {
    Result<std::optional<ClipJob>> job = rows();
    if (job && job->has_value()) {
      if (Status status = in_flight.add((*job)->row_index, (*job)->path); !status.ok())
        return status;
    }
    return job;
  };
  return run_engine(config, captioner, source, sink, &progress);
}

// Loads the model and captions the rows left, appending them to the journal: the rows struck
// once first, alone, then the others (crash_guard.h). `processes`: those of this job on this
// machine, which share its cores and memory.
Result<EngineReport> caption_remaining(const CaptionOptions& options, CaptionerFactory& factory,
                                       const Shard& shard, ResumeState& resume,
                                       const std::map<uint64_t, Suspect>& suspects,
                                       JournalWriter& journal, uint64_t total_rows, int processes,
                                       std::FILE* log) {
  Result<std::unique_ptr<ClipCaptioner>> captioner = factory.create();
  if (!captioner) return captioner.status();
  const EngineConfig config = machine_engine_config(options, **captioner, processes);
  const int threads_per_clip = config.settings.threads_per_clip;
  std::fprintf(
      log, "vcap: memory budget %s, batch %d, %d decode threads (%s), prefetch %d (%s)\n",
      format_bytes(config.budget_bytes).c_str(), config.bs, config.decode_threads,
      threads_per_clip > 0 ? (std::to_string(threads_per_clip) + " FFmpeg threads each").c_str()
                           : "FFmpeg threads automatic",
      config.prefetch,
      config.prefetch_bytes == UINT64_MAX
          ? "host memory unknown"
          : ("at most " + format_bytes(config.prefetch_bytes) + " of host memory").c_str());
  InFlightRows in_flight(in_flight_path(journal.path()));
  const RecordSink sink = [&journal, &in_flight](const JournalRecord& record) {
    JournalRecord stamped = record;
    stamped.finished_at = unix_time_now();
    if (Status status = journal.append(stamped); !status.ok()) return status;
    return in_flight.remove(record.row_index);
  };
  ProgressReporter progress(log, options.progress, rank_label(shard), shard.rows_owned(total_rows),
                            resume.done, resume.failed);
  Result<EngineReport> report = caption_struck_rows_alone(
      config, **captioner, suspects, options, shard, total_rows, resume, in_flight, sink, progress);
  if (report) {
    Result<EngineReport> rest = caption_in_order(options, config, **captioner, shard, resume,
                                                 total_rows, journal, in_flight, sink, progress);
    if (rest) add_engine_report(*report, *rest);
    if (!rest) report = rest.status();
  }
  // Whatever ended the run, this process is alive to say so: no row in flight killed it (crash
  // guard). A signal ends the process without coming here: SIGKILL leaves the list, as a death
  // would; the handler of SIGINT, SIGTERM and SIGHUP removes it (cli/interruption.h).
  if (Status status = in_flight.clear(); !status.ok() && report) report = status;
  progress.finish();
  if (report && options.progress != ProgressMode::kNone)
    std::fputs(format_summary(progress.snapshot(), report->counts, report->times).c_str(), log);
  const auto not_found = report ? report->counts.find(ClipStatus::kNotFound)
                                : std::map<ClipStatus, uint64_t>::const_iterator();
  if (report && not_found != report->counts.end() && not_found->second > 0) {
    std::fprintf(log,
                 "vcap: %llu clip(s) not found; relative paths are resolved against --root, now "
                 "%s\n",
                 static_cast<unsigned long long>(not_found->second), root_folder(options).c_str());
  }
  return report;
}

// The output must be a file name in a folder that exists and takes new files (the journals,
// locks and the output go there): a bad --output is a setup error, found before the model loads.
Status check_output_path(const std::filesystem::path& output) {
  if (!output.has_filename()) {
    return Status::invalid_argument("cannot write " + output.string() +
                                    ": it names a folder; give the output file's name");
  }
  std::error_code error;
  // The merge writes a file beside the output and renames it over it: whatever stands there is
  // replaced, which is only right for a file.
  const std::filesystem::file_status status = std::filesystem::symlink_status(output, error);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    const std::string what = std::filesystem::is_directory(status) ? "a folder"
                             : std::filesystem::is_symlink(status)
                                 ? "a symbolic link (name its target instead)"
                                 : "not a regular file (a device, pipe or socket)";
    return Status::invalid_argument("cannot write " + output.string() + ": it is " + what +
                                    ", which the output would replace");
  }
  const std::filesystem::path folder =
      output.parent_path().empty() ? std::filesystem::path(".") : output.parent_path();
  if (!std::filesystem::is_directory(folder, error)) {
    return Status::invalid_argument("cannot write " + output.string() + ": the folder " +
                                    folder.string() + " does not exist");
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    return Status::invalid_argument("cannot write " + output.string() + " into " + folder.string() +
                                    ": " + std::strerror(errno) +
                                    " (pass --output to write elsewhere)");
  }
  return Status();
}

// Locks this rank's journal against a second process for the same rank (file_sync.h).
Result<ProcessLock> lock_rank(const std::filesystem::path& journal, const Shard& shard,
                              std::FILE* log) {
  const std::filesystem::path path = rank_lock_path(journal);
  Result<ProcessLock> lock = ProcessLock::try_acquire(path);
  if (!lock) return lock.status();
  const std::string rank =
      "rank " + std::to_string(shard.rank) + " of " + std::to_string(shard.world_size);
  if (!lock->held()) {
    return Status::invalid_argument(
        rank + " is being captioned by another process (" + lock->holder() + ", lock " +
        path.string() + "): two at once would caption its rows twice. Wait for it or stop it; " +
        "if it is not running any more, delete the lock file");
  }
  if (!lock->enforced()) {
    std::fprintf(log,
                 "vcap: the output's filesystem has no file locks: make sure no other process "
                 "captions %s\n",
                 rank.c_str());
  }
  return lock;
}

// Merges when every rank has finished and no one else is merging.
Result<RunEnd> try_merge(const CaptionOptions& options, const std::filesystem::path& output,
                         const Shard& shard, const std::string& fingerprint,
                         CaptionRunReport& report) {
  Result<std::vector<int>> unfinished =
      unfinished_ranks(output, shard.world_size, report.total_rows);
  if (!unfinished) return unfinished.status();
  if (!unfinished->empty()) {
    report.unfinished_ranks = *unfinished;
    return RunEnd::kWaitingForRanks;
  }
  Result<MergeLock> lock = lock_merge(output);
  if (!lock) return lock.status();
  if (!lock->held) {
    report.merger = lock->holder;
    return RunEnd::kMergedElsewhere;
  }
  // Someone may have merged between our check and our lock: their merge removed the journals.
  Result<std::vector<std::pair<int, int>>> journals = list_journals(output);
  if (!journals) return journals.status();
  if (journals->empty()) return RunEnd::kMergedElsewhere;
  Result<MergeReport> merged =
      merge_journals(options.meta_path, output, shard.world_size, fingerprint);
  if (!merged) return merged.status();
  report.merge = std::move(*merged);
  return RunEnd::kMerged;
}

}  // namespace

std::filesystem::path resolve_clip_path(const std::filesystem::path& root,
                                        const std::string& path) {
  const std::filesystem::path clip(path);
  if (root.empty() || clip.is_absolute() || path.empty()) return clip;
  return root / clip;
}

namespace {

Result<CaptionRunReport> caption_once(const CaptionOptions& options, CaptionerFactory& factory,
                                      const EnvLookup& env, std::FILE* log) {
  CaptionRunReport report;
  report.output = output_path(options);
  Result<MetaReader> meta = MetaReader::open(options.meta_path);
  if (!meta) return meta.status();
  if (options.skip_if_existing && std::filesystem::exists(report.output)) {
    report.end = RunEnd::kSkippedExisting;
    return report;
  }
  if (Status status = check_output_path(report.output); !status.ok()) return status;
  Result<uint64_t> total_rows = count_meta_rows(options.meta_path);
  if (!total_rows) return total_rows.status();
  report.total_rows = *total_rows;
  Result<Shard> shard = resolve_shard(options.rank, options.world_size, env);
  if (!shard) return shard.status();
  report.shard = *shard;
  report.rows_owned = shard->rows_owned(report.total_rows);
  Result<std::string> identity = factory.model_identity();
  if (!identity) return identity.status();
  const std::string fingerprint = run_fingerprint(options, *identity);

  const std::filesystem::path journal = journal_path(report.output, shard->rank, shard->world_size);
  Result<ProcessLock> lock = lock_rank(journal, *shard, log);
  if (!lock) return lock.status();
  if (Status status = clear_or_refuse_stale(options, report.output, *shard); !status.ok())
    return status;
  Result<ResumeState> resume = load_journal(journal, *shard, report.total_rows, fingerprint);
  if (!resume) return resume.status();
  report.resumed_rows = resume->done;
  std::fprintf(
      log, "vcap: %s: %llu rows, %s%llu for this rank, %llu done before%s\n",
      options.meta_path.c_str(), static_cast<unsigned long long>(report.total_rows),
      shard->world_size > 1 ? (rank_label(*shard) + " (" + shard->source + "): ").c_str() : "",
      static_cast<unsigned long long>(report.rows_owned),
      static_cast<unsigned long long>(resume->done),
      resume->damaged_lines > 0 ? " (damaged journal lines skipped)" : "");

  if (!resume->finished) {
    Result<JournalWriter> writer =
        resume->exists
            ? JournalWriter::resume(journal, resume->valid_bytes)
            : JournalWriter::create(journal, {shard->rank, shard->world_size, fingerprint});
    if (!writer) return writer.status();
    if (!options.retry.empty()) {
      Result<RetrySeed> seed =
          seed_journal_for_retry(options, report.output, *shard, *resume, *writer, log);
      if (!seed) {
        // A journal made for this retry holds its header only: a refused retry leaves none
        // behind (`vcap status` would read it as a run under way).
        if (!resume->exists) {
          std::error_code ignored;
          std::filesystem::remove(journal, ignored);
        }
        return seed.status();
      }
      report.retry = std::move(*seed);
    }
    Result<std::map<uint64_t, Suspect>> suspects = strike_rows_left_in_flight(journal);
    if (!suspects) return suspects.status();
    if (Status status =
            skip_rows_struck_twice(*suspects, *shard, report.total_rows, *resume, *writer, log);
        !status.ok())
      return status;
    if (resume->done < report.rows_owned) {
      warn_if_first_clips_missing(options, *shard, *resume, log);
      Result<EngineReport> engine =
          caption_remaining(options, factory, *shard, *resume, *suspects, *writer,
                            report.total_rows, local_processes(env), log);
      if (!engine) return engine.status();
      report.engine = std::move(*engine);
    }
    if (Status status = writer->mark_done(report.total_rows, report.rows_owned); !status.ok())
      return status;
    forget_suspects(journal);
  }
  Result<RunEnd> end = try_merge(options, report.output, *shard, fingerprint, report);
  if (!end) return end.status();
  report.end = *end;
  report.retry_after_merge = resume->finished && !options.retry.empty();
  return report;
}

}  // namespace

Result<CaptionRunReport> run_caption(const CaptionOptions& options, CaptionerFactory& factory,
                                     const EnvLookup& env, std::FILE* log) {
  if (Status status = validate(options); !status.ok()) return status;
  Result<CaptionRunReport> report = caption_once(options, factory, env, log);
  if (!report || !report->retry_after_merge) return report;
  // --retry retries rows of an output. Journals that finished without being merged (a merger
  // killed, a full disk) hold the newest results: merged first, they are that output.
  if (report->end != RunEnd::kMerged) {
    std::fprintf(log,
                 "vcap: --retry: this rank had finished before this run, and its journal waits for "
                 "the merge: its rows are retried by a --retry run after %s is written\n",
                 report->output.c_str());
    return report;
  }
  std::fprintf(log,
               "vcap: --retry: merged the journals of an earlier run that had finished into %s; "
               "retrying from it\n",
               report->output.c_str());
  return caption_once(options, factory, env, log);
}

Result<MergeReport> run_merge(const CaptionOptions& options, std::FILE* log) {
  if (Status status = validate(options); !status.ok()) return status;
  const std::filesystem::path output = output_path(options);
  if (Status status = check_output_path(output); !status.ok()) return status;
  Result<std::vector<std::pair<int, int>>> journals = list_journals(output);
  if (!journals) return journals.status();
  std::error_code error;
  if (journals->empty() && std::filesystem::exists(output, error)) {
    return Status::not_found("no journals beside " + output.string() +
                             ": nothing to merge (the output is complete; its journals were "
                             "removed when it was written)");
  }
  Result<int> world =
      options.world_size ? Result<int>(*options.world_size) : journal_world_size(output);
  if (!world) return world.status();
  Result<uint64_t> input_rows = count_meta_rows(options.meta_path);
  if (!input_rows) return input_rows.status();
  Result<std::vector<int>> unfinished = unfinished_ranks(output, *world, *input_rows);
  if (!unfinished) return unfinished.status();
  if (!unfinished->empty()) {
    std::string ranks;
    for (int rank : *unfinished) ranks += (ranks.empty() ? "" : ", ") + std::to_string(rank);
    return Status::invalid_argument("cannot merge yet: rank(s) " + ranks + " of " +
                                    std::to_string(*world) +
                                    " have not finished; rerun them (they resume)");
  }
  Result<MergeLock> lock = lock_merge(output);
  if (!lock) return lock.status();
  if (!lock->held) {
    return Status::invalid_argument("another process (" + lock->holder + ") is merging into " +
                                    output.string() +
                                    "; wait for it (on a filesystem without file locks, remove " +
                                    output.string() + ".merge.lock if that process is gone)");
  }
  std::fprintf(log, "vcap: merging %d journal(s) into %s\n", *world, output.c_str());
  return merge_journals(options.meta_path, output, *world, std::nullopt);
}

uint64_t host_prefetch_bytes(const CaptionOptions& options, uint64_t budget_bytes, int processes) {
  Result<uint64_t> available = read_host_available_bytes();
  if (!available) return UINT64_MAX;
  const uint64_t host_budgets =
      options.device == "cpu" ? budget_bytes * static_cast<uint64_t>(std::max(1, processes)) : 0;
  return default_prefetch_bytes(*available, host_budgets, processes);
}

EngineConfig machine_engine_config(const CaptionOptions& options, const ClipCaptioner& captioner,
                                   int processes) {
  uint64_t budget = options.max_memory_bytes > 0 ? options.max_memory_bytes
                                                 : captioner.default_memory_budget_bytes();
  // The processes of a CPU job on one machine share its memory; a GPU's memory is its own, or
  // shared by the processes --device cuda put on it.
  if (options.max_memory_bytes == 0) {
    budget /= static_cast<uint64_t>(
        std::max(1, options.device == "cpu" ? processes : options.gpu_sharers));
  }
  return engine_config(options, budget, decode_share(options, host_cpus(), processes),
                       host_prefetch_bytes(options, budget, processes));
}

EngineConfig engine_config(const CaptionOptions& options, uint64_t budget_bytes,
                           const DecodeShare& decode, uint64_t prefetch_bytes) {
  EngineConfig config;
  config.settings.fps = options.fps;
  config.settings.max_pixels = int64_t{options.height} * options.width;
  if (options.exact_size) {
    config.settings.exact_height = options.height;
    config.settings.exact_width = options.width;
  }
  config.budget_bytes = budget_bytes;
  config.fit = options.fit;
  config.bs = batch_size(options);
  config.decode_threads = decode.clips;
  config.settings.threads_per_clip = decode.threads_per_clip;
  // Enough ready clips to fill a batch at once; a GPU also keeps a second batch's worth, since
  // it empties its batch far faster. Prepared clips are held outside the memory budget, within
  // their own bound of host memory.
  const bool on_gpu = options.device != "cpu";
  config.prefetch =
      options.prefetch > 0 ? options.prefetch : (on_gpu ? 2 * config.bs + 2 : config.bs + 1);
  config.prefetch_bytes = prefetch_bytes;
  return config;
}

}  // namespace vcap::pipeline
