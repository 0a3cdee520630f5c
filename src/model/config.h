// The typed configuration of a Qwen2-VL model directory (spec/QWEN2VL.md §2, §3.2).
//
// load_model_config() parses config.json, generation_config.json and preprocessor_config.json
// once into plain structs; nothing downstream sees JSON. Every field below documents its
// default (the Hugging Face library default, which the official files rely on for the keys
// they omit). Errors name the file and the key and say what is wrong.
#ifndef VCAP_MODEL_CONFIG_H_
#define VCAP_MODEL_CONFIG_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/safetensors.h"

namespace vcap::model {

// config.json "vision_config" (§2.3). Legacy keys `in_chans` / `spatial_patch_size` are read
// as `in_channels` / `patch_size`.
struct VisionConfig {
  int depth = 32;               // vision blocks
  int embed_dim = 1280;         // vision width
  int num_heads = 16;           // head_dim = embed_dim / num_heads (80)
  int mlp_ratio = 4;            // MLP hidden = embed_dim * mlp_ratio (5120)
  int in_channels = 3;          // RGB
  int patch_size = 14;          // pixels per patch side
  int temporal_patch_size = 2;  // frames per patch
  int spatial_merge_size = 2;   // merge x merge patches -> one LLM token
  int hidden_size = 3584;       // merger output = LLM hidden (7B omits it: default 3584)

  int head_dim() const { return embed_dim / num_heads; }
  int mlp_hidden() const { return embed_dim * mlp_ratio; }
  // Merger input width: embed_dim * merge^2 (5120).
  int merged_dim() const { return embed_dim * spatial_merge_size * spatial_merge_size; }
  // Values per patch: in_channels * temporal_patch_size * patch_size^2 (1176).
  int patch_features() const { return in_channels * temporal_patch_size * patch_size * patch_size; }
};

// Special token ids (§2.1), read from config.json when present.
struct TokenIds {
  int bos = 151643;           // <|endoftext|>
  int eos = 151645;           // <|im_end|> (config.json's single eos)
  int vision_start = 151652;  // <|vision_start|>
  int vision_end = 151653;    // <|vision_end|>
  int vision = 151654;        // <|vision_pad|> (unused by the model)
  int image = 151655;         // <|image_pad|>
  int video = 151656;         // <|video_pad|>
};

// The language model (§2.2); keys at the top level of config.json or under "text_config".
// The first six fields are required (no default is read from the file); the values here are
// the 2B ones, for code that builds a config by hand.
struct TextConfig {
  int hidden_size = 1536;
  int intermediate_size = 8960;
  int num_hidden_layers = 28;
  int num_attention_heads = 12;
  int num_key_value_heads = 2;
  int vocab_size = 151936;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1000000.0;
  // From rope_scaling (type "mrope" or "default") or rope_parameters; required.
  std::array<int, 3> mrope_section = {16, 24, 24};  // sums to head_dim / 2
  bool tie_word_embeddings = false;                 // HF default; 2B sets true
  int max_position_embeddings = 32768;
  TokenIds tokens;

  int head_dim() const { return hidden_size / num_attention_heads; }
};

// generation_config.json (§2.4). An absent key takes HF GenerationConfig's default; an absent
// file gives all defaults with eos from config.json.
struct GenerationConfig {
  std::optional<int> bos_token_id;
  std::optional<int> pad_token_id;
  std::vector<int> eos_token_ids;  // a number or a list in the file
  // The file is there and gives no eos_token_id: vcap stops at config.json's eos ids, where
  // transformers (its generation config then has none) would generate every token allowed.
  bool eos_from_config_json = false;
  bool do_sample = false;
  int top_k = 50;
  float top_p = 1.0f;
  float temperature = 1.0f;
  float repetition_penalty = 1.0f;
  std::optional<int> max_new_tokens;
  // Settings transformers applies and vcap does not (beam search, n-gram blocking, suppressed
  // tokens, ...), as "key=value", when the file gives them a value that changes the tokens.
  std::vector<std::string> unapplied;
};

// preprocessor_config.json (§2.5). Newer files give the pixel bounds as
// "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels}. An absent file gives
// these defaults.
struct PreprocessorConfig {
  int64_t min_pixels = 3136;      // 56 * 56
  int64_t max_pixels = 12845056;  // 16384 * 28 * 28
  int patch_size = 14;
  int temporal_patch_size = 2;
  int merge_size = 2;
  std::array<float, 3> image_mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> image_std = {0.26862954f, 0.26130258f, 0.27577711f};
  // The processor's steps (all on in Qwen2-VL's files): without do_resize it takes frames at the
  // size qwen-vl-utils gives, whatever its pixel bounds; without do_rescale the bytes are not
  // multiplied by rescale_factor; without do_normalize mean and std are not applied.
  bool do_resize = true;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
};

struct ModelConfig {
  VisionConfig vision;
  TextConfig text;
  GenerationConfig generation;
  PreprocessorConfig preprocessor;
};

// Reads <model_dir>/config.json (required), generation_config.json and
// preprocessor_config.json (optional), then validate_config(). kNotFound for a missing
// config.json, kUnsupported for a model_type other than qwen2_vl or an unknown rope type,
// kInvalidArgument for a missing required key, a wrong type or inconsistent sizes; every
// message names the file and the key.
Result<ModelConfig> load_model_config(const std::filesystem::path& model_dir);

// Parses an already-read config.json (and leaves generation / preprocessor at defaults,
// with generation.eos_token_ids = config.json's eos_token_id, one id or a list). `source` names
// it in errors.
Result<ModelConfig> parse_model_config(const nlohmann::json& config, const std::string& source);

// Positive sizes, hidden % heads, heads % kv_heads, mrope sections summing to head_dim / 2,
// vision embed_dim % num_heads, merger output == LLM hidden, preprocessor patch sizes equal
// to the vision ones. kInvalidArgument naming the keys.
Status validate_config(const ModelConfig& config);

// What a tensor of the checkpoint is, which decides its initial values in test models.
enum class TensorKind {
  kMatrix,  // a linear weight, embedding or the conv patch embedding (ndim >= 2)
  kBias,    // a linear or LayerNorm bias
  kNorm,    // an RMSNorm or LayerNorm weight
};

struct ExpectedTensor {
  std::string name;            // original hub layout (§3.2)
  std::vector<int64_t> shape;  // row-major, [out, in] for linear weights
  TensorKind kind = TensorKind::kMatrix;
};

// Every tensor the config implies, in hub order (vision first), with `lm_head.weight` only
// when the embeddings are not tied (§3.2).
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config);

// Checks that the checkpoint holds every expected tensor with the expected shape and a float
// dtype (F32, BF16 or F16). When tied, a stored lm_head.weight must still have the embedding
// shape. kNotFound "tensor 'x' is missing", kInvalidArgument "tensor 'x': expected shape
// [a, b], found [c, d] (file)", kUnsupported for other dtypes.
Status validate_against_checkpoint(const ModelConfig& config,
                                   const io::SafetensorsCheckpoint& checkpoint);

// "[a, b, c]".
std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace vcap::model

#endif  // VCAP_MODEL_CONFIG_H_
