// Parsing one safetensors image: the header JSON and the byte spans it describes (§3.1).
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "io/json_file.h"

namespace vcap::io {
namespace {

using nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";

Status header_error(const std::filesystem::path& file, const std::string& what) {
  return Status::corruption(file.string() + ": " + what);
}

Status tensor_error(const std::filesystem::path& file, std::string_view name,
                    const std::string& what) {
  return Status::corruption(file.string() + ": tensor '" + std::string(name) + "': " + what);
}

uint64_t read_le64(std::span<const std::byte> bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return value;
}

// A JSON array of non-negative integers, or nullopt.
std::optional<std::vector<uint64_t>> unsigned_array(const json& value) {
  if (!value.is_array()) return std::nullopt;
  std::vector<uint64_t> out;
  out.reserve(value.size());
  for (const json& item : value) {
    if (!item.is_number_unsigned()) return std::nullopt;
    out.push_back(item.get<uint64_t>());
  }
  return out;
}

Status parse_metadata(const json& value, const std::filesystem::path& file,
                      std::map<std::string, std::string>& metadata) {
  if (value.is_null()) return Status();
  if (!value.is_object()) return header_error(file, "__metadata__ is not an object");
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      return header_error(file, "__metadata__ value '" + key + "' is not a string");
    }
    metadata.emplace(key, item.get<std::string>());
  }
  return Status();
}

// Validates one tensor's description; `data` is the data area after the header.
Result<TensorEntry> parse_entry(const std::string& name, const json& value,
                                std::span<const std::byte> data,
                                const std::filesystem::path& file) {
  if (!value.is_object()) return tensor_error(file, name, "entry is not an object");
  const auto dtype_it = value.find("dtype");
  const auto shape_it = value.find("shape");
  const auto offsets_it = value.find("data_offsets");
  if (dtype_it == value.end() || !dtype_it->is_string()) {
    return tensor_error(file, name, "missing or non-string 'dtype'");
  }
  const std::string dtype_text = dtype_it->get<std::string>();
  const std::optional<DType> dtype = dtype_from_name(dtype_text);
  if (!dtype) {
    return Status::unsupported(file.string() + ": tensor '" + name + "': dtype '" + dtype_text +
                               "' is not supported");
  }
  const auto shape = shape_it == value.end() ? std::nullopt : unsigned_array(*shape_it);
  if (!shape) return tensor_error(file, name, "'shape' is not an array of non-negative integers");
  const auto offsets = offsets_it == value.end() ? std::nullopt : unsigned_array(*offsets_it);
  if (!offsets || offsets->size() != 2) {
    return tensor_error(file, name, "'data_offsets' is not [begin, end]");
  }
  const uint64_t begin = (*offsets)[0];
  const uint64_t end = (*offsets)[1];
  if (begin > end) return tensor_error(file, name, "data_offsets begin > end");
  if (end > data.size()) {
    return tensor_error(file, name,
                        "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                            "] run past the data area of " + std::to_string(data.size()) +
                            " bytes");
  }
  uint64_t expected_bytes = dtype_size(*dtype);
  TensorEntry entry{name, *dtype, {}, {}, file};
  for (uint64_t dim : *shape) {
    if (dim > static_cast<uint64_t>(INT64_MAX) ||
        __builtin_mul_overflow(expected_bytes, dim, &expected_bytes)) {
      return tensor_error(file, name, "shape is too large");
    }
    entry.shape.push_back(static_cast<int64_t>(dim));
  }
  if (expected_bytes != end - begin) {
    return tensor_error(file, name,
                        "shape and dtype " + dtype_text + " need " +
                            std::to_string(expected_bytes) + " bytes but data_offsets span " +
                            std::to_string(end - begin));
  }
  entry.bytes = data.subspan(begin, end - begin);
  return entry;
}

// Spans of non-empty tensors may not share bytes.
Status check_no_overlap(std::vector<TensorEntry>& entries, const std::filesystem::path& file) {
  std::sort(entries.begin(), entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.bytes.data() != b.bytes.data() ? a.bytes.data() < b.bytes.data() : a.name < b.name;
  });
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& entry : entries) {
    if (entry.bytes.empty()) continue;
    if (previous != nullptr &&
        entry.bytes.data() < previous->bytes.data() + previous->bytes.size()) {
      return tensor_error(file, entry.name, "data overlaps tensor '" + previous->name + "'");
    }
    previous = &entry;
  }
  return Status();
}

}  // namespace

int64_t TensorEntry::num_elements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

Result<SafetensorsHeader> parse_safetensors(std::span<const std::byte> image,
                                            const std::filesystem::path& file) {
  if (image.size() < 8) {
    return header_error(file, "file is " + std::to_string(image.size()) +
                                  " bytes, too short for the 8-byte header length");
  }
  const uint64_t header_bytes = read_le64(image);
  if (header_bytes > kMaxHeaderBytes) {
    return header_error(file, "header length " + std::to_string(header_bytes) +
                                  " exceeds the limit of " + std::to_string(kMaxHeaderBytes));
  }
  if (header_bytes > image.size() - 8) {
    return header_error(file, "header length " + std::to_string(header_bytes) +
                                  " runs past the end of the file (" +
                                  std::to_string(image.size()) + " bytes)");
  }
  const std::string_view header_text(reinterpret_cast<const char*>(image.data()) + 8, header_bytes);
  Result<json> header = parse_json(header_text, file.string() + " header");
  if (!header) return header.status();
  if (!header->is_object()) return header_error(file, "header is not a JSON object");

  SafetensorsHeader out;
  out.data_offset_bytes = 8 + header_bytes;
  const std::span<const std::byte> data = image.subspan(out.data_offset_bytes);
  for (const auto& [name, value] : header->items()) {
    if (name == kMetadataKey) {
      if (Status s = parse_metadata(value, file, out.metadata); !s.ok()) return s;
      continue;
    }
    Result<TensorEntry> entry = parse_entry(name, value, data, file);
    if (!entry) return entry.status();
    out.tensors.push_back(std::move(entry).value());
  }
  if (Status s = check_no_overlap(out.tensors, file); !s.ok()) return s;
  return out;
}

std::string normalize_tensor_name(std::string_view name) {
  constexpr std::string_view kNewVisual = "model.visual.";
  constexpr std::string_view kNewText = "model.language_model.";
  if (name.starts_with(kNewVisual)) return "visual." + std::string(name.substr(kNewVisual.size()));
  if (name.starts_with(kNewText)) return "model." + std::string(name.substr(kNewText.size()));
  return std::string(name);
}

}  // namespace vcap::io
