#include "text/chat_template.h"

#include <algorithm>

namespace vcap::text {

std::string render_video_prompt(std::string_view question,
                                std::optional<std::string_view> system_prompt) {
  std::string prompt;
  prompt.reserve(160 + question.size());
  prompt += "<|im_start|>system\n";
  prompt += system_prompt.value_or(kDefaultSystemPrompt);
  prompt += "<|im_end|>\n<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>";
  prompt += question;
  prompt += "<|im_end|>\n<|im_start|>assistant\n";
  return prompt;
}

Result<std::vector<int32_t>> expand_video_pads(std::span<const int32_t> ids, int32_t video_pad_id,
                                               int64_t count) {
  const auto found = std::count(ids.begin(), ids.end(), video_pad_id);
  if (found != 1) {
    return Status::invalid_argument("expand_video_pads: the prompt holds " + std::to_string(found) +
                                    " video pad tokens (id " + std::to_string(video_pad_id) +
                                    "), expected exactly 1");
  }
  // The upper bound only keeps a corrupt grid from asking for gigabytes; real prompts stay far
  // below it (the model's context is 32768 tokens).
  constexpr int64_t kMaxCount = int64_t{1} << 24;
  if (count < 1 || count > kMaxCount) {
    return Status::invalid_argument("expand_video_pads: count " + std::to_string(count) +
                                    " is outside [1, " + std::to_string(kMaxCount) + "]");
  }
  const auto pad = std::find(ids.begin(), ids.end(), video_pad_id);
  std::vector<int32_t> out;
  out.reserve(ids.size() - 1 + static_cast<std::size_t>(count));
  out.insert(out.end(), ids.begin(), pad);
  out.insert(out.end(), static_cast<std::size_t>(count), video_pad_id);
  out.insert(out.end(), pad + 1, ids.end());
  return out;
}

}  // namespace vcap::text
