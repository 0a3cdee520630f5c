#include "hub/blob_check.h"

#include <sys/stat.h>

#include <cctype>
#include <fstream>

#include "hub/repo_cache.h"
#include "hub/sha1.h"
#include "hub/sha256.h"

namespace vcap::hub {
namespace {

bool all_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

struct FileIdentity {
  uint64_t size_bytes = 0;
  int64_t mtime_ns = 0;
};

std::optional<FileIdentity> identity_of(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::nullopt;
  return FileIdentity{static_cast<uint64_t>(info.st_size),
                      int64_t{info.st_mtim.tv_sec} * 1000000000 + info.st_mtim.tv_nsec};
}

bool record_matches(const std::filesystem::path& record, const FileIdentity& identity) {
  std::ifstream in(record);
  uint64_t size_bytes = 0;
  int64_t mtime_ns = 0;
  return in >> size_bytes >> mtime_ns && size_bytes == identity.size_bytes &&
         mtime_ns == identity.mtime_ns;
}

Status check_content(const std::filesystem::path& blob, std::string_view etag, EtagKind kind) {
  Result<std::string> digest =
      kind == EtagKind::kSha256 ? sha256_file_hex(blob) : git_blob_id_of_file(blob);
  if (!digest.ok()) return digest.status();
  if (*digest != etag) {
    const char* what = kind == EtagKind::kSha256 ? "sha256 " : "git blob id ";
    return Status::corruption(blob.string() + ": " + what + *digest + " instead of " +
                              std::string(etag));
  }
  return Status();
}

}  // namespace

EtagKind etag_kind(std::string_view etag) {
  if (etag.size() == 64 && all_lower_hex(etag)) return EtagKind::kSha256;
  if (etag.size() == 40 && all_lower_hex(etag)) return EtagKind::kGitBlob;
  return EtagKind::kOpaque;
}

std::string normalize_etag(std::string_view header_value) {
  if (header_value.starts_with("W/")) header_value.remove_prefix(2);
  while (header_value.starts_with('"')) header_value.remove_prefix(1);
  while (header_value.ends_with('"')) header_value.remove_suffix(1);
  return std::string(header_value);
}

Status check_blob(const std::filesystem::path& blob, std::string_view etag,
                  const BlobCheckOptions& options) {
  const std::optional<FileIdentity> identity = identity_of(blob);
  if (!identity) return Status::not_found(blob.string() + ": no such blob");
  if (options.expected_size_bytes && identity->size_bytes != *options.expected_size_bytes) {
    return Status::corruption(blob.string() + ": size " + std::to_string(identity->size_bytes) +
                              " bytes instead of " + std::to_string(*options.expected_size_bytes));
  }
  const EtagKind kind = etag_kind(etag);
  if (kind == EtagKind::kOpaque) return Status();
  const bool use_record = kind == EtagKind::kSha256 && !options.verified_record.empty();
  if (use_record && record_matches(options.verified_record, *identity)) return Status();
  Status content = check_content(blob, etag, kind);
  if (!content.ok() || !use_record) return content;
  // Remember the good hash. A failure here (read-only cache) only costs a re-hash next time.
  const std::string record =
      std::to_string(identity->size_bytes) + " " + std::to_string(identity->mtime_ns) + "\n";
  (void)write_small_file_atomically(options.verified_record, record);
  return Status();
}

}  // namespace vcap::hub
