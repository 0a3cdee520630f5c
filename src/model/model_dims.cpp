#include "model/model_dims.h"

#include <string>
#include <utility>
#include <vector>

#include "io/json_file.h"

namespace vcap::model {
namespace {

using Json = nlohmann::json;

// Reads `key` of `object` into `out` when present; a value of the wrong type is an error.
template <class T>
Status read_optional(const Json& object, const char* key, const std::string& where, T& out) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Status();
  try {
    out = it->get<T>();
  } catch (const Json::exception& e) {
    return Status::invalid_argument(where + ": key " + key + " has the wrong type (" + e.what() +
                                    ")");
  }
  return Status();
}

// Reads a required key.
template <class T>
Status read_required(const Json& object, const char* key, const std::string& where, T& out) {
  if (!object.contains(key)) return Status::invalid_argument(where + ": missing key " + key);
  return read_optional(object, key, where, out);
}

Status read_text(const Json& text, const std::string& where, TextDims& t) {
  for (const auto& [key, field] :
       {std::pair{"hidden_size", &t.hidden_size}, {"intermediate_size", &t.intermediate_size},
        {"num_hidden_layers", &t.num_layers}, {"num_attention_heads", &t.num_heads},
        {"vocab_size", &t.vocab_size}}) {
    if (Status s = read_required(text, key, where, *field); !s.ok()) return s;
  }
  t.num_kv_heads = t.num_heads;
  if (Status s = read_optional(text, "num_key_value_heads", where, t.num_kv_heads); !s.ok())
    return s;
  if (Status s = read_optional(text, "rms_norm_eps", where, t.rms_norm_eps); !s.ok()) return s;
  if (Status s = read_optional(text, "rope_theta", where, t.rope_theta); !s.ok()) return s;
  t.tie_word_embeddings = false;  // the transformers default
  if (Status s = read_optional(text, "tie_word_embeddings", where, t.tie_word_embeddings);
      !s.ok())
    return s;
  for (const char* rope_key : {"rope_scaling", "rope_parameters"}) {
    const auto it = text.find(rope_key);
    if (it == text.end() || !it->is_object()) continue;
    if (Status s = read_optional(*it, "rope_theta", where, t.rope_theta); !s.ok()) return s;
    std::vector<int64_t> section;
    if (Status s = read_optional(*it, "mrope_section", where, section); !s.ok()) return s;
    if (section.empty()) continue;
    if (section.size() != 3) {
      return Status::invalid_argument(where + ": mrope_section must have 3 entries");
    }
    t.mrope_section = {section[0], section[1], section[2]};
  }
  return Status();
}

Status read_vision(const Json& vision, const std::string& where, VisionDims& v) {
  int64_t mlp_ratio = 4;
  for (const auto& [key, field] :
       {std::pair{"depth", &v.depth}, {"embed_dim", &v.embed_dim}, {"num_heads", &v.num_heads},
        {"in_chans", &v.in_channels}, {"in_channels", &v.in_channels},
        {"spatial_patch_size", &v.patch_size}, {"patch_size", &v.patch_size},
        {"temporal_patch_size", &v.temporal_patch_size},
        {"spatial_merge_size", &v.merge_size}, {"hidden_size", &v.out_hidden},
        {"mlp_ratio", &mlp_ratio}}) {
    if (Status s = read_optional(vision, key, where, *field); !s.ok()) return s;
  }
  v.mlp_hidden = v.embed_dim * mlp_ratio;
  return Status();
}

Status positive(const char* field, int64_t value) {
  if (value > 0) return Status();
  return Status::invalid_argument(std::string("model dims: ") + field + " must be > 0, got " +
                                  std::to_string(value));
}

Status divides(const char* what, int64_t divisor, int64_t value) {
  if (divisor > 0 && value % divisor == 0) return Status();
  return Status::invalid_argument(std::string("model dims: ") + what + " (" +
                                  std::to_string(value) + " by " + std::to_string(divisor) + ")");
}

}  // namespace

Status validate_dims(const ModelDims& dims) {
  const VisionDims& v = dims.vision;
  const TextDims& t = dims.text;
  for (const auto& [field, value] :
       {std::pair{"vision.depth", v.depth}, {"vision.embed_dim", v.embed_dim},
        {"vision.num_heads", v.num_heads}, {"vision.mlp_hidden", v.mlp_hidden},
        {"vision.in_channels", v.in_channels}, {"vision.patch_size", v.patch_size},
        {"vision.temporal_patch_size", v.temporal_patch_size},
        {"vision.merge_size", v.merge_size}, {"vision.out_hidden", v.out_hidden},
        {"text.hidden_size", t.hidden_size}, {"text.intermediate_size", t.intermediate_size},
        {"text.num_layers", t.num_layers}, {"text.num_heads", t.num_heads},
        {"text.num_kv_heads", t.num_kv_heads}, {"text.vocab_size", t.vocab_size}}) {
    if (Status s = positive(field, value); !s.ok()) return s;
  }
  if (Status s = divides("vision heads must divide embed_dim", v.num_heads, v.embed_dim); !s.ok())
    return s;
  if (Status s = divides("vision head_dim must be a multiple of 4", 4, v.head_dim()); !s.ok())
    return s;
  if (Status s = divides("text heads must divide hidden_size", t.num_heads, t.hidden_size);
      !s.ok())
    return s;
  if (Status s = divides("kv heads must divide heads", t.num_kv_heads, t.num_heads); !s.ok())
    return s;
  if (t.mrope_section[0] < 0 || t.mrope_section[1] < 0 || t.mrope_section[2] < 0 ||
      t.mrope_section[0] + t.mrope_section[1] + t.mrope_section[2] != t.head_dim() / 2) {
    return Status::invalid_argument("model dims: mrope_section must sum to head_dim / 2 = " +
                                    std::to_string(t.head_dim() / 2));
  }
  if (v.out_hidden != t.hidden_size) {
    return Status::invalid_argument("model dims: vision merger output " +
                                    std::to_string(v.out_hidden) + " != LLM hidden_size " +
                                    std::to_string(t.hidden_size));
  }
  return Status();
}

Result<ModelDims> load_model_dims(const std::filesystem::path& config_json) {
  auto json = io::read_json_file(config_json);
  if (!json.ok()) return json.status();
  const std::string where = config_json.string();
  if (!json->is_object()) return Status::invalid_argument(where + ": not a JSON object");
  ModelDims dims;
  dims.vision.out_hidden = 3584;  // the library default that 7B relies on (spec §2.3)
  const auto text_it = json->find("text_config");
  const Json& text = text_it != json->end() && text_it->is_object() ? *text_it : *json;
  if (Status s = read_text(text, where, dims.text); !s.ok()) return s;
  if (text_it != json->end()) {
    // Top-level keys win where both exist (older files have only those).
    if (Status s = read_optional(*json, "tie_word_embeddings", where,
                                 dims.text.tie_word_embeddings);
        !s.ok())
      return s;
  }
  const auto vision_it = json->find("vision_config");
  if (vision_it != json->end() && vision_it->is_object()) {
    if (Status s = read_vision(*vision_it, where, dims.vision); !s.ok()) return s;
  }
  for (const auto& [key, field] : {std::pair{"vision_start_token_id", &dims.tokens.vision_start},
                                   {"image_token_id", &dims.tokens.image_pad},
                                   {"video_token_id", &dims.tokens.video_pad}}) {
    if (Status s = read_optional(*json, key, where, *field); !s.ok()) return s;
  }
  if (Status s = validate_dims(dims); !s.ok()) return s.with_context(where);
  return dims;
}

}  // namespace vcap::model
