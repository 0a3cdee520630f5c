// The bytes of a small text file (tokenizer.json, a chat template), for the text module, which
// reads its own files (io is not one of its dependencies).
#ifndef VCAP_TEXT_READ_FILE_H_
#define VCAP_TEXT_READ_FILE_H_

#include <filesystem>
#include <string>

#include "base/status.h"

namespace vcap::text {

// kIoError ("cannot open: <reason>", "cannot read: <reason>"); callers add the path.
Result<std::string> read_file(const std::filesystem::path& path);

}  // namespace vcap::text

#endif  // VCAP_TEXT_READ_FILE_H_
