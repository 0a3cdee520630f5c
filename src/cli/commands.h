// The vcap subcommands. Each add_*_command registers one subcommand on the CLI11 app,
// with its options and the callback that runs it. A callback reports failure by
// throwing CommandFailed, which main() turns into a one-line message and exit code.
#ifndef VCAP_CLI_COMMANDS_H_
#define VCAP_CLI_COMMANDS_H_

#include <memory>
#include <stdexcept>
#include <string>

#include "base/status.h"

namespace CLI {
class App;
}

namespace vcap::pipeline {
struct CaptionOptions;
}

namespace vcap::cli {

// Exit codes: 0 success, 1 the job ran but some work failed, 2 bad input or setup.
inline constexpr int kExitFailures = 1;
inline constexpr int kExitBadInput = 2;

// The exit code of a run's error: kExitBadInput for what the user must fix (a bad flag or file,
// changed settings, a changed CSV), kExitFailures for the rest (the disk, the device, an integrity
// check), after which a rerun resumes.
inline int exit_code_for(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kUnsupported:
    case StatusCode::kCorruption:
      return kExitBadInput;
    default:
      return kExitFailures;
  }
}

struct CommandFailed : std::runtime_error {
  CommandFailed(const Status& status, int exit_code = kExitBadInput)
      : std::runtime_error(status.message()), exit_code(exit_code) {}
  int exit_code;
};

// `vcap download MODEL`: fetch a hub model into the Hugging Face cache (cli/download_command.cpp).
void add_download_command(CLI::App& app);
// `vcap models`: list the models in the Hugging Face cache (cli/models_command.cpp).
void add_models_command(CLI::App& app);
// `vcap tokenize`: the model's tokenizer as a JSON Lines filter (cli/tokenize_command.cpp).
void add_tokenize_command(CLI::App& app);
// `vcap make-test-model`: a model directory with portable random weights
// (cli/make_test_model_command.cpp).
void add_make_test_model_command(CLI::App& app);

// `vcap bench`: time captioning against the machine's yardsticks (cli/bench_command.cpp).
void add_bench_command(CLI::App& app);

// `vcap inspect VIDEO`: every intermediate result of one clip (cli/inspect_command.cpp).
void add_inspect_command(CLI::App& app);

// `vcap caption META.csv`: caption a dataset (cli/caption_command.cpp).
void add_caption_command(CLI::App& app);
// `vcap merge META.csv`: write the output of a sharded run from its journals
// (cli/merge_command.cpp).
void add_merge_command(CLI::App& app);
// `vcap status META.csv`: where a caption run stands (cli/status_command.cpp).
void add_status_command(CLI::App& app);

// The flags of `vcap caption`, shared by `vcap merge` and `vcap status` (defined in
// cli/caption_command.cpp).
struct CaptionFlags;
std::shared_ptr<CaptionFlags> add_caption_flags(CLI::App& command);
// The parsed flags as options, validated (kInvalidArgument names the flag).
Result<pipeline::CaptionOptions> caption_options(const CaptionFlags& flags);
// The same for `vcap merge`, where --world-size may come without --rank.
Result<pipeline::CaptionOptions> merge_options(const CaptionFlags& flags);

// Throws CommandFailed when `status` is not ok.
inline void fail_if_error(const Status& status) {
  if (!status.ok()) throw CommandFailed(status);
}

}  // namespace vcap::cli

#endif  // VCAP_CLI_COMMANDS_H_
