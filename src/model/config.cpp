// Parsing config.json and its siblings into ModelConfig (spec §2). The checks of a parsed
// config and the tensor list it implies (§3.2) are in config_validation.cpp.
#include "model/config.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "io/json_file.h"

namespace vcap::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Typed access to the keys of one JSON object, with an optional fallback object searched
// second (config.json's top level behind "text_config"). Null counts as absent.
class KeyReader {
 public:
  KeyReader(const json& object, std::string file, std::string prefix,
            const json* fallback = nullptr)
      : object_(object), fallback_(fallback), file_(std::move(file)), prefix_(std::move(prefix)) {}

  Status read(const char* key, int& out, bool required) const {
    return read_int(key, out, required);
  }
  Status read(const char* key, int64_t& out, bool required) const {
    return read_int(key, out, required);
  }
  Status read(const char* key, bool& out, bool required) const {
    return read_value(key, required, "a boolean", [&](const json& v) {
      if (!v.is_boolean()) return false;
      out = v.get<bool>();
      return true;
    });
  }
  template <class Float>
  Status read_float(const char* key, Float& out, bool required) const {
    return read_value(key, required, "a number", [&](const json& v) {
      if (!v.is_number()) return false;
      out = static_cast<Float>(v.get<double>());
      return true;
    });
  }

  // The value of `key` (or nullptr) and the name it is reported under.
  std::pair<const json*, std::string> find(const char* key) const {
    auto it = object_.find(key);
    if (it != object_.end() && !it->is_null()) return {&*it, prefix_ + key};
    if (fallback_ != nullptr) {
      it = fallback_->find(key);
      if (it != fallback_->end() && !it->is_null()) return {&*it, key};
    }
    return {nullptr, prefix_ + key};
  }

  Status error(const std::string& key_name, const std::string& what) const {
    return Status::invalid_argument(file_ + ": key '" + key_name + "' " + what);
  }

 private:
  template <class Int>
  Status read_int(const char* key, Int& out, bool required) const {
    return read_value(key, required, "an integer", [&](const json& v) {
      if (!v.is_number_integer()) return false;
      const int64_t value = v.get<int64_t>();
      if (value < std::numeric_limits<Int>::min() || value > std::numeric_limits<Int>::max()) {
        return false;
      }
      out = static_cast<Int>(value);
      return true;
    });
  }

  template <class Parse>
  Status read_value(const char* key, bool required, const char* type, Parse parse) const {
    const auto [value, name] = find(key);
    if (value == nullptr) return required ? error(name, "is missing") : Status();
    if (!parse(*value))
      return error(name, std::string("must be ") + type + ", got " + value->dump());
    return Status();
  }

  const json& object_;
  const json* fallback_;
  std::string file_;
  std::string prefix_;
};

// Runs each read in order and stops at the first error.
Status first_error(std::initializer_list<Status> statuses) {
  for (const Status& s : statuses) {
    if (!s.ok()) return s;
  }
  return Status();
}

Status read_vision(const KeyReader& r, VisionConfig& v) {
  return first_error({
      r.read("depth", v.depth, false),
      r.read("embed_dim", v.embed_dim, false),
      r.read("num_heads", v.num_heads, false),
      r.read("mlp_ratio", v.mlp_ratio, false),
      r.read("in_chans", v.in_channels, false),
      r.read("in_channels", v.in_channels, false),
      r.read("spatial_patch_size", v.patch_size, false),
      r.read("patch_size", v.patch_size, false),
      r.read("temporal_patch_size", v.temporal_patch_size, false),
      r.read("spatial_merge_size", v.spatial_merge_size, false),
      r.read("hidden_size", v.hidden_size, false),
  });
}

// mrope_section from rope_scaling {type|rope_type: mrope|default} or rope_parameters.
Status read_rope(const KeyReader& r, TextConfig& t) {
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const auto [rope, name] = r.find(key);
    if (rope == nullptr) continue;
    if (!rope->is_object()) return r.error(name, "must be an object");
    KeyReader rope_reader(*rope, "", "");
    std::string type = "default";
    for (const char* type_key : {"type", "rope_type"}) {
      if (rope->contains(type_key) && (*rope)[type_key].is_string()) {
        type = (*rope)[type_key].get<std::string>();
      }
    }
    if (type != "mrope" && type != "default") {
      return Status::unsupported(
          r.error(name, "has rope type '" + type + "' (want mrope or default)").message());
    }
    if (rope->contains("rope_theta")) {
      if (!(*rope)["rope_theta"].is_number())
        return r.error(name + ".rope_theta", "must be a number");
      t.rope_theta = (*rope)["rope_theta"].get<double>();
    }
    const auto section = rope->find("mrope_section");
    if (section == rope->end()) continue;
    if (!section->is_array() || section->size() != 3 ||
        !std::all_of(section->begin(), section->end(),
                     [](const json& v) { return v.is_number_integer(); })) {
      return r.error(name + ".mrope_section", "must be 3 integers, got " + section->dump());
    }
    for (size_t i = 0; i < 3; ++i) t.mrope_section[i] = (*section)[i].get<int>();
    return Status();
  }
  return r.error("rope_scaling.mrope_section", "is missing (Qwen2-VL needs M-RoPE sections)");
}

Status read_text(const KeyReader& r, TextConfig& t) {
  t.tie_word_embeddings = false;
  Status s = first_error({
      r.read("hidden_size", t.hidden_size, true),
      r.read("intermediate_size", t.intermediate_size, true),
      r.read("num_hidden_layers", t.num_hidden_layers, true),
      r.read("num_attention_heads", t.num_attention_heads, true),
      r.read("num_key_value_heads", t.num_key_value_heads, true),
      r.read("vocab_size", t.vocab_size, true),
      r.read_float("rms_norm_eps", t.rms_norm_eps, false),
      r.read_float("rope_theta", t.rope_theta, false),
      r.read("tie_word_embeddings", t.tie_word_embeddings, false),
      r.read("max_position_embeddings", t.max_position_embeddings, false),
      r.read("bos_token_id", t.tokens.bos, false),
      r.read("vision_start_token_id", t.tokens.vision_start, false),
      r.read("vision_end_token_id", t.tokens.vision_end, false),
      r.read("vision_token_id", t.tokens.vision, false),
      r.read("image_token_id", t.tokens.image, false),
      r.read("video_token_id", t.tokens.video, false),
  });
  if (!s.ok()) return s;
  // eos_token_id may be a number or a list; the first one is the chat turn end.
  const auto [eos, name] = r.find("eos_token_id");
  if (eos != nullptr) {
    const json& first = eos->is_array() && !eos->empty() ? (*eos)[0] : *eos;
    if (!first.is_number_integer()) return r.error(name, "must be an integer or a list of them");
    t.tokens.eos = first.get<int>();
  }
  return read_rope(r, t);
}

// A list of integers or a single integer (eos_token_id in generation_config.json).
Status read_id_list(const KeyReader& r, const char* key, std::vector<int>& out) {
  const auto [value, name] = r.find(key);
  if (value == nullptr) return Status();
  out.clear();
  for (const json& id : value->is_array() ? *value : json::array({*value})) {
    if (!id.is_number_integer()) return r.error(name, "must be an integer or a list of them");
    out.push_back(id.get<int>());
  }
  return Status();
}

Status read_generation(const json& j, const std::string& file, GenerationConfig& g) {
  if (!j.is_object()) return Status::invalid_argument(file + ": not a JSON object");
  const KeyReader r(j, file, "");
  int bos = 0, pad = 0, max_new_tokens = 0;
  Status s = first_error({
      r.read("bos_token_id", bos, false),
      r.read("pad_token_id", pad, false),
      r.read("max_new_tokens", max_new_tokens, false),
      read_id_list(r, "eos_token_id", g.eos_token_ids),
      r.read("do_sample", g.do_sample, false),
      r.read("top_k", g.top_k, false),
      r.read_float("top_p", g.top_p, false),
      r.read_float("temperature", g.temperature, false),
      r.read_float("repetition_penalty", g.repetition_penalty, false),
  });
  if (!s.ok()) return s;
  g.eos_from_config_json = r.find("eos_token_id").first == nullptr;
  // Each with the value at which it changes nothing (null and empty lists never do), in name
  // order; the sampling-only ones count when do_sample is on.
  struct NotApplied {
    const char* key;
    json neutral;
    bool sampling_only = false;
  };
  static const NotApplied kNotApplied[] = {
      {"bad_words_ids", nullptr},
      {"begin_suppress_tokens", nullptr},
      {"diversity_penalty", 0.0},
      {"dola_layers", nullptr},
      {"encoder_no_repeat_ngram_size", 0},
      {"epsilon_cutoff", 0.0, true},
      {"eta_cutoff", 0.0, true},
      {"exponential_decay_length_penalty", nullptr},
      {"force_words_ids", nullptr},
      {"forced_bos_token_id", nullptr},
      {"forced_eos_token_id", nullptr},
      {"guidance_scale", 1.0},
      {"min_length", 0},
      {"min_new_tokens", 0},
      {"min_p", 0.0, true},
      {"no_repeat_ngram_size", 0},
      {"num_beam_groups", 1},
      {"num_beams", 1},
      {"penalty_alpha", nullptr},
      {"sequence_bias", nullptr},
      {"suppress_tokens", nullptr},
      {"typical_p", 1.0, true},
      {"watermarking_config", nullptr},
  };
  for (const auto& [key, neutral, sampling_only] : kNotApplied) {
    if (sampling_only && !g.do_sample) continue;
    const auto value = j.find(key);
    if (value == j.end() || value->is_null() || *value == neutral) continue;
    if ((value->is_array() || value->is_object()) && value->empty()) continue;
    if (value->is_number() && neutral.is_number() &&
        value->get<double>() == neutral.get<double>()) {
      continue;
    }
    g.unapplied.push_back(std::string(key) + "=" + value->dump());
  }
  if (r.find("bos_token_id").first != nullptr) g.bos_token_id = bos;
  if (r.find("pad_token_id").first != nullptr) g.pad_token_id = pad;
  if (r.find("max_new_tokens").first != nullptr) g.max_new_tokens = max_new_tokens;
  return Status();
}

Status read_float3(const KeyReader& r, const char* key, std::array<float, 3>& out) {
  const auto [value, name] = r.find(key);
  if (value == nullptr) return Status();
  if (!value->is_array() || value->size() != 3 ||
      !std::all_of(value->begin(), value->end(), [](const json& v) { return v.is_number(); })) {
    return r.error(name, "must be 3 numbers, got " + value->dump());
  }
  for (size_t i = 0; i < 3; ++i) out[i] = static_cast<float>((*value)[i].get<double>());
  return Status();
}

Status read_preprocessor(const json& j, const std::string& file, PreprocessorConfig& p) {
  if (!j.is_object()) return Status::invalid_argument(file + ": not a JSON object");
  const KeyReader r(j, file, "");
  Status s = first_error({
      r.read("min_pixels", p.min_pixels, false),
      r.read("max_pixels", p.max_pixels, false),
      r.read("patch_size", p.patch_size, false),
      r.read("temporal_patch_size", p.temporal_patch_size, false),
      r.read("merge_size", p.merge_size, false),
      read_float3(r, "image_mean", p.image_mean),
      read_float3(r, "image_std", p.image_std),
      r.read("do_resize", p.do_resize, false),
      r.read("do_rescale", p.do_rescale, false),
      r.read_float("rescale_factor", p.rescale_factor, false),
      r.read("do_normalize", p.do_normalize, false),
  });
  if (!s.ok()) return s;
  const auto size = j.find("size");
  if (size != j.end() && size->is_object()) {
    const KeyReader size_reader(*size, file, "size.");
    s = first_error({size_reader.read("shortest_edge", p.min_pixels, false),
                     size_reader.read("longest_edge", p.max_pixels, false)});
  }
  return s;
}

// Reads an optional side file into `out` with `read`; absent file: keep the defaults.
template <class Config, class Read>
Status read_optional_file(const fs::path& path, Config& out, Read read) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status();
  Result<json> j = io::read_json_file(path);
  if (!j) return j.status();
  return read(*j, path.string(), out);
}

}  // namespace

Result<ModelConfig> parse_model_config(const json& config, const std::string& source) {
  if (!config.is_object()) return Status::invalid_argument(source + ": not a JSON object");
  const KeyReader top(config, source, "");
  std::string model_type;
  const auto [type_value, type_name] = top.find("model_type");
  if (type_value == nullptr || !type_value->is_string()) {
    return top.error(type_name, "is missing or not a string (want \"qwen2_vl\")");
  }
  model_type = type_value->get<std::string>();
  if (model_type != "qwen2_vl") {
    return Status::unsupported(source + ": key 'model_type' is '" + model_type +
                               "'; vcap reads qwen2_vl models only");
  }
  ModelConfig out;
  const auto text_it = config.find("text_config");
  const bool nested = text_it != config.end() && text_it->is_object();
  const KeyReader text(nested ? *text_it : config, source, nested ? "text_config." : "",
                       nested ? &config : nullptr);
  if (Status s = read_text(text, out.text); !s.ok()) return s;
  const auto vision_it = config.find("vision_config");
  if (vision_it != config.end()) {
    if (!vision_it->is_object()) return top.error("vision_config", "must be an object");
    if (Status s = read_vision(KeyReader(*vision_it, source, "vision_config."), out.vision);
        !s.ok()) {
      return s;
    }
  }
  // Without generation_config.json, transformers' GenerationConfig.from_model_config stops on
  // every eos id config.json lists.
  out.generation.eos_token_ids = {out.text.tokens.eos};
  if (Status s = read_id_list(text, "eos_token_id", out.generation.eos_token_ids); !s.ok())
    return s;
  out.generation.bos_token_id = out.text.tokens.bos;
  return out;
}

Result<ModelConfig> load_model_config(const fs::path& model_dir) {
  const fs::path config_path = model_dir / "config.json";
  Result<json> config_json = io::read_json_file(config_path);
  if (!config_json) return config_json.status();
  Result<ModelConfig> config = parse_model_config(*config_json, config_path.string());
  if (!config) return config.status();
  if (Status s = read_optional_file(model_dir / "generation_config.json", config->generation,
                                    read_generation);
      !s.ok()) {
    return s;
  }
  if (Status s = read_optional_file(model_dir / "preprocessor_config.json", config->preprocessor,
                                    read_preprocessor);
      !s.ok()) {
    return s;
  }
  if (Status s = validate_config(*config); !s.ok()) return s.with_context(config_path.string());
  return config;
}

}  // namespace vcap::model
