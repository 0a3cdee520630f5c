// Checking a cached blob against its name, so that a truncated or corrupted file is found and
// fetched again instead of being loaded.
//
// The hub names every file by a hash of its bytes: LFS files (weights) by their sha256, small
// git files by their git blob id (sha1 of "blob <size>\0" + bytes). A blob whose name is
// neither is checked by size only, when a size is known.
//
// Hashing a 4 GB shard takes seconds, so an LFS blob is hashed once: the check then records
// the blob's size and modification time next to it (RepoCache::verified_record_path) and
// later checks trust the blob while both are unchanged. Git blobs are small and are hashed
// every time. Thread-safe (no state); writing the record is atomic.
#ifndef VCAP_HUB_BLOB_CHECK_H_
#define VCAP_HUB_BLOB_CHECK_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

#include "base/status.h"

namespace vcap::hub {

enum class EtagKind {
  kSha256,   // 64 hex digits: sha256 of the bytes (LFS)
  kGitBlob,  // 40 hex digits: git blob id
  kOpaque,   // anything else: not a checksum we know
};

EtagKind etag_kind(std::string_view etag);

// The ETag header value as a cache name: W/ and the surrounding quotes removed.
std::string normalize_etag(std::string_view header_value);

struct BlobCheckOptions {
  std::optional<uint64_t> expected_size_bytes;  // from the hub; nullopt when unknown
  // Where to remember that an LFS blob hashed correctly; empty: always hash.
  std::filesystem::path verified_record;
};

// ok when the blob at `blob` matches `etag`. kNotFound when there is no blob; kCorruption
// with the reason ("size 12 instead of 40", "sha256 abc... instead of def...") otherwise;
// kIoError when it cannot be read.
Status check_blob(const std::filesystem::path& blob, std::string_view etag,
                  const BlobCheckOptions& options);

}  // namespace vcap::hub

#endif  // VCAP_HUB_BLOB_CHECK_H_
