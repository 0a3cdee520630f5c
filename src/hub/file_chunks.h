// Reading a file front to back in fixed-size chunks, for hashing files that may be larger
// than memory (weight shards of several GB).
#ifndef VCAP_HUB_FILE_CHUNKS_H_
#define VCAP_HUB_FILE_CHUNKS_H_

#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>

#include "base/status.h"

namespace vcap::hub {

// Calls `consume` with consecutive pieces of the file (each at most 1 MiB) until its end.
// kNotFound when the file does not exist, kIoError when it cannot be opened or read.
Status read_file_chunks(const std::filesystem::path& path,
                        const std::function<void(std::span<const std::byte>)>& consume);

}  // namespace vcap::hub

#endif  // VCAP_HUB_FILE_CHUNKS_H_
