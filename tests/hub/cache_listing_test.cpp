#include "hub/cache_listing.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "hub/model_resolver.h"
#include "hub/progress_printer.h"
#include "hub_test_util.h"

namespace vcap::hub::testing {
namespace {

using CacheListing = HubTest;

TEST_F(CacheListing, AbsentCacheHoldsNothing) {
  Result<std::vector<CachedModel>> models = list_cached_models(root_ / "no-cache-yet");
  ASSERT_TRUE(models.ok());
  EXPECT_TRUE(models->empty());
}

TEST_F(CacheListing, ListsRevisionsSizeAndCompleteness) {
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  Result<std::vector<CachedModel>> models = list_cached_models(options_.cache_dir);
  ASSERT_TRUE(models.ok()) << models.status().to_string();
  ASSERT_EQ(models->size(), 1u);
  const CachedModel& model = models->front();
  EXPECT_EQ(model.repo_id, kRepo);
  ASSERT_EQ(model.snapshots.size(), 1u);
  EXPECT_EQ(model.snapshots[0].commit, kCommit);
  EXPECT_EQ(model.snapshots[0].refs, std::vector<std::string>{"main"});
  EXPECT_TRUE(model.snapshots[0].complete) << model.snapshots[0].missing;
  uint64_t expected_size = 0;
  for (const auto& entry : std::filesystem::directory_iterator(repo_folder() / "blobs")) {
    expected_size += entry.file_size();
  }
  EXPECT_EQ(model.size_bytes, expected_size);
  EXPECT_GE(model.size_bytes, 5000u);
  EXPECT_EQ(model.partial_bytes, 0u);

  std::filesystem::remove(snapshot() / "tokenizer.json");
  models = list_cached_models(options_.cache_dir);
  ASSERT_TRUE(models.ok());
  EXPECT_FALSE(models->front().snapshots[0].complete);
  EXPECT_NE(models->front().snapshots[0].missing.find("tokenizer.json"), std::string::npos);
}

TEST_F(CacheListing, PartialDownloadsAreCounted) {
  options_.max_retries = 0;
  hub_->cut_first_body_after("model.safetensors", 300);
  ASSERT_FALSE(resolve_model(kRepo, options_).ok());
  Result<std::vector<CachedModel>> models = list_cached_models(options_.cache_dir);
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ(models->front().partial_bytes, 300u);
  ASSERT_EQ(models->front().snapshots.size(), 1u);
  EXPECT_FALSE(models->front().snapshots[0].complete);
}

TEST(FormatBytes, UsesDecimalUnits) {
  EXPECT_EQ(format_bytes(17), "17 B");
  EXPECT_EQ(format_bytes(1500), "1.50 kB");
  EXPECT_EQ(format_bytes(4'400'000'000), "4.40 GB");
  EXPECT_EQ(format_bytes(532'000'000), "532 MB");
}

TEST_F(CacheListing, PlainProgressPrintsOneLinePerFileEvent) {
  // Not a terminal: "downloading" and "downloaded" lines, no carriage returns.
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  options_.progress = make_progress_printer(log, /*interactive=*/false);
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  std::rewind(log);
  std::string text;
  for (int c = std::fgetc(log); c != EOF; c = std::fgetc(log)) text.push_back(static_cast<char>(c));
  std::fclose(log);
  EXPECT_NE(text.find("downloading model.safetensors (5.00 kB)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("downloaded model.safetensors\n"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

}  // namespace
}  // namespace vcap::hub::testing
