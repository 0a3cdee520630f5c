#include "text/tokenizer_json.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

namespace vcap::text {
namespace {

using Json = nlohmann::json;

// The member `key` of `object`, or nullptr when absent or null.
const Json* member(const Json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Status wrong_type(const std::string& field, const char* expected) {
  return Status::invalid_argument(field + ": expected " + expected);
}

// A boolean member that must be absent or equal `allowed` (the only value vcap implements).
Status require_flag(const Json& object, const char* key, bool allowed, const std::string& where) {
  const Json* value = member(object, key);
  if (value == nullptr) return Status();
  if (!value->is_boolean()) return wrong_type(where + "." + key, "a boolean");
  if (value->get<bool>() != allowed) {
    return Status::unsupported(where + "." + key + ": " + (allowed ? "false" : "true") +
                               " is not supported");
  }
  return Status();
}

// The "type" string of a component object.
Result<std::string> component_type(const Json& component, const std::string& where) {
  if (!component.is_object()) return wrong_type(where, "an object");
  const Json* type = member(component, "type");
  if (type == nullptr || !type->is_string()) return wrong_type(where + ".type", "a string");
  return type->get<std::string>();
}

Result<int32_t> token_id(const Json& value, const std::string& where) {
  if (!value.is_number_integer()) return wrong_type(where, "an integer id");
  if (value.is_number_unsigned()
          ? value.get<uint64_t>() > static_cast<uint64_t>(kMaxTokenId)
          : (value.get<int64_t>() < 0 || value.get<int64_t>() > kMaxTokenId)) {
    return Status::invalid_argument(where + ": id " + value.dump() + " is outside [0, " +
                                    std::to_string(kMaxTokenId) + "]");
  }
  return static_cast<int32_t>(value.get<int64_t>());
}

Result<bool> parse_normalizer(const Json& root) {
  const Json* normalizer = member(root, "normalizer");
  if (normalizer == nullptr) return false;
  Result<std::string> type = component_type(*normalizer, "normalizer");
  if (!type.ok()) return type.status();
  if (*type != "NFC") {
    return Status::unsupported("normalizer: type \"" + *type + "\" is not supported (NFC or none)");
  }
  return true;
}

struct SplitPattern {
  std::string text;
  bool literal = false;
};

Status parse_split(const Json& split, SplitPattern& parts) {
  const std::string where = "pre_tokenizer.pretokenizers[0]";
  const Json* pattern = member(split, "pattern");
  if (pattern == nullptr || !pattern->is_object())
    return wrong_type(where + ".pattern", "an object");
  const Json* regex = member(*pattern, "Regex");
  const Json* literal = member(*pattern, "String");
  const Json* text = regex != nullptr ? regex : literal;
  if (text == nullptr || !text->is_string()) {
    return wrong_type(where + ".pattern", "{\"Regex\": string} or {\"String\": string}");
  }
  parts.text = text->get<std::string>();
  parts.literal = regex == nullptr;
  const Json* behavior = member(split, "behavior");
  if (behavior == nullptr || !behavior->is_string())
    return wrong_type(where + ".behavior", "a string");
  if (behavior->get<std::string>() != "Isolated") {
    return Status::unsupported(where + ".behavior: \"" + behavior->get<std::string>() +
                               "\" is not supported (Isolated)");
  }
  return require_flag(split, "invert", false, where);
}

Status parse_pre_tokenizer(const Json& root, SplitPattern& parts) {
  const Json* pre = member(root, "pre_tokenizer");
  if (pre == nullptr)
    return Status::unsupported("pre_tokenizer: missing (Sequence[Split, ByteLevel] needed)");
  Result<std::string> type = component_type(*pre, "pre_tokenizer");
  if (!type.ok()) return type.status();
  const Json* steps = member(*pre, "pretokenizers");
  if (*type != "Sequence" || steps == nullptr || !steps->is_array() || steps->size() != 2) {
    return Status::unsupported("pre_tokenizer: only Sequence[Split, ByteLevel] is supported");
  }
  Result<std::string> first = component_type((*steps)[0], "pre_tokenizer.pretokenizers[0]");
  Result<std::string> second = component_type((*steps)[1], "pre_tokenizer.pretokenizers[1]");
  if (!first.ok()) return first.status();
  if (!second.ok()) return second.status();
  if (*first != "Split" || *second != "ByteLevel") {
    return Status::unsupported(
        "pre_tokenizer: only Sequence[Split, ByteLevel] is supported, not [" + *first + ", " +
        *second + "]");
  }
  if (Status s = parse_split((*steps)[0], parts); !s.ok()) return s;
  const std::string where = "pre_tokenizer.pretokenizers[1]";
  if (Status s = require_flag((*steps)[1], "add_prefix_space", false, where); !s.ok()) return s;
  return require_flag((*steps)[1], "use_regex", false, where);
}

// post_processor and decoder: null or ByteLevel (the decoder must be ByteLevel).
Status parse_byte_level_component(const Json& root, const char* key, bool required) {
  const Json* component = member(root, key);
  if (component == nullptr) {
    return required ? Status::unsupported(std::string(key) + ": missing (ByteLevel needed)")
                    : Status();
  }
  Result<std::string> type = component_type(*component, key);
  if (!type.ok()) return type.status();
  if (*type != "ByteLevel") {
    return Status::unsupported(std::string(key) + ": type \"" + *type +
                               "\" is not supported (ByteLevel)");
  }
  return Status();
}

Result<AddedToken> parse_added_token(const Json& entry, const std::string& where) {
  if (!entry.is_object()) return wrong_type(where, "an object");
  AddedToken token;
  const Json* id = member(entry, "id");
  if (id == nullptr) return wrong_type(where + ".id", "an integer id");
  Result<int32_t> parsed_id = token_id(*id, where + ".id");
  if (!parsed_id.ok()) return parsed_id.status();
  token.id = *parsed_id;
  const Json* content = member(entry, "content");
  if (content == nullptr || !content->is_string() ||
      content->get_ref<const std::string&>().empty()) {
    return wrong_type(where + ".content", "a non-empty string");
  }
  token.content = content->get<std::string>();
  const Json* special = member(entry, "special");
  if (special != nullptr && !special->is_boolean())
    return wrong_type(where + ".special", "a boolean");
  token.special = special != nullptr && special->get<bool>();
  for (const char* flag : {"lstrip", "rstrip", "single_word", "normalized"}) {
    if (Status s = require_flag(entry, flag, false, where); !s.ok()) return s;
  }
  return token;
}

Result<std::vector<AddedToken>> parse_added_tokens(const Json& root) {
  std::vector<AddedToken> tokens;
  const Json* added = member(root, "added_tokens");
  if (added == nullptr) return tokens;
  if (!added->is_array()) return wrong_type("added_tokens", "an array");
  for (std::size_t i = 0; i < added->size(); ++i) {
    Result<AddedToken> token =
        parse_added_token((*added)[i], "added_tokens[" + std::to_string(i) + "]");
    if (!token.ok()) return token.status();
    tokens.push_back(std::move(token).value());
  }
  return tokens;
}

Status check_model_options(const Json& model) {
  Result<std::string> type = component_type(model, "model");
  if (!type.ok()) return type.status();
  if (*type != "BPE")
    return Status::unsupported("model: type \"" + *type + "\" is not supported (BPE)");
  if (member(model, "dropout") != nullptr)
    return Status::unsupported("model.dropout: not supported");
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Json* value = member(model, affix);
    if (value == nullptr) continue;
    if (!value->is_string()) return wrong_type(std::string("model.") + affix, "a string");
    if (!value->get_ref<const std::string&>().empty()) {
      return Status::unsupported(std::string("model.") + affix + ": must be empty");
    }
  }
  return require_flag(model, "byte_fallback", false, "model");
}

Result<StringIdMap> parse_vocab(const Json& model) {
  const Json* vocab = member(model, "vocab");
  if (vocab == nullptr || !vocab->is_object()) return wrong_type("model.vocab", "an object");
  StringIdMap map;
  for (const auto& [token, id] : vocab->items()) {
    Result<int32_t> parsed = token_id(id, "model.vocab[\"" + token + "\"]");
    if (!parsed.ok()) return parsed.status();
    map.insert_or_assign(token, *parsed);
  }
  return map;
}

// The merges as views into `model`'s strings (which must outlive the result).
Result<std::vector<MergeStrings>> parse_merges(const Json& model) {
  const Json* merges = member(model, "merges");
  if (merges == nullptr || !merges->is_array()) return wrong_type("model.merges", "an array");
  std::vector<MergeStrings> out;
  out.reserve(merges->size());
  for (std::size_t i = 0; i < merges->size(); ++i) {
    const Json& merge = (*merges)[i];
    const std::string where = "model.merges[" + std::to_string(i) + "]";
    if (merge.is_string()) {
      const std::string_view text = merge.get_ref<const std::string&>();
      const std::size_t space = text.find(' ');
      if (space == std::string_view::npos || text.find(' ', space + 1) != std::string_view::npos) {
        return wrong_type(where, "\"A B\" with exactly one space");
      }
      out.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      out.emplace_back(merge[0].get_ref<const std::string&>(),
                       merge[1].get_ref<const std::string&>());
    } else {
      return wrong_type(where, "\"A B\" or [\"A\", \"B\"]");
    }
  }
  return out;
}

Result<BpeModel> parse_model(const Json& root) {
  const Json* model = member(root, "model");
  if (model == nullptr) return wrong_type("model", "an object");
  if (Status s = check_model_options(*model); !s.ok()) return s;
  const Json* ignore = member(*model, "ignore_merges");
  if (ignore != nullptr && !ignore->is_boolean())
    return wrong_type("model.ignore_merges", "a boolean");
  Result<StringIdMap> vocab = parse_vocab(*model);
  if (!vocab.ok()) return vocab.status();
  Result<std::vector<MergeStrings>> merges = parse_merges(*model);
  if (!merges.ok()) return merges.status();
  return BpeModel::create(std::move(vocab).value(), *merges,
                          ignore != nullptr && ignore->get<bool>());
}

Result<TokenizerParts> parse_root(const Json& root) {
  if (!root.is_object()) return wrong_type("tokenizer.json", "a JSON object");
  for (const char* key : {"truncation", "padding"}) {
    if (member(root, key) != nullptr)
      return Status::unsupported(std::string(key) + ": must be null");
  }
  Result<bool> nfc = parse_normalizer(root);
  if (!nfc.ok()) return nfc.status();
  SplitPattern split;
  if (Status s = parse_pre_tokenizer(root, split); !s.ok()) return s;
  if (Status s = parse_byte_level_component(root, "post_processor", false); !s.ok()) return s;
  if (Status s = parse_byte_level_component(root, "decoder", true); !s.ok()) return s;
  Result<std::vector<AddedToken>> added = parse_added_tokens(root);
  if (!added.ok()) return added.status();
  Result<BpeModel> model = parse_model(root);
  if (!model.ok()) return model.status();
  return TokenizerParts{*nfc, std::move(split.text), split.literal, std::move(added).value(),
                        std::move(model).value()};
}

}  // namespace

Result<TokenizerParts> parse_tokenizer_json(std::string_view json_text) {
  Json root;
  try {
    root = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return Status::corruption(std::string("not valid JSON: ") + e.what());
  }
  try {
    return parse_root(root);
  } catch (const Json::exception& e) {
    // Every access above checks types first; this is a safety net for nlohmann surprises.
    return Status::invalid_argument(std::string("unexpected JSON content: ") + e.what());
  }
}

}  // namespace vcap::text
