// Every case of shared/golden/tokenizer (copied to tests/data/text), which two independent
// ports of HF tokenizers agree on: ids and texts must be identical.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "text/tokenizer.h"
#include "text_test_util.h"

namespace vcap::text {
namespace {

using testing::qwen_tokenizer;
using testing::read_lines;
using testing::test_data_dir;

TEST(TokenizerGolden, EncodesAll334GoldenTextsToTheGoldenIds) {
  const std::vector<std::string> lines = read_lines(test_data_dir() / "text" / "encode.jsonl");
  ASSERT_EQ(lines.size(), 334u);
  int passed = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json row = nlohmann::json::parse(lines[i]);
    const auto text = row.at("text").get<std::string>();
    const auto expected = row.at("ids").get<std::vector<int32_t>>();
    const std::vector<int32_t> ids = qwen_tokenizer().encode(text);
    EXPECT_EQ(ids, expected) << "encode.jsonl line " << i + 1 << ": " << row.at("text").dump();
    passed += ids == expected;
  }
  EXPECT_EQ(passed, 334);
}

TEST(TokenizerGolden, DecodesAll268GoldenIdListsToTheGoldenTexts) {
  const std::vector<std::string> lines = read_lines(test_data_dir() / "text" / "decode.jsonl");
  ASSERT_EQ(lines.size(), 268u);
  int passed = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json row = nlohmann::json::parse(lines[i]);
    const auto ids = row.at("ids").get<std::vector<int32_t>>();
    const bool skip = row.at("skip_special_tokens").get<bool>();
    const auto expected = row.at("text").get<std::string>();
    const std::string text = qwen_tokenizer().decode(ids, skip);
    EXPECT_EQ(text, expected) << "decode.jsonl line " << i + 1;
    passed += text == expected;
  }
  EXPECT_EQ(passed, 268);
}

// Decoding the golden encodings gives the NFC form of the text back (the tokenizer is lossless
// up to normalisation and invalid input).
TEST(TokenizerGolden, ReencodingTheDecodedGoldenIdsGivesTheSameIds) {
  const std::vector<std::string> lines = read_lines(test_data_dir() / "text" / "encode.jsonl");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json row = nlohmann::json::parse(lines[i]);
    const auto text = row.at("text").get<std::string>();
    const auto ids = row.at("ids").get<std::vector<int32_t>>();
    const std::string decoded = qwen_tokenizer().decode(ids, false);
    // Re-encoding the decoded text must give the same ids (NFC is idempotent).
    EXPECT_EQ(qwen_tokenizer().encode(decoded), ids) << "encode.jsonl line " << i + 1;
  }
}

}  // namespace
}  // namespace vcap::text
