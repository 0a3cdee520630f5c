#include "hub/hub_options.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace vcap::hub {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const char* name) -> std::optional<std::string> {
    const auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

TEST(HubOptionsFromEnvironment, DefaultsFollowTheHuggingFaceTools) {
  const HubOptions options = HubOptions::from_environment(fake_env({{"HOME", "/home/u"}}));
  EXPECT_EQ(options.endpoint, "https://huggingface.co");
  EXPECT_FALSE(options.token);
  EXPECT_FALSE(options.offline);
  EXPECT_EQ(options.cache_dir, "/home/u/.cache/huggingface/hub");
  EXPECT_EQ(options.revision, "main");
}

TEST(HubOptionsFromEnvironment, CacheDirPrecedence) {
  EXPECT_EQ(
      HubOptions::from_environment(fake_env({{"HOME", "/h"}, {"XDG_CACHE_HOME", "/x"}})).cache_dir,
      "/x/huggingface/hub");
  EXPECT_EQ(HubOptions::from_environment(fake_env({{"HOME", "/h"}, {"HF_HOME", "~/hf"}})).cache_dir,
            "/h/hf/hub");
  EXPECT_EQ(HubOptions::from_environment(
                fake_env({{"HF_HOME", "/hf"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"}}))
                .cache_dir,
            "/legacy");
  EXPECT_EQ(HubOptions::from_environment(fake_env({{"HF_HOME", "/hf"},
                                                   {"HUGGINGFACE_HUB_CACHE", "/legacy"},
                                                   {"HF_HUB_CACHE", "/cache"}}))
                .cache_dir,
            "/cache");
}

TEST(HubOptionsFromEnvironment, EndpointTokenAndOffline) {
  const HubOptions options =
      HubOptions::from_environment(fake_env({{"HF_ENDPOINT", "http://mirror.local/"},
                                             {"HUGGING_FACE_HUB_TOKEN", "old"},
                                             {"HF_TOKEN", "new"},
                                             {"TRANSFORMERS_OFFLINE", "yes"}}));
  EXPECT_EQ(options.endpoint, "http://mirror.local");
  EXPECT_EQ(options.token, "new");
  EXPECT_TRUE(options.offline);
  EXPECT_EQ(HubOptions::from_environment(fake_env({{"HUGGING_FACE_HUB_TOKEN", "old"}})).token,
            "old");
  EXPECT_FALSE(HubOptions::from_environment(fake_env({{"HF_HUB_OFFLINE", "0"}})).offline);
  EXPECT_TRUE(HubOptions::from_environment(fake_env({{"HF_HUB_OFFLINE", "1"}})).offline);
}

TEST(HubOptionsFromEnvironment, TokenFileWrittenByHuggingFaceCliLogin) {
  const std::filesystem::path home = std::filesystem::path(::testing::TempDir()) / "vcap_hf_home";
  std::filesystem::create_directories(home);
  std::ofstream(home / "token") << "hf_abc\n";
  EXPECT_EQ(HubOptions::from_environment(fake_env({{"HF_HOME", home.string()}})).token, "hf_abc");
  EXPECT_EQ(
      HubOptions::from_environment(fake_env({{"HF_HOME", home.string()}, {"HF_TOKEN", "t"}})).token,
      "t");
  std::filesystem::remove_all(home);
}

TEST(EnvFlagIsOn, AcceptsTheValuesPythonAccepts) {
  for (const char* on : {"1", "ON", "yes", "True"}) EXPECT_TRUE(env_flag_is_on(on)) << on;
  for (const char* off : {"0", "", "off", "no", "2"}) EXPECT_FALSE(env_flag_is_on(off)) << off;
}

}  // namespace
}  // namespace vcap::hub
