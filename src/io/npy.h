// NumPy .npy files (format versions 1.0, 2.0 and 3.0): read and write.
//
// A file is the magic "\x93NUMPY", a version, a little-endian header length (2 bytes in 1.0,
// 4 in 2.0/3.0), a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), } padded with spaces to a 64-byte boundary and ended by '\n', then the raw
// elements. vcap reads and writes little-endian (or byte-order-free) numeric types only:
// "<f2" "<f4" "<f8" "|i1" "<i2" "<i4" "<i8" "|u1" "<u2" "<u4" "<u8" "|b1".
#ifndef VCAP_IO_NPY_H_
#define VCAP_IO_NPY_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/status.h"

namespace vcap::io {

// The descr NumPy writes for T ("<f4" for float); a compile error for other types.
template <class T>
constexpr std::string_view npy_descr() {
  if constexpr (std::is_same_v<T, float>)
    return "<f4";
  else if constexpr (std::is_same_v<T, double>)
    return "<f8";
  else if constexpr (std::is_same_v<T, int8_t>)
    return "|i1";
  else if constexpr (std::is_same_v<T, int16_t>)
    return "<i2";
  else if constexpr (std::is_same_v<T, int32_t>)
    return "<i4";
  else if constexpr (std::is_same_v<T, int64_t>)
    return "<i8";
  else if constexpr (std::is_same_v<T, uint8_t>)
    return "|u1";
  else if constexpr (std::is_same_v<T, uint16_t>)
    return "<u2";
  else if constexpr (std::is_same_v<T, uint32_t>)
    return "<u4";
  else if constexpr (std::is_same_v<T, uint64_t>)
    return "<u8";
  else if constexpr (std::is_same_v<T, bool>)
    return "|b1";
  else
    static_assert(sizeof(T) == 0, "no .npy descr for this type");
}

struct NpyArray {
  std::string descr;            // normalised: "<f4", "|u1", ... ("<u1" reads as "|u1")
  std::vector<int64_t> shape;   // empty for a 0-d array
  std::vector<std::byte> data;  // num_elements() * item size bytes, row-major (C order)
  bool fortran_order = false;   // the file held column-major data (reordered in `data`)

  int64_t num_elements() const;

  template <class T>
  bool holds() const {
    return descr == npy_descr<T>();
  }
  // The elements as T. REQUIRES: holds<T>() (check it, or the descr, first: a file with
  // another type is bad input, not a programmer error).
  template <class T>
  std::span<const T> as() const {
    VCAP_CHECK(holds<T>(), "NpyArray::as<T> with a different descr");
    return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
  }
};

// Bytes per element of a supported descr; 0 for an unsupported one.
size_t npy_item_size(std::string_view descr);

// Parses a whole .npy image. kCorruption (bad magic, header, sizes) or kUnsupported
// (big-endian or non-numeric descr), naming `source`.
Result<NpyArray> parse_npy(std::span<const std::byte> image, std::string_view source);

// Reads a .npy file; errors name the path.
Result<NpyArray> read_npy(const std::filesystem::path& path);

// Writes a C-order .npy file atomically (version 1.0, or 2.0 when the header needs it).
// kInvalidArgument for an unsupported descr, negative dims or a data size that does not match.
Status write_npy(const std::filesystem::path& path, std::string_view descr,
                 std::span<const int64_t> shape, std::span<const std::byte> data);

template <class T>
Status write_npy(const std::filesystem::path& path, std::span<const int64_t> shape,
                 std::span<const T> values) {
  return write_npy(path, npy_descr<T>(), shape, std::as_bytes(values));
}

}  // namespace vcap::io

#endif  // VCAP_IO_NPY_H_
