#include "text/folder_template.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "text/read_file.h"
#include "text/utf8.h"

namespace vcap::text {
namespace {

using Json = nlohmann::json;

// The official template (chat_template.json of the hub's Qwen2-VL-*-Instruct) around its
// default system prompt.
constexpr std::string_view kHead =
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for "
    "message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>"
    "system\n";
constexpr std::string_view kTail =
    "<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is "
    "string %}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in "
    "message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' "
    "in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id "
    "%}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% "
    "elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = "
    "video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif "
    "%}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ "
    "content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if "
    "add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

// The file's text; nullopt when it does not exist (errors name it).
Result<std::optional<std::string>> read_if_present(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return std::optional<std::string>();
  Result<std::string> text = read_file(path);
  if (!text) return text.status().with_context(path.string());
  return std::optional<std::string>(std::move(*text));
}

// The "chat_template" of a JSON file: a string, or a list of {name, template} (tokenizer
// configs with tool-use variants) whose "default" entry is the one used.
Result<std::optional<std::string>> json_template(const std::filesystem::path& path) {
  Result<std::optional<std::string>> text = read_if_present(path);
  if (!text || !text->has_value()) return text;
  const Json json = Json::parse(**text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::corruption(path.string() + ": not a JSON object");
  }
  const auto found = json.find("chat_template");
  if (found == json.end() || found->is_null()) return std::optional<std::string>();
  if (found->is_string()) return std::optional<std::string>(found->get<std::string>());
  if (found->is_array()) {
    for (const Json& entry : *found) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        return std::optional<std::string>(entry["template"].get<std::string>());
      }
    }
  }
  return Status::corruption(path.string() +
                            ": 'chat_template' is neither a string nor a list "
                            "with a \"default\" entry");
}

}  // namespace

FolderTemplate classify_chat_template(std::string_view text) {
  FolderTemplate result;
  // Jinja drops one trailing newline (keep_trailing_newline is off), as editors add one.
  if (text.ends_with("\r\n")) {
    text.remove_suffix(2);
  } else if (text.ends_with("\n")) {
    text.remove_suffix(1);
  }
  const bool framed = text.size() >= kHead.size() + kTail.size() && text.starts_with(kHead) &&
                      text.ends_with(kTail);
  const std::string_view system =
      framed ? text.substr(kHead.size(), text.size() - kHead.size() - kTail.size()) : "";
  // A literal system prompt only: Jinja in it, or a turn marker, is another template.
  result.understood = framed && system.find_first_of("{}%") == std::string_view::npos &&
                      system.find("<|im_") == std::string_view::npos;
  if (result.understood) result.system_prompt = std::string(system);
  return result;
}

Result<FolderTemplate> read_folder_template(const std::filesystem::path& dir) {
  std::filesystem::path source = dir / "chat_template.jinja";
  Result<std::optional<std::string>> jinja = read_if_present(source);
  if (!jinja) return jinja.status();
  std::optional<std::string> text = std::move(*jinja);
  for (const char* name : {"chat_template.json", "tokenizer_config.json"}) {
    if (text) break;
    Result<std::optional<std::string>> found = json_template(dir / name);
    if (!found) return found.status();
    text = std::move(*found);
    source = dir / name;
  }
  if (!text) return FolderTemplate{};
  // transformers reads the template as UTF-8 and fails on anything else.
  if (!is_valid_utf8(*text)) {
    return Status::corruption(source.string() + ": the chat template is not valid UTF-8");
  }
  FolderTemplate result = classify_chat_template(*text);
  result.source = source.string();
  return result;
}

}  // namespace vcap::text
