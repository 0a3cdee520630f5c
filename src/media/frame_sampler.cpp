#include "media/frame_sampler.h"

#include <algorithm>
#include <cstring>

#include "base/huge_pages.h"

namespace vcap::media::detail {

uint8_t* FrameStore::add_resized(int64_t index) {
  const size_t slot = resized_slot.size();
  resized_slot[index] = slot;
  resized_frames.resize((slot + 1) * frame_bytes());
  return &resized_frames[slot * frame_bytes()];
}

FrameSampler::FrameSampler(const std::vector<int64_t>& wanted, bool keep_selected,
                           bool stop_after_last, FrameStore& store)
    : wanted_(wanted),
      keep_selected_(keep_selected),
      stop_after_last_(stop_after_last),
      store_(store) {
  std::sort(wanted_.begin(), wanted_.end());
  wanted_.erase(std::unique(wanted_.begin(), wanted_.end()), wanted_.end());
  // One allocation for the frames of this pass (growing frame by frame would move them).
  reserve_on_huge_pages(store_.resized_frames,
                        store_.resized_frames.size() + wanted_.size() * store_.frame_bytes());
}

FrameAction FrameSampler::visit(int64_t index, const AVFrame& frame) {
  if (index == 0) first_frame_size_ = {frame.height, frame.width};
  if (!std::binary_search(wanted_.begin(), wanted_.end(), index)) return FrameAction::kContinue;
  // Only chosen frames pay for colour conversion and resizing.
  ClipResult<RgbView> rgb = converter_.convert(frame);
  if (!rgb.ok()) {
    error_ = rgb.error();
    return FrameAction::kStop;
  }
  keep(index, *rgb);
  const bool last = index == wanted_.back();
  return stop_after_last_ && last ? FrameAction::kStop : FrameAction::kContinue;
}

void FrameSampler::keep(int64_t index, const RgbView& rgb) {
  if (keep_selected_) {
    std::vector<uint8_t> packed(static_cast<size_t>(rgb.height * rgb.width * 3));
    for (int64_t y = 0; y < rgb.height; ++y) {
      std::memcpy(&packed[static_cast<size_t>(y * rgb.width * 3)], rgb.data + y * rgb.stride,
                  static_cast<size_t>(rgb.width * 3));
    }
    store_.selected[index] = std::move(packed);
    store_.selected_sizes[index] = {rgb.height, rgb.width};
  }
  // Resize in the coded orientation to the transposed target, then turn upright: the same
  // pixels as rotating first up to float rounding, on far fewer bytes.
  const bool quarter = store_.rotation == 90 || store_.rotation == 270;
  const FrameSize displayed = store_.resized_size;
  const FrameSize coded = quarter ? FrameSize{displayed.width, displayed.height} : displayed;
  const FrameSize in{rgb.height, rgb.width};
  if (resizer_ == nullptr || resizer_->in_size() != in || resizer_->out_size() != coded) {
    resizer_ = std::make_unique<BicubicResizer>(in, coded);
  }
  const size_t plane = static_cast<size_t>(coded.height * coded.width);
  uint8_t* out = store_.add_resized(index);
  if (store_.rotation == 0) {
    resizer_->resize_packed_to_planar(rgb.data, rgb.stride, out);
  } else {
    coded_resized_.resize(3 * plane);
    resizer_->resize_packed_to_planar(rgb.data, rgb.stride, coded_resized_.data());
    for (size_t c = 0; c < 3; ++c) {
      rotate_image(&coded_resized_[c * plane], coded.height, coded.width, 1, store_.rotation,
                   out + c * plane);
    }
  }
}

}  // namespace vcap::media::detail
