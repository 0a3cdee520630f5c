#include "text/chat_template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "text_test_util.h"

namespace vcap::text {
namespace {

using Ids = std::vector<int32_t>;
using testing::qwen_tokenizer;

constexpr std::string_view kSpecPrompt =
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    "<|vision_start|><|video_pad|><|vision_end|>Describe the video in details<|im_end|>\n"
    "<|im_start|>assistant\n";

TEST(ChatTemplate, RendersTheSpecPromptWithTheDefaultSystemMessage) {
  EXPECT_EQ(render_video_prompt("Describe the video in details"), kSpecPrompt);
}

TEST(ChatTemplate, RendersAGivenSystemMessage) {
  EXPECT_EQ(render_video_prompt("Describe the video in details", "You are a video captioner."),
            "<|im_start|>system\nYou are a video captioner.<|im_end|>\n<|im_start|>user\n"
            "<|vision_start|><|video_pad|><|vision_end|>Describe the video in details<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, SpecPromptTokenizesToTheSpecIds) {
  const Ids expected = {151644, 8948, 198,    2610, 525,    264,    10950,  17847,  13,
                        151645, 198,  151644, 872,  198,    151652, 151656, 151653, 74785,
                        279,    2766, 304,    3565, 151645, 198,    151644, 77091,  198};
  EXPECT_EQ(qwen_tokenizer().encode(kSpecPrompt), expected);
  // The seed's default question ends in "detail." instead: 28 ids.
  const Ids seed = qwen_tokenizer().encode(render_video_prompt("Describe the video in detail."));
  ASSERT_EQ(seed.size(), 28u);
  EXPECT_EQ(Ids(seed.begin() + 17, seed.begin() + 23), (Ids{74785, 279, 2766, 304, 7716, 13}));
}

TEST(ChatTemplate, ExpandsTheSingleVideoPad) {
  const Ids ids = {1, kQwen2VlVideoPadId, 2};
  Result<Ids> expanded = expand_video_pads(ids, kQwen2VlVideoPadId, 3);
  ASSERT_TRUE(expanded.ok());
  EXPECT_EQ(*expanded, (Ids{1, kQwen2VlVideoPadId, kQwen2VlVideoPadId, kQwen2VlVideoPadId, 2}));
}

TEST(ChatTemplate, RefusesToExpandUnlessThereIsExactlyOnePad) {
  EXPECT_EQ(expand_video_pads(Ids{1, 2}, kQwen2VlVideoPadId, 4).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(expand_video_pads(Ids{kQwen2VlVideoPadId, kQwen2VlVideoPadId}, kQwen2VlVideoPadId, 4)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(expand_video_pads(Ids{kQwen2VlVideoPadId}, kQwen2VlVideoPadId, 0).ok());
  EXPECT_FALSE(
      expand_video_pads(Ids{kQwen2VlVideoPadId}, kQwen2VlVideoPadId, int64_t{1} << 40).ok());
}

// Every golden case: prompt.txt is our rendering of its question, and tokenizing it and
// expanding the pad by t*h*w/4 gives input_ids.npy exactly.
TEST(ChatTemplate, MatchesEveryGoldenCasePromptAndInputIds) {
  const std::filesystem::path cases = testing::test_data_dir() / "text" / "cases";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(cases)) {
    const std::filesystem::path dir = entry.path();
    SCOPED_TRACE(dir.filename().string());
    const nlohmann::json args = nlohmann::json::parse(testing::read_file(dir / "args.json"));
    const std::string prompt = render_video_prompt(args.at("question").get<std::string>());
    EXPECT_EQ(prompt, testing::read_file(dir / "prompt.txt"));

    const testing::Int64Array grid = testing::read_int64_npy(dir / "grid_thw.npy");
    ASSERT_EQ(grid.values.size(), 3u);
    const int64_t count = grid.values[0] * grid.values[1] * grid.values[2] / 4;
    Result<Ids> ids = expand_video_pads(qwen_tokenizer().encode(prompt), kQwen2VlVideoPadId, count);
    ASSERT_TRUE(ids.ok()) << ids.status().to_string();

    const testing::Int64Array golden = testing::read_int64_npy(dir / "input_ids.npy");
    ASSERT_EQ(ids->size(), golden.values.size());
    EXPECT_TRUE(std::equal(ids->begin(), ids->end(), golden.values.begin()));
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

}  // namespace
}  // namespace vcap::text
