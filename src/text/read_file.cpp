#include "text/read_file.h"

#include <cerrno>
#include <exception>
#include <fstream>
#include <iterator>

namespace vcap::text {

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::from_errno("cannot open", errno);
  try {
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return Status::from_errno("cannot read", errno);
    return text;
  } catch (const std::exception& e) {  // libstdc++ throws from underflow (EISDIR: a folder)
    return Status::io_error(std::string("cannot read: ") + e.what());
  }
}

}  // namespace vcap::text
