// DType: the element types a safetensors file may declare, with their sizes and names.
#ifndef VCAP_IO_DTYPE_H_
#define VCAP_IO_DTYPE_H_

#include <cstddef>
#include <optional>
#include <string_view>

namespace vcap::io {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// Bytes per element (kBool: 1).
size_t dtype_size(DType dtype);

// The safetensors spelling: "F32", "BF16", "I64", "BOOL", ...
const char* dtype_name(DType dtype);

// Inverse of dtype_name; nullopt for anything else (e.g. "F8_E4M3", which vcap does not read).
std::optional<DType> dtype_from_name(std::string_view name);

}  // namespace vcap::io

#endif  // VCAP_IO_DTYPE_H_
