// Which system prompt a model folder's chat template inserts. vcap renders the one prompt it
// needs itself (chat_template.h), not Jinja; a folder's template is read to follow a fine-tune
// that only changed the default system prompt, and to warn about any other template.
#ifndef VCAP_TEXT_FOLDER_TEMPLATE_H_
#define VCAP_TEXT_FOLDER_TEMPLATE_H_

#include <filesystem>
#include <string>
#include <string_view>

#include "base/status.h"
#include "text/chat_template.h"

namespace vcap::text {

struct FolderTemplate {
  std::string source;  // the file the template came from; empty when the folder has none
  // True for the official Qwen2-VL template, also with another default system prompt: the
  // prompt vcap renders is then the one transformers renders.
  bool understood = true;
  std::string system_prompt = std::string(kDefaultSystemPrompt);
};

// The template transformers' processor uses: chat_template.jinja, else chat_template.json's
// "chat_template", else tokenizer_config.json's (its "default" entry when it lists several).
// kCorruption naming the file when one does not parse.
Result<FolderTemplate> read_folder_template(const std::filesystem::path& dir);

// What the template `text` means for the prompt (exposed for tests).
FolderTemplate classify_chat_template(std::string_view text);

}  // namespace vcap::text

#endif  // VCAP_TEXT_FOLDER_TEMPLATE_H_
