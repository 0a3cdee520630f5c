// Reading JSON files (configs, index files) into nlohmann::json with Status errors.
#ifndef VCAP_IO_JSON_FILE_H_
#define VCAP_IO_JSON_FILE_H_

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/status.h"

namespace vcap::io {

// Reads and parses the whole file. kNotFound when it does not exist, kIoError when it cannot
// be read, kCorruption when it is not JSON: "<path>: invalid JSON at byte 17: <reason>".
Result<nlohmann::json> read_json_file(const std::filesystem::path& path);

// Parses `text`; `source` names it in the error ("<source>: invalid JSON at byte N: ...").
Result<nlohmann::json> parse_json(std::string_view text, std::string_view source);

// Serialises `value` with 2-space indentation and a final newline and writes it atomically
// (io/atomic_file.h).
Status write_json_file(const std::filesystem::path& path, const nlohmann::json& value);

}  // namespace vcap::io

#endif  // VCAP_IO_JSON_FILE_H_
