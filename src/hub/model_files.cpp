#include "hub/model_files.h"

#include <algorithm>
#include <array>
#include <set>

#include "hub/repo_cache.h"
#include "io/json_file.h"

namespace vcap::hub {
namespace {

constexpr std::array<std::string_view, 3> kRequiredSideFiles = {
    "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"};
constexpr std::array<std::string_view, 7> kOptionalFiles = {"generation_config.json",
                                                            "chat_template.json",
                                                            "chat_template.jinja",
                                                            "special_tokens_map.json",
                                                            "added_tokens.json",
                                                            "vocab.json",
                                                            "merges.txt"};

}  // namespace

Result<std::vector<std::string>> plan_model_files(const std::vector<std::string>& repo_files,
                                                  std::string_view repo_label) {
  const std::set<std::string, std::less<>> listed(repo_files.begin(), repo_files.end());
  const auto missing = [&](std::string_view file) {
    return Status::not_found(std::string(repo_label) + " has no " + std::string(file) +
                             ", which vcap needs");
  };
  std::vector<std::string> plan;
  if (listed.contains(kWeightsIndexFile)) {
    plan.emplace_back(kWeightsIndexFile);
  } else if (listed.contains(kWeightsFile)) {
    plan.emplace_back(kWeightsFile);
  } else {
    return Status::not_found(std::string(repo_label) + " has neither " + std::string(kWeightsFile) +
                             " nor " + std::string(kWeightsIndexFile) +
                             " (vcap reads safetensors weights only)");
  }
  for (std::string_view file : kRequiredSideFiles) {
    if (!listed.contains(file)) return missing(file);
    plan.emplace_back(file);
  }
  for (std::string_view file : kOptionalFiles) {
    if (listed.contains(file)) plan.emplace_back(file);
  }
  if (!listed.contains(kConfigFile)) return missing(kConfigFile);
  plan.emplace_back(kConfigFile);
  return plan;
}

Result<std::vector<std::string>> shards_of_index(const nlohmann::json& index,
                                                 std::string_view source) {
  const auto bad = [&](const std::string& why) {
    return Status::corruption(std::string(source) + ": " + why);
  };
  const auto map = index.find("weight_map");
  if (!index.is_object() || map == index.end() || !map->is_object()) {
    return bad("no \"weight_map\" object");
  }
  std::set<std::string> shards;
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string()) return bad("weight_map[\"" + tensor + "\"] is not a string");
    const std::string name = shard.get<std::string>();
    if (!validate_repo_file_name(name).ok()) return bad("bad shard name \"" + name + "\"");
    shards.insert(name);
  }
  if (shards.empty()) return bad("weight_map names no shard");
  return std::vector<std::string>(shards.begin(), shards.end());
}

Result<std::vector<std::string>> model_files_in_snapshot(
    const std::filesystem::path& snapshot_dir,
    const std::function<bool(const std::string&)>& exists) {
  std::vector<std::string> files;
  const auto need = [&](std::string_view file) -> Status {
    if (!exists(std::string(file))) {
      return Status::not_found(snapshot_dir.string() + " lacks " + std::string(file));
    }
    files.emplace_back(file);
    return Status();
  };
  Status status = need(kConfigFile);
  for (std::string_view file : kRequiredSideFiles) {
    if (status.ok()) status = need(file);
  }
  if (!status.ok()) return status;
  for (std::string_view file : kOptionalFiles) {
    if (exists(std::string(file))) files.emplace_back(file);
  }
  if (!exists(std::string(kWeightsIndexFile))) {
    if (Status weights = need(kWeightsFile); !weights.ok()) return weights;
    return files;
  }
  files.emplace_back(kWeightsIndexFile);
  const std::filesystem::path index_path = snapshot_dir / std::string(kWeightsIndexFile);
  Result<nlohmann::json> index = io::read_json_file(index_path);
  if (!index.ok()) return index.status();
  Result<std::vector<std::string>> shards = shards_of_index(*index, index_path.string());
  if (!shards.ok()) return shards.status();
  for (const std::string& shard : *shards) {
    if (Status found = need(shard); !found.ok()) return found;
  }
  return files;
}

}  // namespace vcap::hub
