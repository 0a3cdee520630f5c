// Loading tokenizer.json: a small synthetic tokenizer, file errors, and the configurations that
// are refused rather than mis-tokenised.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "text/byte_level.h"
#include "text/tokenizer.h"
#include "text_test_util.h"

namespace vcap::text {
namespace {

using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

// Every byte (id = byte value), "ab" = 256, "abc" = 257, and the special "<x>" = 300.
Json tiny_tokenizer() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b)
    vocab[bytes_to_table_text(std::string(1, static_cast<char>(b)))] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  return Json{
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", Json::array({{{"id", 300},
                                     {"content", "<x>"},
                                     {"special", true},
                                     {"lstrip", false},
                                     {"rstrip", false},
                                     {"single_word", false},
                                     {"normalized", false}}})},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         Json::array(
             {{{"type", "Split"},
               {"pattern", {{"Regex", R"(\s+|[^\s]+)"}}},
               {"behavior", "Isolated"},
               {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
      {"post_processor", {{"type", "ByteLevel"}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", Json::array({"a b", Json::array({"ab", "c"})})}}}};
}

Status load_status(const Json& json) {
  return Tokenizer::load_from_json_text(json.dump()).status();
}

// A file under the test temp dir, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& content)
      : path_(std::filesystem::path(::testing::TempDir()) /
              ("vcap_text_" + std::to_string(getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json")) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(TokenizerLoad, LoadsASmallTokenizerWithStringAndArrayMerges) {
  Result<Tokenizer> tokenizer = Tokenizer::load_from_json_text(tiny_tokenizer().dump());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  EXPECT_EQ(tokenizer->encode("abc ab<x>"), (Ids{257, ' ', 256, 300}));
  EXPECT_EQ(tokenizer->decode(Ids{257, 300, ' '}, false), "abc<x> ");
  EXPECT_EQ(tokenizer->decode(Ids{257, 300, ' '}, true), "abc ");
  EXPECT_EQ(tokenizer->vocab_size(), 301);
}

TEST(TokenizerLoad, NamesTheFileWhenItIsMissingOrNotJson) {
  const std::filesystem::path missing = "/nonexistent/dir/tokenizer.json";
  Status status = Tokenizer::load(missing).status();
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find(missing.string()), std::string::npos);

  const TempFile corrupt("{\"model\": [1, 2");
  status = Tokenizer::load(corrupt.path()).status();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find(corrupt.path().string()), std::string::npos) << status.message();
}

TEST(TokenizerLoad, RefusesADirectoryWithoutTokenizerJson) {
  const Status status = Tokenizer::load(::testing::TempDir()).status();
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("tokenizer.json"), std::string::npos);
}

// A tokenizer.json that is a folder is an error naming it; the reader threw (libstdc++'s
// underflow on EISDIR), ending the process.
TEST(TokenizerLoad, ATokenizerJsonThatIsAFolderIsAnError) {
  const std::filesystem::path model = std::filesystem::path(::testing::TempDir()) /
                                      ("vcap_text_folder_" + std::to_string(getpid()));
  std::filesystem::create_directories(model / "tokenizer.json");
  const Status status = Tokenizer::load(model).status();
  std::filesystem::remove_all(model);
  EXPECT_EQ(status.code(), StatusCode::kIoError) << status.to_string();
  EXPECT_NE(status.message().find("tokenizer.json"), std::string::npos) << status.message();
}

// Each edit turns the tiny tokenizer into a configuration vcap does not implement.
TEST(TokenizerLoad, RefusesConfigurationsItDoesNotImplement) {
  const std::vector<std::pair<std::string, std::function<void(Json&)>>> edits = {
      {"normalizer",
       [](Json& j) {
         j["normalizer"] = {{"type", "NFKC"}};
       }},
      {"byte_fallback", [](Json& j) { j["model"]["byte_fallback"] = true; }},
      {"dropout", [](Json& j) { j["model"]["dropout"] = 0.1; }},
      {"continuing_subword_prefix",
       [](Json& j) { j["model"]["continuing_subword_prefix"] = "##"; }},
      {"model: type", [](Json& j) { j["model"]["type"] = "WordPiece"; }},
      {"pre_tokenizer",
       [](Json& j) {
         j["pre_tokenizer"] = {{"type", "ByteLevel"}};
       }},
      {"behavior", [](Json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }},
      {"add_prefix_space",
       [](Json& j) { j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true; }},
      {"post_processor",
       [](Json& j) {
         j["post_processor"] = {{"type", "TemplateProcessing"}};
       }},
      {"decoder", [](Json& j) { j.erase("decoder"); }},
      {"lstrip", [](Json& j) { j["added_tokens"][0]["lstrip"] = true; }},
      {"normalized", [](Json& j) { j["added_tokens"][0]["normalized"] = true; }},
      {"truncation",
       [](Json& j) {
         j["truncation"] = {{"max_length", 8}};
       }},
  };
  for (const auto& [field, edit] : edits) {
    Json json = tiny_tokenizer();
    edit(json);
    const Status status = load_status(json);
    EXPECT_EQ(status.code(), StatusCode::kUnsupported) << field << ": " << status.to_string();
    EXPECT_NE(status.message().find(field), std::string::npos) << field << ": " << status.message();
  }
}

TEST(TokenizerLoad, RejectsMalformedFields) {
  const std::vector<std::pair<std::string, std::function<void(Json&)>>> edits = {
      {"model.merges[0]", [](Json& j) { j["model"]["merges"][0] = "abc"; }},
      {"model.merges[1]", [](Json& j) { j["model"]["merges"][1] = Json::array({"ab"}); }},
      {"model.merges[0]", [](Json& j) { j["model"]["merges"][0] = "a q"; }},
      {"model.vocab", [](Json& j) { j["model"]["vocab"]["ab"] = -4; }},
      {"model.vocab", [](Json& j) { j["model"]["vocab"]["ab"] = 4000000000LL; }},
      {"model.vocab", [](Json& j) { j["model"]["vocab"]["ab"] = "x"; }},
      {"added_tokens[0].content", [](Json& j) { j["added_tokens"][0]["content"] = ""; }},
      {"added_tokens[0].id", [](Json& j) { j["added_tokens"][0].erase("id"); }},
      {"pre_tokenizer.pretokenizers[0]",
       [](Json& j) {
         j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(["}};
       }},
  };
  for (const auto& [field, edit] : edits) {
    Json json = tiny_tokenizer();
    edit(json);
    const Status status = load_status(json);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << field << ": " << status.to_string();
    EXPECT_NE(status.message().find(field), std::string::npos) << field << ": " << status.message();
  }
  EXPECT_EQ(Tokenizer::load_from_json_text("[]").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Tokenizer::load_from_json_text("").status().code(), StatusCode::kCorruption);
}

TEST(TokenizerLoad, ByteLevelTokenizerWithoutNormalizerSkipsNfc) {
  Json json = tiny_tokenizer();
  json["normalizer"] = nullptr;
  Result<Tokenizer> tokenizer = Tokenizer::load_from_json_text(json.dump());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  // "e" + U+0301 stays two characters: bytes 65, CC, 81.
  EXPECT_EQ(tokenizer->encode("e\xcc\x81"), (Ids{'e', 0xCC, 0x81}));
}

}  // namespace
}  // namespace vcap::text
