#include "hub/sha1.h"

#include <bit>
#include <cstring>

#include "hub/file_chunks.h"
#include "hub/sha256.h"

namespace vcap::hub {
namespace {

// FIPS 180-4 section 5.3.1.
constexpr std::array<uint32_t, 5> kInitialState = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
                                                   0xc3d2e1f0};

uint32_t load_big_endian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

Sha1::Sha1() : state_(kInitialState) {}

void Sha1::compress(const uint8_t* block) {
  // Section 6.1.2: an 80-word schedule and four groups of 20 rounds.
  std::array<uint32_t, 80> schedule;
  for (int t = 0; t < 16; ++t) schedule[t] = load_big_endian(block + 4 * t);
  for (int t = 16; t < 80; ++t) {
    schedule[t] =
        std::rotl(schedule[t - 3] ^ schedule[t - 8] ^ schedule[t - 14] ^ schedule[t - 16], 1);
  }
  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3], e = state_[4];
  for (int t = 0; t < 80; ++t) {
    uint32_t mix;
    uint32_t constant;
    if (t < 20) {
      mix = (b & c) | (~b & d);
      constant = 0x5a827999;
    } else if (t < 40) {
      mix = b ^ c ^ d;
      constant = 0x6ed9eba1;
    } else if (t < 60) {
      mix = (b & c) | (b & d) | (c & d);
      constant = 0x8f1bbcdc;
    } else {
      mix = b ^ c ^ d;
      constant = 0xca62c1d6;
    }
    const uint32_t temp = std::rotl(a, 5) + mix + e + constant + schedule[t];
    e = d;
    d = c;
    c = std::rotl(b, 30);
    b = a;
    a = temp;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
}

void Sha1::update(std::span<const std::byte> bytes) {
  stream_.update(bytes, [this](const uint8_t* block) { compress(block); });
}

void Sha1::update(std::string_view text) {
  update(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

Sha1::Digest Sha1::finish() {
  stream_.finish([this](const uint8_t* block) { compress(block); });
  return big_endian_digest(state_);
}

std::string sha1_hex(std::string_view text) {
  Sha1 hasher;
  hasher.update(text);
  return to_hex(hasher.finish());
}

Result<std::string> git_blob_id_of_file(const std::filesystem::path& path) {
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(path, error);
  if (error) {
    if (error == std::errc::no_such_file_or_directory) {
      return Status::not_found(path.string() + ": no such file");
    }
    return Status::io_error(path.string() + ": cannot stat: " + error.message());
  }
  Sha1 hasher;
  // git hashes a header naming the object type and size, then the bytes (`git hash-object`).
  const std::string header = "blob " + std::to_string(size);
  hasher.update(std::string_view(header.data(), header.size() + 1));  // with the '\0'
  Status read =
      read_file_chunks(path, [&](std::span<const std::byte> chunk) { hasher.update(chunk); });
  if (!read.ok()) return read;
  return to_hex(hasher.finish());
}

}  // namespace vcap::hub
