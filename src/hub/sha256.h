// SHA-256 (FIPS 180-4), streaming: the hub names large (LFS) blobs by the SHA-256 of their
// bytes, so vcap checks every downloaded or cached weight file against its name.
//
// Feed bytes with update() in pieces of any size, then call finish() once. Not thread-safe;
// one object per stream. Copyable (a copy continues the same stream independently).
#ifndef VCAP_HUB_SHA256_H_
#define VCAP_HUB_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "hub/hash_block_stream.h"

namespace vcap::hub {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();

  void update(std::span<const std::byte> bytes);
  void update(std::string_view text);

  // The digest of everything fed so far. REQUIRES: called once; the object is spent after.
  Digest finish();

 private:
  void compress(const uint8_t* block);  // one 64-byte block

  std::array<uint32_t, 8> state_;
  HashBlockStream stream_;
};

// Lower-case hex of any digest ("e3b0c442...").
std::string to_hex(std::span<const uint8_t> digest);

// Hex SHA-256 of a whole string (tests, small files).
std::string sha256_hex(std::string_view text);

// Hex SHA-256 of a file's bytes, read in chunks. kIoError/kNotFound naming the path.
Result<std::string> sha256_file_hex(const std::filesystem::path& path);

}  // namespace vcap::hub

#endif  // VCAP_HUB_SHA256_H_
