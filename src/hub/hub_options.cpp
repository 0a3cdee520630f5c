#include "hub/hub_options.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace vcap::hub {
namespace {

// A set, non-empty variable.
std::optional<std::string> non_empty(const EnvLookup& lookup, const char* name) {
  std::optional<std::string> value = lookup(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

// "~" and "~/x" become $HOME and $HOME/x, as the Python tools expand them.
std::filesystem::path expand_home(const std::string& path, const EnvLookup& lookup) {
  if (path == "~" || path.starts_with("~/")) {
    if (auto home = non_empty(lookup, "HOME")) return *home + path.substr(1);
  }
  return path;
}

std::filesystem::path hf_home(const EnvLookup& lookup) {
  if (auto home = non_empty(lookup, "HF_HOME")) return expand_home(*home, lookup);
  if (auto xdg = non_empty(lookup, "XDG_CACHE_HOME")) {
    return expand_home(*xdg, lookup) / "huggingface";
  }
  return expand_home("~/.cache/huggingface", lookup);
}

std::optional<std::string> token_from_file(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  std::string token = text.str();
  const auto is_space = [](unsigned char c) { return std::isspace(c) != 0; };
  token.erase(std::remove_if(token.begin(), token.end(), is_space), token.end());
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace

bool env_flag_is_on(std::string_view value) {
  std::string upper(value);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

HubOptions HubOptions::from_environment() {
  return from_environment([](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

HubOptions HubOptions::from_environment(const EnvLookup& lookup) {
  HubOptions options;
  if (auto endpoint = non_empty(lookup, "HF_ENDPOINT")) {
    options.endpoint = *endpoint;
    while (options.endpoint.ends_with('/')) options.endpoint.pop_back();
  }
  options.token = non_empty(lookup, "HF_TOKEN");
  if (!options.token) options.token = non_empty(lookup, "HUGGING_FACE_HUB_TOKEN");
  if (!options.token) {
    const auto token_path = non_empty(lookup, "HF_TOKEN_PATH");
    options.token =
        token_from_file(token_path ? expand_home(*token_path, lookup) : hf_home(lookup) / "token");
  }
  for (const char* name : {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}) {
    if (auto flag = non_empty(lookup, name); flag && env_flag_is_on(*flag)) options.offline = true;
  }
  if (auto cache = non_empty(lookup, "HF_HUB_CACHE")) {
    options.cache_dir = expand_home(*cache, lookup);
  } else if (auto legacy = non_empty(lookup, "HUGGINGFACE_HUB_CACHE")) {
    options.cache_dir = expand_home(*legacy, lookup);
  } else {
    options.cache_dir = hf_home(lookup) / "hub";
  }
  return options;
}

}  // namespace vcap::hub
