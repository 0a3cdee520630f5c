#include "pipeline/caption_options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "io/gzip.h"
#include "media/sampling.h"
#include "pipeline/decode_share.h"
#include "text/utf8.h"

namespace vcap::pipeline {
namespace {

struct Unit {
  std::string_view suffix;
  double factor;
};

// Longest suffixes first so that "GiB" is not read as "G" followed by junk.
constexpr Unit kUnits[] = {
    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
    {"KB", 1e3},     {"MB", 1e6},        {"GB", 1e9},           {"TB", 1e12},
    {"K", 1024.0},   {"M", 1048576.0},   {"G", 1073741824.0},   {"T", 1099511627776.0},
    {"B", 1.0},
};

bool ends_with_ci(std::string_view text, std::string_view suffix) {
  if (text.size() < suffix.size()) return false;
  text.remove_prefix(text.size() - suffix.size());
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(suffix[i])))
      return false;
  }
  return true;
}

}  // namespace

const char* precision_name(Precision precision) {
  return precision == Precision::kBf16 ? "bf16" : "f32";
}

std::filesystem::path default_output_path(const std::filesystem::path& meta_path) {
  std::filesystem::path result = meta_path;
  const std::string stem = meta_path.stem().string();
  const std::string extension = meta_path.extension().string();
  result.replace_filename(stem + "_caption_qwen2vl" + extension);
  return result;
}

std::filesystem::path output_path(const CaptionOptions& options) {
  return options.output.empty() ? default_output_path(options.meta_path) : options.output;
}

Result<uint64_t> parse_memory_size(std::string_view text) {
  const std::string original(text);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  double factor = 1.0;
  for (const Unit& unit : kUnits) {
    if (ends_with_ci(text, unit.suffix)) {
      factor = unit.factor;
      text.remove_suffix(unit.suffix.size());
      break;
    }
  }
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  double number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || number < 0 ||
      !std::isfinite(number)) {
    return Status::invalid_argument("--max-memory '" + original +
                                    "': expected a size such as 8G, 8GiB, 8000MB or bytes");
  }
  const double bytes = number * factor;
  if (bytes >= 1.8e19)
    return Status::invalid_argument("--max-memory '" + original + "': too large");
  // 0 asks for the default: a fraction of a byte is a typo, not that.
  if (bytes > 0 && bytes < 1)
    return Status::invalid_argument("--max-memory '" + original + "': under one byte");
  return static_cast<uint64_t>(bytes);
}

std::string format_bytes(uint64_t bytes) {
  constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  if (unit == 0) {
    std::snprintf(text, sizeof(text), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(text, sizeof(text), "%.1f %s", value, kNames[unit]);
  }
  return text;
}

Result<int> parse_device(std::string_view device) {
  if (device == "cpu") return -1;
  if (device == "cuda") return 0;
  if (device.substr(0, 5) == "cuda:") {
    std::string_view digits = device.substr(5);
    int index = -1;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (!digits.empty() && error == std::errc() && end == digits.data() + digits.size() &&
        index >= 0)
      return index;
  }
  return Status::invalid_argument("--device '" + std::string(device) +
                                  "': expected cpu, cuda or cuda:N");
}

ResolvedDevice resolve_device(const std::string& device, const EnvLookup& env, int visible_gpus) {
  const std::optional<LocalRank> local = local_rank(env);
  if (device != "cuda") {
    const Result<int> index = parse_device(device);
    if (local && local->rank > 0 && index.ok() && *index == 0 && visible_gpus > 1) {
      return {device, "vcap: warning: " + local->variable + "=" + std::to_string(local->rank) +
                          " and " + std::to_string(visible_gpus) +
                          " GPUs visible, but --device cuda:0: every process of this machine "
                          "given cuda:0 shares that one GPU; --device cuda gives each the GPU of "
                          "its local rank"};
    }
    return {device, ""};
  }
  if (!local || visible_gpus < 1) return {"cuda:0", ""};
  const int index = local->rank % visible_gpus;
  // Local ranks index, index + visible_gpus, ... below the machine's process count; but under
  // srun --gpus-per-task each task sees GPUs of its own (CUDA_VISIBLE_DEVICES set per task).
  const bool own_gpus = in_srun_step(env) && env("SLURM_GPUS_PER_TASK");
  const int processes = std::max(local_processes(env), local->rank + 1);
  const int sharers = own_gpus ? 1 : (processes - 1 - index) / visible_gpus + 1;
  std::string note = "vcap: --device cuda: cuda:" + std::to_string(index) + " (" + local->variable +
                     "=" + std::to_string(local->rank) + ", " + std::to_string(visible_gpus) +
                     " GPU(s) visible";
  if (sharers > 1) {
    note += "; " + std::to_string(sharers) +
            " processes share this GPU, each with that part of its default --max-memory";
  }
  return {"cuda:" + std::to_string(index), note + ")", sharers};
}

int batch_size(const CaptionOptions& options) {
  if (options.bs > 0) return options.bs;
  const Result<int> device = parse_device(options.device);
  return device.ok() && *device >= 0 ? 8 : 4;
}

Status validate_model_settings(const CaptionOptions& options) {
  auto bad = [](const std::string& message) { return Status::invalid_argument(message); };
  // Far past any machine's cores, or any batch a device holds: a typo, which OpenMP, thread
  // creation or the batch's scratch (--bs 100000: 60 GB of logits) would fail on.
  constexpr int kMaxThreads = 1024;
  if (options.max_new_tokens < 1) return bad("--max-new-tokens must be at least 1");
  if (options.height < 28 || options.width < 28) return bad("--height and --width must be >= 28");
  // The Qwen2-VL processor resizes frames over its max_pixels (12845056) a second time, which vcap
  // does not; --exact-size sizes are brought under it in their one resize.
  if (!options.exact_size && int64_t{options.height} * options.width > media::kImageMaxPixels) {
    return bad("--height x --width must be at most " + std::to_string(media::kImageMaxPixels) +
               " pixels (3584 x 3584, the Qwen2-VL processor's max_pixels)");
  }
  if (!(options.fps > 0) || !std::isfinite(options.fps)) return bad("--fps must be > 0");
  // The reference cannot take these either: Python's tokenizer refuses text that is not UTF-8,
  // its processor takes every video pad or placeholder text for a video, and its rope index an
  // image pad right after a vision start for an image: every clip fails.
  if (!text::is_valid_utf8(options.question)) return bad("--question is not valid UTF-8");
  for (const char* video_text :
       {"<|video_pad|>", "<|placeholder|>", "<|vision_start|><|image_pad|>"}) {
    if (options.question.find(video_text) != std::string::npos) {
      return bad(std::string("--question must not contain ") + video_text +
                 ": the processor takes it for a video or an image");
    }
  }
  if (options.bs < 0 || options.bs > kMaxThreads)
    return bad("--bs must be in [0, " + std::to_string(kMaxThreads) +
               "] (0 = 8 on a GPU, 4 on the CPU)");
  if (options.threads < 0 || options.threads > kMaxThreads)
    return bad("--threads must be in [0, " + std::to_string(kMaxThreads) + "]");
  if (options.decode_threads < 0 || options.decode_threads > kMaxThreads)
    return bad("--decode-threads must be in [0, " + std::to_string(kMaxThreads) + "]");
  if (Result<int> device = parse_device(options.device); !device) return device.status();
  return Status();
}

Status check_processor_bounds(const CaptionOptions& options, int64_t min_pixels,
                              int64_t max_pixels) {
  // The largest frames a run gives. An exact size is one frame size, smart_resize's (as
  // media::estimate_plan makes it). Otherwise qwen-vl-utils brings frames under the cap
  // --height x --width and over its floor (kVideoMinPixels), the floor winning. Smaller frames
  // are checked clip by clip (ModelCaptioner::plan): only a clip's shape says how far under the
  // cap it lands.
  int64_t largest = 0;
  const bool cap_decides =
      options.exact_size || int64_t{options.height} * options.width >= media::kVideoMinPixels;
  if (options.exact_size) {
    const media::ClipResult<media::FrameSize> size =
        media::smart_resize(options.height, options.width, media::kImageFactor,
                            media::kImageMinPixels, media::kImageMaxPixels);
    if (!size.ok()) return Status();  // every clip ends on the size's aspect ratio anyway
    largest = size->height * size->width;
  } else {
    largest = std::max(int64_t{options.height} * options.width, media::kVideoMinPixels);
  }
  const std::string with = "with --height " + std::to_string(options.height) + " --width " +
                           std::to_string(options.width) + " qwen-vl-utils gives frames of up to " +
                           std::to_string(largest);
  if (largest > max_pixels) {
    return Status::invalid_argument(
        "its preprocessor_config.json takes frames of at most " + std::to_string(max_pixels) +
        " pixels, and " + with +
        ": transformers' processor would resize those a second time, which vcap does not" +
        (cap_decides ? "; lower --height and --width" : ""));
  }
  if (largest < min_pixels) {
    return Status::invalid_argument(
        "its preprocessor_config.json takes frames of at least " + std::to_string(min_pixels) +
        " pixels, and " + with +
        ": transformers' processor would resize every frame a second time, which vcap does not; "
        "raise --height and --width");
  }
  return Status();
}

Status validate(const CaptionOptions& options) {
  auto bad = [](const std::string& message) { return Status::invalid_argument(message); };
  if (options.meta_path.empty()) return bad("no input CSV given");
  if (options.model.empty()) return bad("--model is empty");
  if (Status status = validate_model_settings(options); !status.ok()) return status;
  if (options.prefetch < 0) return bad("--prefetch must be >= 0");
  if (options.decode_timeout_sec < 0) return bad("--decode-timeout must be >= 0");
  // A .gz output is written gzip-compressed, as pandas would; other compressed names are
  // refused now rather than after the captioning.
  if (Result<io::Compression> compression = io::output_compression(output_path(options));
      !compression) {
    if (!options.output.empty()) return compression.status();
    return Status::unsupported(
        options.meta_path.string() + ": the output is named after the input (" +
        output_path(options).string() +
        ") and vcap writes CSV files plain or gzip-compressed only: decompress the input first "
        "(vcap reads it plain or gzip-compressed), or give --output");
  }
  for (int index : options.devices) {
    if (index < 0) return bad("--devices: device indices must be >= 0");
  }
  if (!options.retry.empty() && options.skip_if_existing)
    return bad(
        "--retry and --skip-if-existing contradict each other: --retry works on the "
        "existing output, --skip-if-existing leaves it alone");
  if (options.rank.has_value() != options.world_size.has_value())
    return bad("--rank and --world-size must be given together");
  if (options.world_size) {
    if (*options.world_size < 1) return bad("--world-size must be at least 1");
    if (*options.rank < 0 || *options.rank >= *options.world_size)
      return bad("--rank must be in [0, world size)");
  }
  return Status();
}

}  // namespace vcap::pipeline
