#include "pipeline/caption_run.h"

#include <algorithm>
#include <thread>

#include "pipeline/file_sync.h"
#include "pipeline/fingerprint.h"
#include "pipeline/journal.h"
#include "pipeline/memory_budget.h"
#include "pipeline/meta_table.h"
#include "pipeline/retry.h"

namespace vcap::pipeline {
namespace {

// Rows of this rank already in its journal. Indexed by k = row / world_size; each entry is a
// non-zero checksum of the row's path (0 = not done), so that a changed CSV is caught while
// streaming it, at 4 bytes per row.
struct ResumeState {
  std::vector<uint32_t> done_path_crc;
  uint64_t done = 0;
  uint64_t failed = 0;
  bool exists = false;
  bool finished = false;  // a done marker was read
  uint64_t valid_bytes = 0;
  uint64_t damaged_lines = 0;
};

uint32_t path_check(const std::string& path) { return crc32(path) | 1u; }

std::string csv_changed(const std::filesystem::path& journal, const std::string& what) {
  return journal.string() + ": " + what +
         ": the input CSV changed since this run started; pass --restart to start over";
}

// Whether the journal at `path` holds a clip record. One without (a run that stopped before its
// first clip finished, e.g. because its device was missing) can be discarded without loss; a
// missing file has none.
Result<bool> has_records(JournalReader& reader) {
  JournalRecord record;
  return reader.next(record);
}

Result<bool> has_records(const std::filesystem::path& path) {
  Result<JournalReader> reader = JournalReader::open(path);
  if (!reader && reader.status().code() == StatusCode::kNotFound) return false;
  if (!reader) return reader.status();
  return has_records(*reader);
}

// Deletes (with --restart, or when they hold no record) or refuses journals of other world
// sizes; deletes this rank's own journal with --restart. Other ranks' journals of this world are
// theirs to restart.
Status clear_or_refuse_stale(const CaptionOptions& options, const std::filesystem::path& output,
                             const Shard& shard) {
  Result<std::vector<std::pair<int, int>>> journals = list_journals(output);
  if (!journals) return journals.status();
  for (const auto& [rank, world] : *journals) {
    const std::filesystem::path path = journal_path(output, rank, world);
    const bool mine = rank == shard.rank && world == shard.world_size;
    const bool stale = world != shard.world_size;
    bool discard = options.restart && (mine || stale);
    if (stale && !options.restart) {
      Result<bool> records = has_records(path);
      discard = records.ok() && !*records;  // an unreadable one is refused below, as it was
    }
    if (stale && !discard) {
      return Status::invalid_argument(
          "found " + path.string() + " from a run with world size " + std::to_string(world) +
          " (this run has " + std::to_string(shard.world_size) +
          "); rerun with that world size to resume it, or pass --restart to discard it");
    }
    if (discard) {
      std::error_code error;
      std::filesystem::remove(path, error);
      if (error) return Status::from_errno("cannot remove " + path.string(), error.value());
    }
  }
  return Status();
}

Result<ResumeState> load_journal(const std::filesystem::path& path, const Shard& shard,
                                 uint64_t total_rows, const std::string& fingerprint) {
  ResumeState state;
  state.done_path_crc.assign(shard.rows_owned(total_rows), 0);
  Result<JournalReader> reader = JournalReader::open(path);
  if (!reader && reader.status().code() == StatusCode::kNotFound) return state;
  if (!reader) return reader.status();
  const JournalHeader& header = reader->header();
  if (header.world_size == 0) return state;  // only a torn header: start it again
  state.exists = true;
  if (header.rank != shard.rank || header.world_size != shard.world_size)
    return Status::corruption(path.string() + ": header names another rank or world size");
  if (header.fingerprint_json != fingerprint) {
    // Made with other settings but holding no result: replaced by this run's journal.
    Result<bool> records = has_records(*reader);
    if (!records) return records.status();
    if (!*records) {
      state.exists = false;
      return state;
    }
    return Status::invalid_argument(
        path.string() + " holds results made with other settings (" +
        fingerprint_difference(header.fingerprint_json, fingerprint) +
        "); rerun with the same settings to resume, or pass --restart to discard them");
  }
  JournalRecord record;
  while (true) {
    Result<bool> more = reader->next(record);
    if (!more) return more.status();
    if (!*more) break;
    if (record.row_index >= total_rows || !shard.owns(record.row_index))
      return Status::invalid_argument(csv_changed(
          path, "row " + std::to_string(record.row_index) + " is not a row of this rank"));
    uint32_t& slot = state.done_path_crc[record.row_index / shard.world_size];
    if (slot != 0) continue;  // a duplicate: the first record wins, as in the merge
    slot = path_check(record.path);
    ++state.done;
    if (!has_caption(record.status)) ++state.failed;
  }
  const JournalScan& scan = reader->scan();
  if (scan.done && scan.done_input_rows != total_rows)
    return Status::invalid_argument(
        csv_changed(path, "it was finished for " + std::to_string(scan.done_input_rows) +
                              " input rows, the CSV has " + std::to_string(total_rows)));
  state.finished = scan.done;
  state.valid_bytes = scan.valid_bytes;
  state.damaged_lines = scan.damaged_lines;
  return state;
}

// Streams the CSV and yields this rank's rows that are not done yet.
JobSource make_job_source(MetaReader& meta, const Shard& shard, const ResumeState& resume,
                          const std::filesystem::path& root, const std::filesystem::path& journal) {
  return [&meta, &shard, &resume, root, journal]() -> Result<std::optional<ClipJob>> {
    std::vector<std::string> fields;
    while (true) {
      Result<bool> more = meta.next(fields);
      if (!more) return more.status();
      if (!*more) return std::optional<ClipJob>();
      const uint64_t row = meta.rows_read() - 1;
      if (!shard.owns(row)) continue;
      std::string& path = fields[meta.path_column()];
      const uint32_t done = resume.done_path_crc[row / shard.world_size];
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

// Loads the model and captions the rows left, appending them to the journal. `processes`: those
// of this job on this machine, which share its cores and memory.
Result<EngineReport> caption_remaining(const CaptionOptions& options, CaptionerFactory& factory,
                                       const Shard& shard, const ResumeState& resume,
                                       JournalWriter& journal, uint64_t rows_owned, int processes,
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
  Result<MetaReader> meta = MetaReader::open(options.meta_path);
  if (!meta) return meta.status();
  const JobSource source = make_job_source(*meta, shard, resume, options.root, journal.path());
  const RecordSink sink = [&journal](const JournalRecord& record) {
    return journal.append(record);
  };
  ProgressReporter progress(log, options.progress, rank_label(shard), rows_owned, resume.done,
                            resume.failed);
  Result<EngineReport> report = run_engine(config, **captioner, source, sink, &progress);
  progress.finish();
  if (report && options.progress != ProgressMode::kNone)
    std::fputs(format_summary(progress.snapshot(), report->counts, report->times).c_str(), log);
  return report;
}

// --retry: appends the earlier output's rows that are not retried to the journal as finished,
// so that only the retried ones are captioned.
Result<RetrySeed> keep_earlier_rows(const CaptionOptions& options,
                                    const std::filesystem::path& output, const Shard& shard,
                                    ResumeState& resume, JournalWriter& journal, std::FILE* log) {
  const auto done = [&](uint64_t row) { return resume.done_path_crc[row / shard.world_size] != 0; };
  const auto keep = [&](JournalRecord&& record) -> Status {
    if (Status status = journal.append(record); !status.ok()) return status;
    resume.done_path_crc[record.row_index / shard.world_size] = path_check(record.path);
    ++resume.done;
    if (!has_caption(record.status)) ++resume.failed;
    return Status();
  };
  Result<RetrySeed> seed =
      keep_earlier_results(options.meta_path, output, shard, options.retry, done, keep);
  if (!seed) return seed.status();
  if (Status status = journal.sync(); !status.ok()) return status;
  std::string retried;
  uint64_t retried_rows = 0;
  for (const auto& [status, count] : seed->retried) {
    retried += (retried.empty() ? " (" : ", ") + std::string(clip_status_name(status)) + " " +
               std::to_string(count);
    retried_rows += count;
  }
  std::fprintf(log, "vcap: --retry: kept %llu rows of %s, %llu to caption again%s\n",
               static_cast<unsigned long long>(seed->kept), output.c_str(),
               static_cast<unsigned long long>(retried_rows),
               retried.empty() ? "" : (retried + ")").c_str());
  return seed;
}

// Locks this rank's journal against a second process for the same rank (file_sync.h).
Result<RankLock> lock_rank(const std::filesystem::path& journal, const Shard& shard,
                           std::FILE* log) {
  std::filesystem::path path = journal;
  path.replace_extension(".lock");
  Result<RankLock> lock = RankLock::try_acquire(path);
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
  Result<std::vector<int>> unfinished = unfinished_ranks(output, shard.world_size);
  if (!unfinished) return unfinished.status();
  if (!unfinished->empty()) {
    report.unfinished_ranks = *unfinished;
    return RunEnd::kWaitingForRanks;
  }
  std::filesystem::path lock_path = output;
  lock_path += ".merge.lock";
  Result<LockFile> lock = LockFile::try_acquire(lock_path);
  if (!lock) return lock.status();
  if (!lock->held()) {
    report.merger = lock->holder();
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

Result<CaptionRunReport> run_caption(const CaptionOptions& options, CaptionerFactory& factory,
                                     const EnvLookup& env, std::FILE* log) {
  if (Status status = validate(options); !status.ok()) return status;
  CaptionRunReport report;
  report.output = output_path(options);
  Result<MetaReader> meta = MetaReader::open(options.meta_path);
  if (!meta) return meta.status();
  if (options.skip_if_existing && std::filesystem::exists(report.output)) {
    report.end = RunEnd::kSkippedExisting;
    return report;
  }
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
  Result<RankLock> lock = lock_rank(journal, *shard, log);
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
          keep_earlier_rows(options, report.output, *shard, *resume, *writer, log);
      if (!seed) return seed.status();
      report.retry = std::move(*seed);
    }
    if (resume->done < report.rows_owned) {
      Result<EngineReport> engine = caption_remaining(options, factory, *shard, *resume, *writer,
                                                      report.rows_owned, local_processes(env), log);
      if (!engine) return engine.status();
      report.engine = std::move(*engine);
    }
    if (Status status = writer->mark_done(report.total_rows, report.rows_owned); !status.ok())
      return status;
  }
  Result<RunEnd> end = try_merge(options, report.output, *shard, fingerprint, report);
  if (!end) return end.status();
  report.end = *end;
  return report;
}

Result<MergeReport> run_merge(const CaptionOptions& options, std::FILE* log) {
  if (Status status = validate(options); !status.ok()) return status;
  const std::filesystem::path output = output_path(options);
  Result<int> world =
      options.world_size ? Result<int>(*options.world_size) : journal_world_size(output);
  if (!world) return world.status();
  Result<std::vector<int>> unfinished = unfinished_ranks(output, *world);
  if (!unfinished) return unfinished.status();
  if (!unfinished->empty()) {
    std::string ranks;
    for (int rank : *unfinished) ranks += (ranks.empty() ? "" : ", ") + std::to_string(rank);
    return Status::invalid_argument("cannot merge yet: rank(s) " + ranks + " of " +
                                    std::to_string(*world) +
                                    " have not finished; rerun them (they resume)");
  }
  std::filesystem::path lock_path = output;
  lock_path += ".merge.lock";
  Result<LockFile> lock = LockFile::try_acquire(lock_path);
  if (!lock) return lock.status();
  if (!lock->held()) {
    return Status::invalid_argument("another process holds " + lock_path.string() + " (" +
                                    lock->holder() +
                                    "); if no merge is running, remove that file and retry");
  }
  std::fprintf(log, "vcap: merging %d journal(s) into %s\n", *world, output.c_str());
  return merge_journals(options.meta_path, output, *world, std::nullopt);
}

uint64_t host_prefetch_bytes(const CaptionOptions& options, uint64_t budget_bytes, int processes) {
  Result<uint64_t> available = read_mem_available_bytes();
  if (!available) return UINT64_MAX;
  const uint64_t host_budgets =
      options.device == "cpu" ? budget_bytes * static_cast<uint64_t>(std::max(1, processes)) : 0;
  return default_prefetch_bytes(*available, host_budgets, processes);
}

EngineConfig machine_engine_config(const CaptionOptions& options, const ClipCaptioner& captioner,
                                   int processes) {
  uint64_t budget = options.max_memory_bytes > 0 ? options.max_memory_bytes
                                                 : captioner.default_memory_budget_bytes();
  // The processes of a CPU job on one machine share its memory (a GPU's memory is its own).
  if (options.max_memory_bytes == 0 && options.device == "cpu")
    budget /= static_cast<uint64_t>(std::max(1, processes));
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
