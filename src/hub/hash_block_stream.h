// The streaming half that SHA-1 and SHA-256 share (FIPS 180-4 §5.1.1, §5.2.1): bytes are cut
// into 64-byte blocks for the hash's compression function, and the end is padded with a 1
// bit, zeros up to 56 mod 64 bytes, and the message length in bits, big-endian. The hashes
// keep only their own state and compression function. Not thread-safe.
#ifndef VCAP_HUB_HASH_BLOCK_STREAM_H_
#define VCAP_HUB_HASH_BLOCK_STREAM_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "base/check.h"

namespace vcap::hub {

class HashBlockStream {
 public:
  // Calls compress(const uint8_t* block) for every complete 64-byte block.
  template <typename Compress>
  void update(std::span<const std::byte> bytes, Compress&& compress) {
    VCAP_CHECK(!finished_, "hash update after finish");
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    size_t size = bytes.size();
    total_bytes_ += size;
    if (buffered_bytes_ > 0) {
      const size_t take = std::min(size, buffer_.size() - buffered_bytes_);
      std::memcpy(buffer_.data() + buffered_bytes_, data, take);
      buffered_bytes_ += take;
      data += take;
      size -= take;
      if (buffered_bytes_ < buffer_.size()) return;
      compress(buffer_.data());
      buffered_bytes_ = 0;
    }
    for (; size >= 64; data += 64, size -= 64) compress(data);
    std::memcpy(buffer_.data(), data, size);
    buffered_bytes_ = size;
  }

  // Pads and compresses the last block(s). REQUIRES: called once; the stream is spent after.
  template <typename Compress>
  void finish(Compress&& compress) {
    VCAP_CHECK(!finished_, "hash finished twice");
    const uint64_t total_bits = total_bytes_ * 8;
    buffer_[buffered_bytes_++] = 0x80;
    if (buffered_bytes_ > 56) {
      std::memset(buffer_.data() + buffered_bytes_, 0, buffer_.size() - buffered_bytes_);
      compress(buffer_.data());
      buffered_bytes_ = 0;
    }
    std::memset(buffer_.data() + buffered_bytes_, 0, 56 - buffered_bytes_);
    for (int i = 0; i < 8; ++i) buffer_[56 + i] = static_cast<uint8_t>(total_bits >> (56 - 8 * i));
    compress(buffer_.data());
    finished_ = true;
  }

 private:
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_bytes_ = 0;
  uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

// The digest of a finished state: its words big-endian, in order.
template <size_t kWords>
std::array<uint8_t, 4 * kWords> big_endian_digest(const std::array<uint32_t, kWords>& state) {
  std::array<uint8_t, 4 * kWords> digest{};
  for (size_t i = 0; i < kWords; ++i) {
    for (size_t j = 0; j < 4; ++j)
      digest[4 * i + j] = static_cast<uint8_t>(state[i] >> (24 - 8 * j));
  }
  return digest;
}

}  // namespace vcap::hub

#endif  // VCAP_HUB_HASH_BLOCK_STREAM_H_
