// The flags that decide what the model sees and how it runs, shared by `vcap caption` (and
// `vcap merge`, which takes caption's flags) and `vcap bench`, so that the two commands spell,
// default, document and check them the same way.
//
//   --model (--pretrained_model_name_or_path), --revision, --question,
//   --max-new-tokens (--max_new_tokens), --height, --width, --exact-size, --fps,
//   --no-autorotate, --bs, --device, --threads, --precision, --decode-threads
//
// Each flag writes its pipeline::CaptionOptions field directly. The help shows the field's value
// at the time of the call as the default, so a command that wants another default (bench: an
// empty model, "the random 2B") sets the field first. Ranges and formats are checked after
// parsing by pipeline::validate_model_settings (caption: through pipeline::validate), so both
// commands reject a bad value with the same message and exit code 2; --precision, a closed set,
// is checked by CLI11 while parsing.
#ifndef VCAP_CLI_MODEL_FLAGS_H_
#define VCAP_CLI_MODEL_FLAGS_H_

namespace CLI {
class App;
}

namespace vcap::pipeline {
struct CaptionOptions;
}

namespace vcap::cli {

// Adds the shared flags to `command`, bound to `options`.
// REQUIRES: `options` outlives the parse (keep it in the command's shared flags object).
void add_model_flags(CLI::App& command, pipeline::CaptionOptions& options);

}  // namespace vcap::cli

#endif  // VCAP_CLI_MODEL_FLAGS_H_
