#include "pipeline/caption_options.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <optional>
#include <string>

#include "pipeline/fingerprint.h"

namespace vcap::pipeline {
namespace {

TEST(DefaultOutputPath, InsertsTheSuffixBeforeTheLastExtensionLikeTheSeed) {
  EXPECT_EQ(default_output_path("data/meta.csv"), "data/meta_caption_qwen2vl.csv");
  EXPECT_EQ(default_output_path("meta"), "meta_caption_qwen2vl");
  EXPECT_EQ(default_output_path("a.csv.gz"), "a.csv_caption_qwen2vl.gz");
  EXPECT_EQ(default_output_path("/x/.hidden"), "/x/.hidden_caption_qwen2vl");
}

TEST(OutputPath, UsesTheExplicitOutputWhenGiven) {
  CaptionOptions options;
  options.meta_path = "in/meta.csv";
  EXPECT_EQ(output_path(options), "in/meta_caption_qwen2vl.csv");
  options.output = "out.csv";
  EXPECT_EQ(output_path(options), "out.csv");
}

TEST(CaptionOptions, DefaultsFollowTheSeedReadme) {
  CaptionOptions options;
  EXPECT_EQ(options.question, "Describe the video in details");
  EXPECT_EQ(options.max_new_tokens, 200);
  EXPECT_EQ(options.height, 448);
  EXPECT_EQ(options.width, 672);
  EXPECT_EQ(options.fps, 4);
  EXPECT_EQ(options.bs, 0);  // batch_size() picks
  EXPECT_EQ(options.precision, Precision::kBf16);
  EXPECT_TRUE(options.autorotate);
}

TEST(ParseMemorySize, AcceptsBytesBinaryAndDecimalUnits) {
  EXPECT_EQ(*parse_memory_size("1024"), 1024u);
  EXPECT_EQ(*parse_memory_size("8G"), 8ull << 30);
  EXPECT_EQ(*parse_memory_size("8GiB"), 8ull << 30);
  EXPECT_EQ(*parse_memory_size("8gb"), 8000000000ull);
  EXPECT_EQ(*parse_memory_size("1.5K"), 1536u);
  EXPECT_EQ(*parse_memory_size("500 MB"), 500000000ull);
  EXPECT_FALSE(parse_memory_size("").ok());
  EXPECT_FALSE(parse_memory_size("lots").ok());
  EXPECT_FALSE(parse_memory_size("-1G").ok());
  EXPECT_FALSE(parse_memory_size("8X").ok());
  EXPECT_EQ(*parse_memory_size("0"), 0u);  // the default
  // A fraction of a byte truncated to 0, which silently meant the default budget.
  EXPECT_NE(parse_memory_size("0.4").status().message().find("under one byte"), std::string::npos);
}

TEST(ParseDevice, AcceptsCpuAndCudaIndices) {
  EXPECT_EQ(*parse_device("cpu"), -1);
  EXPECT_EQ(*parse_device("cuda"), 0);
  EXPECT_EQ(*parse_device("cuda:3"), 3);
  EXPECT_FALSE(parse_device("gpu").ok());
  EXPECT_FALSE(parse_device("cuda:").ok());
  EXPECT_FALSE(parse_device("cuda:-1").ok());
}

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const char* name) -> std::optional<std::string> {
    const auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

TEST(ResolveDevice, CudaIsTheGpuOfTheLaunchersLocalRank) {
  const EnvLookup none = env_of({});
  EXPECT_EQ(resolve_device("cpu", env_of({{"LOCAL_RANK", "3"}}), 8).device, "cpu");
  // Without a launcher, or without a GPU to count: cuda:0, as before.
  EXPECT_EQ(resolve_device("cuda", none, 8).device, "cuda:0");
  EXPECT_EQ(resolve_device("cuda", none, 8).note, "");
  EXPECT_EQ(resolve_device("cuda", env_of({{"LOCAL_RANK", "3"}}), 0).device, "cuda:0");
  // torchrun --nproc-per-node 8 on 8 GPUs: one each.
  const ResolvedDevice torchrun = resolve_device("cuda", env_of({{"LOCAL_RANK", "3"}}), 8);
  EXPECT_EQ(torchrun.device, "cuda:3");
  EXPECT_EQ(torchrun.note, "vcap: --device cuda: cuda:3 (LOCAL_RANK=3, 8 GPU(s) visible)");
  EXPECT_EQ(torchrun.sharers, 1);
  // mpirun -np 10 on 4 GPUs: GPUs 0 and 1 take three processes, 2 and 3 two.
  const auto on_four = [](const char* rank) {
    return resolve_device(
        "cuda",
        env_of({{"OMPI_COMM_WORLD_LOCAL_RANK", rank}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "10"}}), 4);
  };
  EXPECT_EQ(on_four("5").device, "cuda:1");
  EXPECT_EQ(on_four("5").sharers, 3);
  EXPECT_EQ(on_four("5").note,
            "vcap: --device cuda: cuda:1 (OMPI_COMM_WORLD_LOCAL_RANK=5, 4 GPU(s) visible; 3 "
            "processes share this GPU, each with that part of its default --max-memory)");
  EXPECT_EQ(on_four("3").sharers, 2);
  EXPECT_EQ(on_four("9").device, "cuda:1");
  // Without the launcher's local size: at least the ranks up to this one.
  EXPECT_EQ(resolve_device("cuda", env_of({{"LOCAL_RANK", "5"}}), 4).sharers, 2);
  // srun --gpus-per-task 1: each task sees its own GPU only.
  const std::map<std::string, std::string> srun_task = {{"SLURM_LOCALID", "2"},
                                                        {"SLURM_STEP_NUM_TASKS", "4"},
                                                        {"SLURM_NTASKS_PER_NODE", "4"},
                                                        {"SLURM_GPUS_PER_TASK", "1"}};
  const ResolvedDevice own = resolve_device("cuda", env_of(srun_task), 1);
  EXPECT_EQ(own.device, "cuda:0");
  EXPECT_EQ(own.sharers, 1);  // its own GPU: the whole default --max-memory
  // Four tasks that all see one GPU (no --gpus-per-task) do share it.
  std::map<std::string, std::string> sharing = srun_task;
  sharing.erase("SLURM_GPUS_PER_TASK");
  EXPECT_EQ(resolve_device("cuda", env_of(sharing), 1).sharers, 4);
}

TEST(ResolveDevice, AnIndexIsKeptAndACopiedCuda0IsFlagged) {
  const ResolvedDevice copied = resolve_device("cuda:0", env_of({{"LOCAL_RANK", "2"}}), 4);
  EXPECT_EQ(copied.device, "cuda:0");
  EXPECT_EQ(copied.note,
            "vcap: warning: LOCAL_RANK=2 and 4 GPUs visible, but --device cuda:0: every process "
            "of this machine given cuda:0 shares that one GPU; --device cuda gives each the GPU "
            "of its local rank");
  EXPECT_EQ(resolve_device("cuda:0", env_of({{"LOCAL_RANK", "0"}}), 4).note, "");
  EXPECT_EQ(resolve_device("cuda:2", env_of({{"LOCAL_RANK", "2"}}), 4).note, "");
  EXPECT_EQ(resolve_device("cuda:0", env_of({{"LOCAL_RANK", "2"}}), 1).note, "");
}

TEST(BatchSize, IsBsWhenGivenElseEightOnAGpuAndFourOnTheCpu) {
  CaptionOptions options;
  EXPECT_EQ(batch_size(options), 4);
  options.device = "cuda:1";
  EXPECT_EQ(batch_size(options), 8);
  options.device = "cuda";
  EXPECT_EQ(batch_size(options), 8);
  options.bs = 3;
  EXPECT_EQ(batch_size(options), 3);
  options.device = "cpu";
  EXPECT_EQ(batch_size(options), 3);
}

TEST(Validate, NamesTheBadFlag) {
  CaptionOptions options;
  options.meta_path = "m.csv";
  EXPECT_TRUE(validate(options).ok());
  options.bs = -1;
  Status status = validate(options);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("--bs"), std::string::npos);
  options.bs = 0;
  options.rank = 1;
  EXPECT_FALSE(validate(options).ok());  // --rank without --world-size
  options.world_size = 1;
  EXPECT_FALSE(validate(options).ok());  // rank out of range
  options.world_size = 2;
  EXPECT_TRUE(validate(options).ok());
}

TEST(ValidateModelSettings, ChecksTheSharedFlagsButNotTheInputOrTheModel) {
  CaptionOptions options;
  options.model.clear();  // bench: the random 2B
  EXPECT_TRUE(validate_model_settings(options).ok());
  EXPECT_FALSE(validate(options).ok());  // caption needs META.csv and a model
  options.fps = std::numeric_limits<double>::quiet_NaN();
  Status status = validate_model_settings(options);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "--fps must be > 0");
  options.fps = 4;
  options.device = "gpu";
  EXPECT_NE(validate_model_settings(options).message().find("--device 'gpu'"), std::string::npos);
  options.device = "cuda:1";
  options.prefetch = -1;  // a caption-only flag
  EXPECT_TRUE(validate_model_settings(options).ok());
}

// Past the processor's max_pixels the reference resizes every frame twice (qwen-vl-utils to the
// cap, then the processor under 12845056 pixels): a grid vcap would not match is refused. An
// exact size is brought under the bound in its one resize, as the reference does.
TEST(ValidateModelSettings, AnAreaCapOverTheProcessorsMaxPixelsIsRefused) {
  CaptionOptions options;
  options.height = 3584;
  options.width = 3584;
  EXPECT_TRUE(validate_model_settings(options).ok());
  options.width = 3612;
  const Status status = validate_model_settings(options);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("at most 12845056 pixels"), std::string::npos)
      << status.message();
  options.exact_size = true;
  EXPECT_TRUE(validate_model_settings(options).ok());
}

// A question the reference cannot take either is refused before anything runs: transformers'
// tokenizer refuses text that is not UTF-8, and its processor takes every pad or placeholder
// text for a video (every clip fails). Before, vcap captioned the first with U+FFFD and decoded
// every clip of the others to fail each one `internal`, which --retry could never mend.
TEST(ValidateModelSettings, AQuestionTheReferenceCannotTakeIsRefused) {
  CaptionOptions options;
  // As transformers does: special tokens split out, an image pad alone is a token.
  options.question = "Describe <|vision_start|> and <|im_end|> <|image_pad|> in details";
  EXPECT_TRUE(validate_model_settings(options).ok());
  for (const char* question : {"Describe \xff\xfe the video", "see <|video_pad|>",
                               "see <|vision_start|><|image_pad|>", "see <|placeholder|> now"}) {
    options.question = question;
    const Status status = validate_model_settings(options);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << question;
    EXPECT_EQ(status.message().rfind("--question ", 0), 0u) << status.message();
  }
}

// A model folder may bound the processor's frames tighter than the official 3136..12845056:
// transformers then resizes qwen-vl-utils' frames a second time, which vcap does not, so runs
// whose frames would leave the bounds are refused.
TEST(CheckProcessorBounds, FramesOutsideTheModelsBoundsAreRefused) {
  CaptionOptions options;  // 448 x 672: frames of up to 301056 pixels
  EXPECT_TRUE(check_processor_bounds(options, 3136, 12845056).ok());
  EXPECT_TRUE(check_processor_bounds(options, 301056, 301056).ok());
  Status status = check_processor_bounds(options, 3136, 200704);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("at most 200704 pixels, and with --height 448 --width 672 "
                                  "qwen-vl-utils gives frames of up to 301056"),
            std::string::npos)
      << status.message();
  status = check_processor_bounds(options, 301057, 12845056);  // no clip could pass
  EXPECT_NE(status.message().find("at least 301057 pixels"), std::string::npos) << status.message();
  options.height = 112;  // a cap under the floor of 100352 pixels: frames of up to 100352
  options.width = 112;
  EXPECT_TRUE(check_processor_bounds(options, 3136, 100352).ok());
  EXPECT_FALSE(check_processor_bounds(options, 3136, 100351).ok());
  options.exact_size = true;  // 450 x 670 rounds to 448 x 672
  options.height = 450;
  options.width = 670;
  EXPECT_TRUE(check_processor_bounds(options, 3136, 301056).ok());
  EXPECT_FALSE(check_processor_bounds(options, 3136, 301055).ok());
  options.height = 28;  // raised to 56 x 56 (3136 pixels), as qwen-vl-utils does
  options.width = 28;
  EXPECT_TRUE(check_processor_bounds(options, 3136, 12845056).ok());
}

TEST(FormatBytes, UsesBinaryUnits) {
  EXPECT_EQ(format_bytes(100), "100 B");
  EXPECT_EQ(format_bytes(3ull << 30), "3.0 GiB");
}

TEST(Fingerprint, ChangesWithCaptionSettingsButNotWithThroughputSettings) {
  CaptionOptions options;
  const std::string base = run_fingerprint(options, "model-a");
  CaptionOptions throughput = options;
  throughput.bs = 8;
  throughput.threads = 3;
  throughput.device = "cuda:1";
  throughput.max_memory_bytes = 1;
  throughput.root = "/elsewhere";
  EXPECT_EQ(run_fingerprint(throughput, "model-a"), base);

  CaptionOptions question = options;
  question.question = "What happens?";
  EXPECT_NE(run_fingerprint(question, "model-a"), base);
  EXPECT_NE(run_fingerprint(options, "model-b"), base);
  CaptionOptions precision = options;
  precision.precision = Precision::kF32;
  EXPECT_NE(run_fingerprint(precision, "model-a"), base);
}

TEST(Fingerprint, DifferenceNamesTheChangedFields) {
  CaptionOptions options;
  CaptionOptions other = options;
  other.fps = 2;
  other.question = "Q";
  const std::string difference =
      fingerprint_difference(run_fingerprint(options, "m"), run_fingerprint(other, "m"));
  EXPECT_NE(difference.find("fps: 4.0 (journal) vs 2.0 (now)"), std::string::npos) << difference;
  EXPECT_NE(difference.find("question"), std::string::npos);
  EXPECT_EQ(difference.find("model"), std::string::npos);
  EXPECT_EQ(fingerprint_difference(run_fingerprint(options, "m"), run_fingerprint(options, "m")),
            "");
}

}  // namespace
}  // namespace vcap::pipeline
