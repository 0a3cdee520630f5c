// libFuzzer target: a safetensors file image from memory (io/safetensors.h).
// Every accepted header must describe spans inside the image that do not overlap.
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> image(reinterpret_cast<const std::byte*>(data), size);
  vcap::Result<vcap::io::SafetensorsHeader> header =
      vcap::io::parse_safetensors(image, "fuzz.safetensors");
  if (!header.ok()) return 0;
  const std::byte* begin = image.data();
  const std::byte* end = begin + image.size();
  const std::byte* previous_end = begin;
  uint64_t checksum = 0;
  for (const vcap::io::TensorEntry& entry : header->tensors) {
    if (entry.bytes.empty()) continue;
    if (entry.bytes.data() < previous_end || entry.bytes.data() + entry.bytes.size() > end) {
      __builtin_trap();  // overlapping or out-of-image span accepted
    }
    previous_end = entry.bytes.data() + entry.bytes.size();
    for (std::byte b : entry.bytes) checksum += static_cast<uint8_t>(b);  // touch every byte
    checksum += vcap::io::normalize_tensor_name(entry.name).size();
    if (static_cast<uint64_t>(entry.num_elements()) * vcap::io::dtype_size(entry.dtype) !=
        entry.bytes.size()) {
      __builtin_trap();
    }
  }
  return checksum == 1 ? 1 : 0;
}
