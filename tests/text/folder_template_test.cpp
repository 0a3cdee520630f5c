// Which system prompt a model folder's chat template inserts (text/folder_template.h).
#include "text/folder_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/temp_dir.h"

namespace vcap::text {
namespace {

namespace fs = std::filesystem;
const fs::path kQwen2Vl = fs::path(VCAP_TEST_DATA_DIR) / "qwen2vl";

std::string official_template() {
  std::ifstream in(kQwen2Vl / "chat_template.json");
  return nlohmann::json::parse(in)["chat_template"].get<std::string>();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

TEST(ClassifyChatTemplate, TheOfficialTemplateGivesTheDefaultSystemPrompt) {
  const FolderTemplate official = classify_chat_template(official_template());
  EXPECT_TRUE(official.understood);
  EXPECT_EQ(official.system_prompt, kDefaultSystemPrompt);
}

// A fine-tune that only changed the default system prompt: transformers renders it, so does vcap.
TEST(ClassifyChatTemplate, AnotherSystemPromptIsFollowed) {
  const FolderTemplate tuned = classify_chat_template(replaced(
      official_template(), "You are a helpful assistant.", "You caption videos.\nBriefly."));
  EXPECT_TRUE(tuned.understood);
  EXPECT_EQ(tuned.system_prompt, "You caption videos.\nBriefly.");
}

// Jinja drops one trailing newline, which editors add to a .jinja file.
TEST(ClassifyChatTemplate, OneTrailingNewlineIsDroppedAsJinjaDropsIt) {
  const std::string tuned =
      replaced(official_template(), "You are a helpful assistant.", "You caption videos.");
  for (const char* end : {"\n", "\r\n"}) {
    const FolderTemplate read = classify_chat_template(tuned + end);
    EXPECT_TRUE(read.understood);
    EXPECT_EQ(read.system_prompt, "You caption videos.");
  }
  EXPECT_FALSE(classify_chat_template(tuned + "\n\n").understood);
}

TEST(ClassifyChatTemplate, AnyOtherTemplateIsNotUnderstood) {
  const std::string official = official_template();
  for (const std::string& other :
       {replaced(official, "You are a helpful assistant.", "Today is {{ date }}."),
        replaced(official, "<|im_start|>assistant\n", "<|im_start|>assistant\nSure: "),
        replaced(official, "{% if add_vision_id %}Video", "{% if true %}Video"), std::string()}) {
    const FolderTemplate read = classify_chat_template(other);
    EXPECT_FALSE(read.understood) << other;
    EXPECT_EQ(read.system_prompt, kDefaultSystemPrompt);
  }
}

// transformers' processor takes chat_template.jinja first, then chat_template.json, then the
// tokenizer config (its "default" entry when it lists several).
TEST(ReadFolderTemplate, FollowsTheProcessorsOrderOfFiles) {
  vcap::testing::TempDir dir;
  Result<FolderTemplate> none = read_folder_template(dir.path());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->understood);
  EXPECT_EQ(none->source, "");

  const std::string official = official_template();
  const auto with_prompt = [&](const std::string& prompt) {
    return replaced(official, "You are a helpful assistant.", prompt);
  };
  nlohmann::json listed = {{"chat_template",
                            {{{"name", "tool_use"}, {"template", "{{ tools }}"}},
                             {{"name", "default"}, {"template", with_prompt("from the list")}}}}};
  write_file(dir.path() / "tokenizer_config.json", listed.dump());
  EXPECT_EQ(read_folder_template(dir.path())->system_prompt, "from the list");
  write_file(dir.path() / "chat_template.json",
             nlohmann::json{{"chat_template", with_prompt("from the json")}}.dump());
  EXPECT_EQ(read_folder_template(dir.path())->system_prompt, "from the json");
  write_file(dir.path() / "chat_template.jinja", with_prompt("from the jinja"));
  Result<FolderTemplate> jinja = read_folder_template(dir.path());
  ASSERT_TRUE(jinja.ok());
  EXPECT_EQ(jinja->system_prompt, "from the jinja");
  EXPECT_EQ(jinja->source, (dir.path() / "chat_template.jinja").string());

  // transformers fails on a template that is not UTF-8: so does vcap, naming the file.
  write_file(dir.path() / "chat_template.jinja", with_prompt("caf\xe9"));
  EXPECT_EQ(read_folder_template(dir.path()).status().code(), StatusCode::kCorruption);
  // A template there that cannot be read is an error naming it, never taken for absent.
  fs::remove(dir.path() / "chat_template.jinja");
  fs::create_directory(dir.path() / "chat_template.jinja");
  const Status unreadable = read_folder_template(dir.path()).status();
  EXPECT_FALSE(unreadable.ok());
  EXPECT_NE(unreadable.message().find("chat_template.jinja"), std::string::npos)
      << unreadable.message();
  fs::remove(dir.path() / "chat_template.jinja");
  write_file(dir.path() / "chat_template.json", "{not json");
  EXPECT_EQ(read_folder_template(dir.path()).status().code(), StatusCode::kCorruption);
}

TEST(ReadFolderTemplate, TheRepositorysSideFilesAreTheOfficialTemplate) {
  Result<FolderTemplate> read = read_folder_template(kQwen2Vl);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_TRUE(read->understood);
  EXPECT_EQ(read->system_prompt, kDefaultSystemPrompt);
  EXPECT_TRUE(classify_chat_template(nlohmann::json::parse(std::ifstream(
                                         kQwen2Vl / "tokenizer_config.json"))["chat_template"]
                                         .get<std::string>())
                  .understood);
}

}  // namespace
}  // namespace vcap::text
