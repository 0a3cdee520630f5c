#include "model/weights.h"

#include <cstring>
#include <numeric>

#include "io/half.h"
#include "io/mapped_file.h"

namespace vcap::model {
namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

Result<tensor::HostDType> host_dtype(const io::TensorEntry& e) {
  switch (e.dtype) {
    case io::DType::kF32:
      return tensor::HostDType::kF32;
    case io::DType::kBF16:
      return tensor::HostDType::kBF16;
    case io::DType::kF16:
      return tensor::HostDType::kF16;
    default:
      return Status::unsupported("weights: tensor " + e.name + " has dtype " +
                                 io::dtype_name(e.dtype) + " (want F32, BF16 or F16)");
  }
}

// Appends the values of `e` to `out` as f32 (exact widening).
void append_as_f32(const io::TensorEntry& e, std::vector<std::byte>& out) {
  const size_t n = static_cast<size_t>(e.num_elements());
  const size_t begin = out.size();
  out.resize(begin + n * sizeof(float));
  float* dst = reinterpret_cast<float*>(out.data() + begin);
  if (e.dtype == io::DType::kF32) {
    std::memcpy(dst, e.bytes.data(), n * sizeof(float));
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint16_t bits;
    std::memcpy(&bits, e.bytes.data() + 2 * i, 2);
    dst[i] = e.dtype == io::DType::kBF16 ? io::bf16_to_f32(bits) : io::f16_to_f32(bits);
  }
}

// The entries concatenated into one host buffer: raw bytes when they share a dtype, else f32.
struct HostConcat {
  std::vector<std::byte> bytes;
  tensor::HostDType dtype = tensor::HostDType::kF32;
};

Result<HostConcat> concatenate(const std::vector<const io::TensorEntry*>& entries) {
  HostConcat result;
  bool same = true;
  for (const auto* e : entries) same = same && e->dtype == entries.front()->dtype;
  if (same) {
    auto dtype = host_dtype(*entries.front());
    if (!dtype.ok()) return dtype.status();
    result.dtype = *dtype;
    for (const auto* e : entries) {
      result.bytes.insert(result.bytes.end(), e->bytes.begin(), e->bytes.end());
    }
    return result;
  }
  for (const auto* e : entries) {
    if (auto dtype = host_dtype(*e); !dtype.ok()) return dtype.status();
    append_as_f32(*e, result.bytes);
  }
  return result;
}

}  // namespace

Result<const io::TensorEntry*> WeightLoader::entry(const std::string& name, int64_t rows,
                                                   int64_t elements) {
  const io::TensorEntry* e = checkpoint_.find(name);
  if (e == nullptr) return Status::not_found("weights: checkpoint has no tensor " + name);
  if (auto dtype = host_dtype(*e); !dtype.ok()) return dtype.status();
  const bool leading_ok = rows < 0 || (!e->shape.empty() && e->shape.front() == rows);
  if (e->num_elements() != elements || !leading_ok) {
    return Status::invalid_argument("weights: tensor " + name + " has shape " +
                                    shape_string(e->shape) + ", expected " +
                                    std::to_string(elements) + " values" +
                                    (rows >= 0 ? " in " + std::to_string(rows) + " rows" : ""));
  }
  return e;
}

Result<tensor::Weight> WeightLoader::matrix(const std::string& name, int64_t rows, int64_t cols) {
  auto e = entry(name, rows, rows * cols);
  if (!e.ok()) return e.status();
  // The format lets a tensor start at any byte (a header padded to an odd length); the backends
  // read whole values, so such a tensor is copied to aligned memory first.
  if (reinterpret_cast<uintptr_t>((*e)->bytes.data()) % io::dtype_size((*e)->dtype) != 0)
    return stacked_matrix({name}, {rows}, cols);
  const tensor::HostMatrix host{(*e)->bytes.data(), *host_dtype(**e), rows, cols};
  auto weight = backend_.prepare_weight(host, precision_);
  if (!weight.ok()) return weight.status().with_context("weights: " + name);
  io::release_mapped_pages((*e)->bytes);
  return weight;
}

Result<tensor::Weight> WeightLoader::stacked_matrix(const std::vector<std::string>& names,
                                                    const std::vector<int64_t>& rows,
                                                    int64_t cols) {
  VCAP_CHECK(names.size() == rows.size() && !names.empty(), "stacked_matrix: names vs rows");
  std::vector<const io::TensorEntry*> entries;
  for (size_t i = 0; i < names.size(); ++i) {
    auto e = entry(names[i], rows[i], rows[i] * cols);
    if (!e.ok()) return e.status();
    entries.push_back(*e);
  }
  auto host = concatenate(entries);
  if (!host.ok()) return host.status();
  const int64_t total_rows = std::accumulate(rows.begin(), rows.end(), int64_t{0});
  auto weight =
      backend_.prepare_weight({host->bytes.data(), host->dtype, total_rows, cols}, precision_);
  if (!weight.ok()) return weight.status().with_context("weights: " + names.front());
  for (const io::TensorEntry* e : entries) io::release_mapped_pages(e->bytes);
  return weight;
}

Result<tensor::Tensor> WeightLoader::vector(const std::string& name, int64_t length) {
  return stacked_vector({name}, {length});
}

Result<tensor::Tensor> WeightLoader::stacked_vector(const std::vector<std::string>& names,
                                                    const std::vector<int64_t>& lengths) {
  VCAP_CHECK(names.size() == lengths.size() && !names.empty(), "stacked_vector: names vs sizes");
  std::vector<const io::TensorEntry*> entries;
  for (size_t i = 0; i < names.size(); ++i) {
    auto e = entry(names[i], -1, lengths[i]);
    if (!e.ok()) return e.status();
    entries.push_back(*e);
  }
  auto host = concatenate(entries);
  if (!host.ok()) return host.status();
  const int64_t total = std::accumulate(lengths.begin(), lengths.end(), int64_t{0});
  auto tensor = backend_.allocate(tensor::DType::kF32, 1, total);
  if (!tensor.ok()) return tensor.status().with_context("weights: " + names.front());
  backend_.upload(tensor->view(), {host->bytes.data(), host->dtype, 1, total});
  for (const io::TensorEntry* e : entries) io::release_mapped_pages(e->bytes);
  return tensor;
}

}  // namespace vcap::model
