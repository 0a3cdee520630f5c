// Shared setup of the hub tests: a fake hub with a tiny model and a fresh cache per test.
#ifndef VCAP_TESTS_HUB_HUB_TEST_UTIL_H_
#define VCAP_TESTS_HUB_HUB_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "fake_hub.h"
#include "hub/hub_options.h"

namespace vcap::hub::testing {

inline constexpr char kRepo[] = "tiny-org/Tiny-VL";
inline constexpr char kCommit[] = "0123456789abcdef0123456789abcdef01234567";

// Bytes that are not all alike, so that a flipped or shifted byte changes the checksum.
inline std::string pattern_bytes(size_t size, int seed) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + seed * 7) % 251);
  return bytes;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A proxy in the environment must not catch requests to the fake hub.
    ::setenv("no_proxy", "127.0.0.1,localhost", 1);
    ::setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = std::filesystem::path(::testing::TempDir()) /
            (std::string("vcap_hub_") + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    hub_ = std::make_unique<FakeHub>(kRepo, kCommit);
    add_single_file_model();
    options_.endpoint = hub_->endpoint();
    options_.cache_dir = root_ / "cache";
    options_.retry_delay = std::chrono::milliseconds(1);
    options_.max_retries = 2;
  }
  void TearDown() override {
    hub_.reset();
    std::filesystem::remove_all(root_);
  }

  void add_single_file_model() {
    hub_->add_file("config.json", R"({"model_type": "qwen2_vl", "hidden_size": 8})");
    hub_->add_file("generation_config.json", R"({"temperature": 0.01})");
    hub_->add_file("preprocessor_config.json", R"({"patch_size": 14})");
    hub_->add_file("tokenizer.json", R"({"model": {"type": "BPE"}})");
    hub_->add_file("tokenizer_config.json", R"({"model_max_length": 32768})");
    hub_->add_file("README.md", "# Tiny-VL\n");
    hub_->add_file("model.safetensors", pattern_bytes(5000, 1), /*lfs=*/true);
  }

  std::filesystem::path repo_folder() const {
    return options_.cache_dir / "models--tiny-org--Tiny-VL";
  }
  std::filesystem::path snapshot() const { return repo_folder() / "snapshots" / kCommit; }
  std::filesystem::path blob(const std::string& file) const {
    return repo_folder() / "blobs" / hub_->etag_of(file);
  }

  std::filesystem::path root_;
  std::unique_ptr<FakeHub> hub_;
  HubOptions options_;
};

}  // namespace vcap::hub::testing

#endif  // VCAP_TESTS_HUB_HUB_TEST_UTIL_H_
