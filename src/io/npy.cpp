#include "io/npy.h"

#include <array>
#include <cstring>

#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace vcap::io {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kHeaderAlign = 64;

struct DescrInfo {
  std::string_view descr;
  size_t size;
};
constexpr std::array<DescrInfo, 12> kDescrs{{{"<f2", 2},
                                             {"<f4", 4},
                                             {"<f8", 8},
                                             {"|i1", 1},
                                             {"<i2", 2},
                                             {"<i4", 4},
                                             {"<i8", 8},
                                             {"|u1", 1},
                                             {"<u2", 2},
                                             {"<u4", 4},
                                             {"<u8", 8},
                                             {"|b1", 1}}};

// A cursor over the header dict literal.
class DictParser {
 public:
  explicit DictParser(std::string_view text) : text_(text) {}

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n')) ++pos_;
  }
  bool consume(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool consume_word(std::string_view word) {
    skip_space();
    if (text_.substr(pos_).starts_with(word)) {
      pos_ += word.size();
      return true;
    }
    return false;
  }
  // A '...' or "..." string literal without escapes.
  bool string(std::string& out) {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return false;
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return false;
    out = std::string(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return true;
  }
  // (d0, d1, ...) with an optional trailing comma.
  bool shape(std::vector<int64_t>& out) {
    if (!consume('(')) return false;
    while (!consume(')')) {
      skip_space();
      int64_t value = 0;
      size_t digits = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        if (value > (INT64_MAX - 9) / 10) return false;
        value = value * 10 + (text_[pos_++] - '0');
        ++digits;
      }
      if (digits == 0) return false;
      out.push_back(value);
      if (!consume(',') && !(skip_space(), pos_ < text_.size() && text_[pos_] == ')')) return false;
    }
    return true;
  }
  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

Status parse_header(std::string_view text, std::string_view source, NpyArray& out) {
  auto bad = [&](const std::string& what) {
    return Status::corruption(std::string(source) + ": .npy header: " + what);
  };
  DictParser p(text);
  if (!p.consume('{')) return bad("not a dict");
  bool seen_descr = false, seen_order = false, seen_shape = false;
  while (!p.consume('}')) {
    std::string key;
    if (!p.string(key) || !p.consume(':')) return bad("expected 'key':");
    if (key == "descr") {
      if (!p.string(out.descr)) return bad("'descr' is not a string");
      seen_descr = true;
    } else if (key == "fortran_order") {
      if (p.consume_word("True"))
        out.fortran_order = true;
      else if (p.consume_word("False"))
        out.fortran_order = false;
      else
        return bad("'fortran_order' is not True or False");
      seen_order = true;
    } else if (key == "shape") {
      if (!p.shape(out.shape)) return bad("'shape' is not a tuple of non-negative integers");
      seen_shape = true;
    } else {
      return bad("unexpected key '" + key + "'");
    }
    if (p.consume(',')) continue;
    if (p.consume('}')) break;
    return bad("expected ',' or '}'");
  }
  if (!p.at_end()) return bad("text after the dict");
  if (!seen_descr || !seen_order || !seen_shape)
    return bad("missing descr, fortran_order or shape");
  return Status();
}

// Column-major data (np.save of a transposed array) reordered row-major: the element at
// index (i0, ..., in-1) sits at sum i_k * (shape_0 * ... * shape_k-1) in the file.
void to_c_order(NpyArray& array, size_t item_size) {
  const int64_t count = array.num_elements();
  const size_t dims = array.shape.size();
  std::vector<std::byte> c_order(array.data.size());
  std::vector<int64_t> index(dims, 0);  // of the next C-order element, last dimension fastest
  for (int64_t element = 0; element < count; ++element) {
    int64_t source = 0;
    int64_t stride = 1;
    for (size_t k = 0; k < dims; ++k) {
      source += index[k] * stride;
      stride *= array.shape[k];
    }
    std::memcpy(c_order.data() + static_cast<size_t>(element) * item_size,
                array.data.data() + static_cast<size_t>(source) * item_size, item_size);
    for (size_t k = dims; k-- > 0;) {
      if (++index[k] < array.shape[k]) break;
      index[k] = 0;
    }
  }
  array.data = std::move(c_order);
}

}  // namespace

size_t npy_item_size(std::string_view descr) {
  for (const DescrInfo& info : kDescrs) {
    if (info.descr == descr) return info.size;
  }
  return 0;
}

int64_t NpyArray::num_elements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

Result<NpyArray> parse_npy(std::span<const std::byte> image, std::string_view source) {
  const std::string name(source);
  const std::string_view bytes(reinterpret_cast<const char*>(image.data()), image.size());
  if (bytes.size() < 10 || !bytes.starts_with(kMagic)) {
    return Status::corruption(name + ": not a .npy file (bad magic)");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3) {
    return Status::unsupported(name + ": .npy format version " + std::to_string(major));
  }
  const size_t length_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + length_bytes) return Status::corruption(name + ": truncated .npy header");
  uint64_t header_length = 0;
  for (size_t i = 0; i < length_bytes; ++i) {
    header_length |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
  }
  const size_t data_offset = 8 + length_bytes + header_length;
  if (data_offset > bytes.size()) return Status::corruption(name + ": truncated .npy header");
  NpyArray out;
  const std::string_view header = bytes.substr(8 + length_bytes, header_length);
  if (Status s = parse_header(header, name, out); !s.ok()) return s;
  if (out.descr == "<u1") out.descr = "|u1";
  if (out.descr == "<i1") out.descr = "|i1";
  if (out.descr == "<b1") out.descr = "|b1";
  const size_t item_size = npy_item_size(out.descr);
  if (item_size == 0) {
    return Status::unsupported(name + ": .npy descr '" + out.descr + "' is not supported");
  }
  uint64_t expected = item_size;
  for (int64_t dim : out.shape) {
    if (__builtin_mul_overflow(expected, static_cast<uint64_t>(dim), &expected)) {
      return Status::corruption(name + ": .npy shape too large");
    }
  }
  if (expected != bytes.size() - data_offset) {
    return Status::corruption(name + ": .npy shape and descr need " + std::to_string(expected) +
                              " data bytes, the file has " +
                              std::to_string(bytes.size() - data_offset));
  }
  out.data.assign(image.begin() + static_cast<ptrdiff_t>(data_offset), image.end());
  if (out.fortran_order) to_c_order(out, item_size);
  return out;
}

Result<NpyArray> read_npy(const std::filesystem::path& path) {
  Result<MappedFile> file = MappedFile::open(path);
  if (!file) return file.status();
  return parse_npy(file->bytes(), path.string());
}

Status write_npy(const std::filesystem::path& path, std::string_view descr,
                 std::span<const int64_t> shape, std::span<const std::byte> data) {
  const size_t item_size = npy_item_size(descr);
  if (item_size == 0) {
    return Status::invalid_argument(path.string() + ": unsupported .npy descr '" +
                                    std::string(descr) + "'");
  }
  std::string dict = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (";
  uint64_t expected = item_size;
  for (int64_t dim : shape) {
    if (dim < 0 || __builtin_mul_overflow(expected, static_cast<uint64_t>(dim), &expected)) {
      return Status::invalid_argument(path.string() + ": bad .npy shape");
    }
    dict += std::to_string(dim) + (shape.size() == 1 ? ",)" : ", ");
  }
  if (shape.size() != 1) {
    if (shape.size() > 1) dict.resize(dict.size() - 2);
    dict += ")";
  }
  dict += ", }";
  if (expected != data.size()) {
    return Status::invalid_argument(path.string() + ": " + std::to_string(data.size()) +
                                    " data bytes for a shape that needs " +
                                    std::to_string(expected));
  }
  // Pad so that magic + version + length + dict + '\n' is a multiple of 64 bytes.
  const bool v1 = dict.size() + 1 + 10 <= 65535;
  const size_t prefix = v1 ? 10 : 12;
  dict.append((kHeaderAlign - (prefix + dict.size() + 1) % kHeaderAlign) % kHeaderAlign, ' ');
  dict.push_back('\n');
  std::string head(kMagic);
  head.push_back(static_cast<char>(v1 ? 1 : 2));
  head.push_back('\0');
  for (size_t i = 0; i < prefix - 8; ++i) head.push_back(static_cast<char>(dict.size() >> (8 * i)));
  head += dict;
  Result<AtomicFile> file = AtomicFile::create(path);
  if (!file) return file.status();
  if (Status s = file->write(head); !s.ok()) return s;
  if (Status s = file->write(data); !s.ok()) return s;
  return file->commit();
}

}  // namespace vcap::io
