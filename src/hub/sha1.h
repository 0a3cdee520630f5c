// SHA-1 (FIPS 180-4) and git blob ids. The hub names small files stored in git (configs,
// tokenizer.json) by their git blob id, the SHA-1 of "blob <size>\0" followed by the bytes,
// so these files can be checked against their cache name too. SHA-1 is used here only to
// recognise content the hub already names this way, never as a security boundary.
//
// Same streaming contract as Sha256 (hub/sha256.h): update() any number of times, then
// finish() once. Not thread-safe.
#ifndef VCAP_HUB_SHA1_H_
#define VCAP_HUB_SHA1_H_

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

class Sha1 {
 public:
  using Digest = std::array<uint8_t, 20>;

  Sha1();

  void update(std::span<const std::byte> bytes);
  void update(std::string_view text);

  // REQUIRES: called once; the object is spent after.
  Digest finish();

 private:
  void compress(const uint8_t* block);  // one 64-byte block

  std::array<uint32_t, 5> state_;
  HashBlockStream stream_;
};

// Hex SHA-1 of a whole string.
std::string sha1_hex(std::string_view text);

// Hex git blob id of a file ("blob <size>\0" + bytes), as `git hash-object` prints it.
// kIoError/kNotFound naming the path.
Result<std::string> git_blob_id_of_file(const std::filesystem::path& path);

}  // namespace vcap::hub

#endif  // VCAP_HUB_SHA1_H_
