#include "io/json_file.h"

#include <string>

#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace vcap::io {
namespace {

// nlohmann's messages quote the bytes last read, which may hold control characters; keep the
// message on one line.
std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  return out;
}

}  // namespace

Result<nlohmann::json> parse_json(std::string_view text, std::string_view source) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return Status::corruption(std::string(source) + ": invalid JSON at byte " +
                              std::to_string(e.byte) + ": " + one_line(e.what()));
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(std::string(source) + ": invalid JSON: " + one_line(e.what()));
  }
}

Result<nlohmann::json> read_json_file(const std::filesystem::path& path) {
  Result<MappedFile> file = MappedFile::open(path);
  if (!file) return file.status();
  std::span<const std::byte> bytes = file->bytes();
  return parse_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    path.string());
}

Status write_json_file(const std::filesystem::path& path, const nlohmann::json& value) {
  std::string text;
  try {
    text = value.dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {
    return Status::invalid_argument(path.string() + ": cannot serialise JSON: " + e.what());
  }
  return write_file_atomically(path, text);
}

}  // namespace vcap::io
