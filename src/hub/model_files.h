// Which files of a hub repository make a Qwen2-VL checkpoint that vcap can load.
//
// Required: config.json, preprocessor_config.json, tokenizer.json, tokenizer_config.json, and
// the weights: model.safetensors, or model.safetensors.index.json plus every shard its
// weight_map names. Optional (fetched when the repository has them, used when present):
// generation_config.json (absent: the generation defaults of config.json apply, as in
// transformers), chat_template.json (older revisions keep the template in
// tokenizer_config.json), special_tokens_map.json, added_tokens.json, vocab.json, merges.txt.
// Other files (README, *.bin, *.gguf, images) are never downloaded.
#ifndef VCAP_HUB_MODEL_FILES_H_
#define VCAP_HUB_MODEL_FILES_H_

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace vcap::hub {

inline constexpr std::string_view kConfigFile = "config.json";
inline constexpr std::string_view kWeightsFile = "model.safetensors";
inline constexpr std::string_view kWeightsIndexFile = "model.safetensors.index.json";

// The files to fetch given the repository's file list (the API's "siblings"), in download
// order, without the shards (they are known once the index is read). config.json comes last:
// vcap treats a snapshot without config.json as unfinished, so an interrupted download is
// never taken for a complete one. kNotFound naming `repo_label` and the first required file
// the list lacks.
Result<std::vector<std::string>> plan_model_files(const std::vector<std::string>& repo_files,
                                                  std::string_view repo_label);

// The distinct shard files a safetensors index's "weight_map" names, sorted. kCorruption when
// the index has no weight_map object or a name is not a plain relative path; `source` names
// the index in errors.
Result<std::vector<std::string>> shards_of_index(const nlohmann::json& index,
                                                 std::string_view source);

// The checkpoint files present in a snapshot folder: the required ones, the optional ones
// that exist, and the shards of the index. `exists` says whether a file is in the snapshot.
// kNotFound naming the first missing required file or shard. Reads the index file from
// `snapshot_dir` when there is one.
Result<std::vector<std::string>> model_files_in_snapshot(
    const std::filesystem::path& snapshot_dir,
    const std::function<bool(const std::string&)>& exists);

}  // namespace vcap::hub

#endif  // VCAP_HUB_MODEL_FILES_H_
