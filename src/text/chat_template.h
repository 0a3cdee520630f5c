// The Qwen2-VL chat prompt for one user turn holding one video and a question
// (spec/QWEN2VL.md §5.1-§5.3), and the expansion of its video placeholder.
//
// The prompt is what HF's apply_chat_template(add_generation_prompt=True) renders from
//   [{"role": "system", "content": system},                       (only when given)
//    {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
// with the official chat_template.json; without a system message the template inserts the
// default one. The video stays a single <|video_pad|> until expand_video_pads().
#ifndef VCAP_TEXT_CHAT_TEMPLATE_H_
#define VCAP_TEXT_CHAT_TEMPLATE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace vcap::text {

// The system message the template uses when the conversation has none.
inline constexpr std::string_view kDefaultSystemPrompt = "You are a helpful assistant.";

// Id of <|video_pad|> in every Qwen2-VL tokenizer (spec §2.1); callers should still prefer
// Tokenizer::token_to_id("<|video_pad|>").
inline constexpr int32_t kQwen2VlVideoPadId = 151656;

// "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n<|vision_start|><|video_pad|>
// <|vision_end|>{question}<|im_end|>\n<|im_start|>assistant\n" (one line, no break after
// <|video_pad|>). `question` and `system_prompt` are inserted verbatim; system defaults to
// kDefaultSystemPrompt.
std::string render_video_prompt(std::string_view question,
                                std::optional<std::string_view> system_prompt = std::nullopt);

// `ids` with its single `video_pad_id` replaced by `count` copies of it (count = grid_t * grid_h
// * grid_w / merge_size², spec §5.3). Fails with invalid_argument when `ids` holds the pad id
// zero or several times, or when count is outside [1, 2^24].
Result<std::vector<int32_t>> expand_video_pads(std::span<const int32_t> ids, int32_t video_pad_id,
                                               int64_t count);

}  // namespace vcap::text

#endif  // VCAP_TEXT_CHAT_TEMPLATE_H_
