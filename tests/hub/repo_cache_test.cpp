#include "hub/repo_cache.h"

#include <gtest/gtest.h>

#include "hub/blob_check.h"
#include "hub/http_client.h"
#include "hub/model_files.h"

namespace vcap::hub {
namespace {

TEST(RepoCache, PathsFollowTheHuggingFaceLayout) {
  const RepoCache cache("/c", "Qwen/Qwen2-VL-2B-Instruct");
  EXPECT_EQ(cache.folder(), "/c/models--Qwen--Qwen2-VL-2B-Instruct");
  EXPECT_EQ(cache.blob_path("ab12"), "/c/models--Qwen--Qwen2-VL-2B-Instruct/blobs/ab12");
  EXPECT_EQ(cache.incomplete_path("ab12"),
            "/c/models--Qwen--Qwen2-VL-2B-Instruct/blobs/ab12.incomplete");
  EXPECT_EQ(cache.lock_path("ab12"), "/c/.locks/models--Qwen--Qwen2-VL-2B-Instruct/ab12.lock");
  EXPECT_EQ(cache.pointer_path("c0ffee", "config.json"),
            "/c/models--Qwen--Qwen2-VL-2B-Instruct/snapshots/c0ffee/config.json");
  EXPECT_EQ(repo_folder_name("gpt2"), "models--gpt2");
}

TEST(RepoCache, RepoIdValidation) {
  for (const char* good : {"Qwen/Qwen2-VL-2B-Instruct", "gpt2", "a_b/c.d-e"}) {
    EXPECT_TRUE(validate_repo_id(good).ok()) << good;
  }
  for (const char* bad : {"", "a/b/c", "a--b/c", "a/..b", "/a", "a/", ".a/b", "a/b-", "a b/c"}) {
    EXPECT_FALSE(validate_repo_id(bad).ok()) << bad;
  }
}

TEST(RepoCache, FileNamesFromTheHubCannotLeaveTheSnapshot) {
  EXPECT_TRUE(validate_repo_file_name("model-00001-of-00002.safetensors").ok());
  EXPECT_TRUE(validate_repo_file_name("sub/dir/file.json").ok());
  for (const char* bad : {"", "../x", "a/../../x", "/etc/passwd", "a//b", "dir/"}) {
    EXPECT_FALSE(validate_repo_file_name(bad).ok()) << bad;
  }
}

TEST(RepoCache, CommitShaRecognition) {
  EXPECT_TRUE(is_commit_sha("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_sha("main"));
  EXPECT_FALSE(is_commit_sha("0123456789ABCDEF0123456789abcdef01234567"));
}

TEST(BlobCheck, EtagKindsAndNormalization) {
  EXPECT_EQ(etag_kind(std::string(64, 'a')), EtagKind::kSha256);
  EXPECT_EQ(etag_kind(std::string(40, '0')), EtagKind::kGitBlob);
  EXPECT_EQ(etag_kind("xyz"), EtagKind::kOpaque);
  EXPECT_EQ(normalize_etag("W/\"abc\""), "abc");
  EXPECT_EQ(normalize_etag("\"abc\""), "abc");
}

TEST(HttpHelpers, PercentEncodingKeepsSlashesOnlyWhenAsked) {
  EXPECT_EQ(percent_encode("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(percent_encode("dir/a b.json", true), "dir/a%20b.json");
  EXPECT_EQ(url_origin("HTTPS://Hub.example:8443/x/y?z"), "https://hub.example:8443");
  EXPECT_EQ(url_origin("no-scheme"), "");
}

TEST(ModelFiles, PlanPutsConfigLastAndSkipsUnneededFiles) {
  Result<std::vector<std::string>> plan =
      plan_model_files({"README.md", "config.json", "model.safetensors", "tokenizer.json",
                        "tokenizer_config.json", "preprocessor_config.json", "chat_template.json",
                        "chat_template.jinja", "pytorch_model.bin"},
                       "m");
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(*plan,
            (std::vector<std::string>{"model.safetensors", "preprocessor_config.json",
                                      "tokenizer.json", "tokenizer_config.json",
                                      "chat_template.json", "chat_template.jinja", "config.json"}));
}

TEST(ModelFiles, PlanPrefersTheShardIndexAndNamesWhatIsMissing) {
  Result<std::vector<std::string>> plan =
      plan_model_files({"config.json", "model.safetensors.index.json", "tokenizer.json",
                        "tokenizer_config.json", "preprocessor_config.json"},
                       "m");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->front(), "model.safetensors.index.json");
  Result<std::vector<std::string>> no_weights =
      plan_model_files({"config.json", "pytorch_model.bin"}, "model x");
  ASSERT_FALSE(no_weights.ok());
  EXPECT_NE(no_weights.status().message().find("safetensors"), std::string::npos);
}

TEST(ModelFiles, ShardsOfIndexAreDistinctSortedAndSafe) {
  const auto index = nlohmann::json::parse(
      R"({"weight_map": {"a": "s2.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})");
  Result<std::vector<std::string>> shards = shards_of_index(index, "idx");
  ASSERT_TRUE(shards.ok());
  EXPECT_EQ(*shards, (std::vector<std::string>{"s1.safetensors", "s2.safetensors"}));
  EXPECT_FALSE(
      shards_of_index(nlohmann::json::parse(R"({"weight_map": {"a": "../x"}})"), "i").ok());
  EXPECT_FALSE(shards_of_index(nlohmann::json::parse(R"({"metadata": {}})"), "i").ok());
}

}  // namespace
}  // namespace vcap::hub
