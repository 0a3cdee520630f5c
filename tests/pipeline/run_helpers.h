// Helpers for the in-process run tests: a small input CSV, options that stay quiet, and a
// one-call run with a fake captioner.
#ifndef VCAP_TESTS_PIPELINE_RUN_HELPERS_H_
#define VCAP_TESTS_PIPELINE_RUN_HELPERS_H_

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "pipeline/caption_run.h"
#include "pipeline/fake_captioner.h"
#include "pipeline/test_dir.h"

namespace vcap::pipeline::testing {

// "path,id\nclips/c0.mp4,id0\n..." with `rows` rows.
inline std::filesystem::path write_meta(const std::filesystem::path& dir, int rows,
                                        const std::string& name = "meta.csv") {
  std::string text = "path,id\n";
  for (int i = 0; i < rows; ++i)
    text += "clips/c" + std::to_string(i) + ".mp4,id" + std::to_string(i) + "\n";
  write_text(dir / name, text);
  return dir / name;
}

inline CaptionOptions quiet_options(const std::filesystem::path& meta) {
  CaptionOptions options;
  options.meta_path = meta;
  options.progress = ProgressMode::kNone;
  options.bs = 1;  // a clip per step: the step counts the crash tests stop at
  options.decode_threads = 2;
  options.rank = 0;
  options.world_size = 1;
  return options;
}

inline EnvLookup empty_env() {
  return [](const char*) -> std::optional<std::string> { return std::nullopt; };
}

// A FILE* that swallows the log.
class NullLog {
 public:
  NullLog() : file_(std::fopen("/dev/null", "w")) {}
  NullLog(const NullLog&) = delete;
  NullLog& operator=(const NullLog&) = delete;
  ~NullLog() { std::fclose(file_); }
  std::FILE* get() const { return file_; }

 private:
  std::FILE* file_;
};

inline Result<CaptionRunReport> run_with(const CaptionOptions& options, FakeFactory& factory) {
  NullLog log;
  return run_caption(options, factory, empty_env(), log.get());
}

}  // namespace vcap::pipeline::testing

#endif  // VCAP_TESTS_PIPELINE_RUN_HELPERS_H_
