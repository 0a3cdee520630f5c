#include "hub/model_resolver.h"

#include <gtest/gtest.h>

#include <thread>

#include "hub_test_util.h"

namespace vcap::hub::testing {
namespace {

using ResolveModel = HubTest;

TEST_F(ResolveModel, DownloadsIntoTheHuggingFaceCacheLayout) {
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(*path, snapshot());
  EXPECT_EQ(read_file(repo_folder() / "refs" / "main"), kCommit);  // bare sha, no newline
  for (const char* file : {"config.json", "generation_config.json", "preprocessor_config.json",
                           "tokenizer.json", "tokenizer_config.json", "model.safetensors"}) {
    SCOPED_TRACE(file);
    const std::filesystem::path pointer = snapshot() / file;
    ASSERT_TRUE(std::filesystem::is_symlink(pointer));
    EXPECT_EQ(std::filesystem::read_symlink(pointer),
              std::filesystem::path("../../blobs") / hub_->etag_of(file));
    EXPECT_TRUE(std::filesystem::is_regular_file(blob(file)));
  }
  // Blob names: the sha256 for the LFS weights, the git blob id (40 hex) for small files.
  EXPECT_EQ(hub_->etag_of("model.safetensors").size(), 64u);
  EXPECT_EQ(hub_->etag_of("config.json").size(), 40u);
  EXPECT_EQ(read_file(snapshot() / "model.safetensors"), pattern_bytes(5000, 1));
  EXPECT_FALSE(std::filesystem::exists(snapshot() / "README.md"));
  EXPECT_FALSE(std::filesystem::exists(blob("model.safetensors").string() + ".incomplete"));
}

TEST_F(ResolveModel, CachedModelIsUsedWithoutAnyRequest) {
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  const int requests_after_download = hub_->total_requests();
  Result<std::filesystem::path> again = resolve_model(kRepo, options_);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*again, snapshot());
  EXPECT_EQ(hub_->total_requests(), requests_after_download);
}

TEST_F(ResolveModel, RefreshAsksForTheCommitButDownloadsNothingCached) {
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  const int gets = hub_->body_gets();
  options_.refresh = true;
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  EXPECT_EQ(hub_->api_requests(), 2);
  EXPECT_EQ(hub_->body_gets(), gets);
}

TEST_F(ResolveModel, RetryResumesAnInterruptedTransferWithARange) {
  hub_->cut_first_body_after("model.safetensors", 1200);
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(read_file(*path / "model.safetensors"), pattern_bytes(5000, 1));
  EXPECT_EQ(hub_->body_gets("model.safetensors"), 2);
  EXPECT_EQ(hub_->ranges_seen(), std::vector<std::string>{"bytes=1200-"});
}

TEST_F(ResolveModel, RerunResumesWhatAnInterruptedRunLeft) {
  options_.max_retries = 0;
  hub_->cut_first_body_after("model.safetensors", 700);
  Result<std::filesystem::path> first = resolve_model(kRepo, options_);
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("model.safetensors"), std::string::npos)
      << first.status().message();
  const std::filesystem::path partial = blob("model.safetensors").string() + ".incomplete";
  ASSERT_TRUE(std::filesystem::exists(partial));
  EXPECT_EQ(std::filesystem::file_size(partial), 700u);

  Result<std::filesystem::path> second = resolve_model(kRepo, options_);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(read_file(*second / "model.safetensors"), pattern_bytes(5000, 1));
  EXPECT_EQ(hub_->ranges_seen(), std::vector<std::string>{"bytes=700-"});
  EXPECT_FALSE(std::filesystem::exists(partial));
}

TEST_F(ResolveModel, OfflineUsesTheCacheWithoutTouchingTheNetwork) {
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  const int requests = hub_->total_requests();
  options_.offline = true;
  options_.endpoint = "http://127.0.0.1:1";  // would fail if used
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(*path, snapshot());
  EXPECT_EQ(hub_->total_requests(), requests);
}

TEST_F(ResolveModel, OfflineWithoutTheModelFailsClearlyAndMakesNoRequest) {
  options_.offline = true;
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), StatusCode::kNotFound);
  EXPECT_NE(path.status().message().find(std::string("model ") + kRepo), std::string::npos);
  EXPECT_NE(path.status().message().find("HF_HUB_OFFLINE=1"), std::string::npos)
      << path.status().message();
  EXPECT_EQ(hub_->total_requests(), 0);
}

TEST_F(ResolveModel, ChecksumMismatchKeepsNothingAndARerunSucceeds) {
  hub_->corrupt_body("model.safetensors", true);
  Result<std::filesystem::path> bad = resolve_model(kRepo, options_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find("checksum"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(std::filesystem::exists(blob("model.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(blob("model.safetensors").string() + ".incomplete"));
  EXPECT_FALSE(std::filesystem::exists(snapshot() / "model.safetensors"));

  hub_->corrupt_body("model.safetensors", false);
  Result<std::filesystem::path> good = resolve_model(kRepo, options_);
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_EQ(read_file(*good / "model.safetensors"), pattern_bytes(5000, 1));
}

// A download that fails leaves the revision's ref as it was (here: none), so that runs offline
// keep using the snapshot it named, which is whole, not a partial one.
TEST_F(ResolveModel, TheRefNamesTheNewCommitOnlyOnceItsSnapshotIsWhole) {
  hub_->corrupt_body("model.safetensors", true);
  ASSERT_FALSE(resolve_model(kRepo, options_).ok());
  EXPECT_FALSE(std::filesystem::exists(repo_folder() / "refs" / "main"));
  hub_->corrupt_body("model.safetensors", false);
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  EXPECT_EQ(read_file(repo_folder() / "refs" / "main"), kCommit);
}

TEST_F(ResolveModel, SmallGitFileWithWrongBytesIsRejectedToo) {
  hub_->corrupt_body("tokenizer.json", true);
  Result<std::filesystem::path> bad = resolve_model(kRepo, options_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find("tokenizer.json"), std::string::npos);
}

TEST_F(ResolveModel, TruncatedCachedBlobIsFetchedAgain) {
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  std::filesystem::resize_file(blob("model.safetensors"), 100);
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(read_file(*path / "model.safetensors"), pattern_bytes(5000, 1));
  EXPECT_EQ(hub_->body_gets("model.safetensors"), 2);
}

TEST_F(ResolveModel, AlteredCachedBlobsAreFetchedAgain) {
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  // Same size, other bytes: the name (sha256 / git blob id) no longer matches the content.
  for (const char* file : {"model.safetensors", "config.json"}) {
    std::string bytes = read_file(blob(file));
    bytes[0] ^= 1;
    std::ofstream(blob(file), std::ios::binary) << bytes;
  }
  // A later modification time is what tells vcap to hash the LFS blob again.
  std::filesystem::last_write_time(
      blob("model.safetensors"),
      std::filesystem::file_time_type::clock::now() + std::chrono::seconds(5));
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(read_file(*path / "model.safetensors"), pattern_bytes(5000, 1));
  EXPECT_EQ(hub_->body_gets("model.safetensors"), 2);
  EXPECT_EQ(hub_->body_gets("config.json"), 2);
}

TEST_F(ResolveModel, CorruptCachedBlobWhileOfflineIsAnErrorNotALoad) {
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  std::filesystem::resize_file(blob("model.safetensors"), 10);
  options_.offline = true;
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), StatusCode::kCorruption);
  EXPECT_NE(path.status().message().find("model.safetensors"), std::string::npos);
}

TEST_F(ResolveModel, UnknownModelIs404WithAClearMessage) {
  Result<std::filesystem::path> path = resolve_model("tiny-org/No-Such-Model", options_);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(path.status().message(), "model tiny-org/No-Such-Model not found on " +
                                         hub_->endpoint() + " (or private: set HF_TOKEN)");
}

// The hub answers the old id of a renamed repository (or another capitalisation) with a 307 to
// the same path under the new one: the API call and every file's HEAD follow it.
TEST_F(ResolveModel, ARenamedRepositoryIsFollowedToItsNewName) {
  hub_->rename_from("OldOrg/old-name");
  Result<std::filesystem::path> path = resolve_model("OldOrg/old-name", options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(read_file(*path / "model.safetensors"), pattern_bytes(5000, 1));
  // Cached under the id asked for, as huggingface_hub does.
  EXPECT_NE(path->string().find("models--OldOrg--old-name"), std::string::npos) << *path;
}

// The CDN's signed links expire (after about an hour: a long transfer, a long wait for another
// process's lock): a refused link is replaced by a fresh one from a new HEAD, once.
TEST_F(ResolveModel, AnExpiredCdnLinkIsReplacedByAFreshOne) {
  hub_->refuse_cdn_links(1);
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(read_file(*path / "model.safetensors"), pattern_bytes(5000, 1));
}

TEST_F(ResolveModel, ACdnThatKeepsRefusingIsNamedWithoutAdviceAboutTheToken) {
  hub_->refuse_cdn_links(1000);
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_FALSE(path.ok());
  EXPECT_NE(path.status().message().find("refused the download link (HTTP 403)"), std::string::npos)
      << path.status().message();
  EXPECT_EQ(path.status().message().find("HF_TOKEN"), std::string::npos);
}

TEST_F(ResolveModel, UnknownRevisionIsNamed) {
  options_.revision = "v9";
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_FALSE(path.ok());
  EXPECT_NE(path.status().message().find("no revision \"v9\""), std::string::npos)
      << path.status().message();
}

TEST_F(ResolveModel, NoAccessMentionsHfToken) {
  for (int status : {401, 403}) {
    SCOPED_TRACE(status);
    hub_->fail_all(status);
    Result<std::filesystem::path> path = resolve_model(kRepo, options_);
    ASSERT_FALSE(path.ok());
    EXPECT_EQ(path.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(path.status().message().find("HF_TOKEN"), std::string::npos)
        << path.status().message();
    EXPECT_NE(path.status().message().find(kRepo), std::string::npos);
  }
  hub_->fail_all(403, "GatedRepo");
  Result<std::filesystem::path> gated = resolve_model(kRepo, options_);
  ASSERT_FALSE(gated.ok());
  EXPECT_NE(gated.status().message().find("gated"), std::string::npos);
}

TEST_F(ResolveModel, TokenGoesToTheHubButNotToTheCdn) {
  hub_->require_token("secret");
  Result<std::filesystem::path> anonymous = resolve_model(kRepo, options_);
  ASSERT_FALSE(anonymous.ok());
  EXPECT_NE(anonymous.status().message().find("HF_TOKEN"), std::string::npos);
  options_.token = "secret";
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_FALSE(hub_->cdn_saw_authorization());
}

TEST_F(ResolveModel, TransientServerErrorsAreRetried) {
  hub_->fail_api_transiently(2);
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(hub_->api_requests(), 3);
}

TEST_F(ResolveModel, NetworkDownGivesLibcurlsReason) {
  options_.endpoint = "http://127.0.0.1:1";  // nothing listens on port 1
  options_.max_retries = 0;
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), StatusCode::kIoError);
  EXPECT_NE(path.status().message().find("cannot reach http://127.0.0.1:1"), std::string::npos)
      << path.status().message();
  EXPECT_NE(path.status().message().find("connect"), std::string::npos);
}

TEST_F(ResolveModel, NotEnoughDiskSpaceIsReportedBeforeTheTransfer) {
  hub_->announce_size("model.safetensors", uint64_t{1} << 60);  // an exabyte
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_FALSE(path.ok());
  EXPECT_NE(path.status().message().find("not enough disk space"), std::string::npos)
      << path.status().message();
  EXPECT_EQ(hub_->body_gets("model.safetensors"), 0);
}

TEST_F(ResolveModel, ShardedCheckpointFetchesEveryShardOfTheIndex) {
  hub_->remove_file("model.safetensors");
  hub_->add_file("model.safetensors.index.json",
                 R"({"metadata": {}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                     "b.weight": "model-00002-of-00002.safetensors",
                     "c.weight": "model-00001-of-00002.safetensors"}})");
  hub_->add_file("model-00001-of-00002.safetensors", pattern_bytes(3000, 2), true);
  hub_->add_file("model-00002-of-00002.safetensors", pattern_bytes(2000, 3), true);
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(read_file(*path / "model-00001-of-00002.safetensors"), pattern_bytes(3000, 2));
  EXPECT_EQ(read_file(*path / "model-00002-of-00002.safetensors"), pattern_bytes(2000, 3));
  options_.offline = true;
  EXPECT_TRUE(resolve_model(kRepo, options_).ok());
}

TEST_F(ResolveModel, MissingRequiredFileIsNamed) {
  hub_->remove_file("tokenizer.json");
  Result<std::filesystem::path> path = resolve_model(kRepo, options_);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), StatusCode::kNotFound);
  EXPECT_NE(path.status().message().find("has no tokenizer.json"), std::string::npos)
      << path.status().message();
}

TEST_F(ResolveModel, OptionalFilesMayBeAbsent) {
  hub_->remove_file("generation_config.json");
  ASSERT_TRUE(resolve_model(kRepo, options_).ok());
  EXPECT_FALSE(std::filesystem::exists(snapshot() / "generation_config.json"));
  options_.offline = true;
  EXPECT_TRUE(resolve_model(kRepo, options_).ok());
}

TEST_F(ResolveModel, ConcurrentResolvesDownloadEachFileOnce) {
  // Two "ranks" (threads with their own state, as processes would be) share one cache.
  Result<std::filesystem::path> first = Status::internal("not run");
  Result<std::filesystem::path> second = Status::internal("not run");
  std::thread a([&] { first = resolve_model(kRepo, options_); });
  std::thread b([&] { second = resolve_model(kRepo, options_); });
  a.join();
  b.join();
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(hub_->body_gets("model.safetensors"), 1);
  EXPECT_EQ(hub_->body_gets("config.json"), 1);
  EXPECT_EQ(read_file(*first / "model.safetensors"), pattern_bytes(5000, 1));
}

TEST_F(ResolveModel, AnExistingDirectoryIsReturnedAsIs) {
  Result<std::filesystem::path> path = resolve_model(root_.string(), options_);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, root_);
  EXPECT_EQ(hub_->total_requests(), 0);
}

TEST_F(ResolveModel, MissingDirectoryAndBadIdsAreRejected) {
  Result<std::filesystem::path> missing = resolve_model("./no/such/dir", options_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "model directory ./no/such/dir does not exist");
  for (const char* bad : {"a/b/c", "org--x/name", "-org/name", "org/na me"}) {
    Result<std::filesystem::path> path = resolve_model(bad, options_);
    ASSERT_FALSE(path.ok()) << bad;
    EXPECT_EQ(path.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(hub_->total_requests(), 0);
}

}  // namespace
}  // namespace vcap::hub::testing
