// Device memory as the model sees it: non-owning 2-D views (TensorView), owning tensors
// (Tensor, memory held by a backend Buffer), prepared weight matrices (Weight) and host sources
// for weights (HostMatrix).
//
// Everything the model computes is a 2-D row-major matrix [tokens, features]; heads are column
// ranges of a row (head h of a [rows, num_heads*head_dim] matrix is cols h*head_dim ..
// h*head_dim+head_dim-1). A view may have row_stride > cols so that q, k and v can be column
// slices of one fused qkv matrix.
//
// Memory belongs to the backend that allocated it. On the CPU backend `data` is an ordinary host
// pointer; on a GPU backend it is a device pointer that host code must never dereference (use
// Backend::upload / download).
#ifndef VCAP_TENSOR_TENSOR_H_
#define VCAP_TENSOR_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/dtype.h"

namespace vcap::tensor {

// A non-owning 2-D row-major view: element (r, c) is at
// data + (r * row_stride + c) * dtype_size(dtype). Cheap to copy; says nothing about lifetime:
// the Tensor (or other owner) it points into must outlive it.
// Invariants of a valid view: rows >= 0, cols >= 0, row_stride >= cols, data non-null when
// rows * cols > 0.
struct TensorView {
  std::byte* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_stride = 0;  // elements between the starts of consecutive rows

  // Rows [begin, begin + count), same columns and stride.
  // REQUIRES: 0 <= begin, 0 <= count, begin + count <= rows.
  TensorView rows_slice(int64_t begin, int64_t count) const;

  // Columns [begin, begin + count) of every row; keeps row_stride (so the result is strided).
  // REQUIRES: 0 <= begin, 0 <= count, begin + count <= cols.
  TensorView cols_slice(int64_t begin, int64_t count) const;

  // The same elements seen as [new_rows, new_cols] (e.g. the patch merger's [S, 1280] ->
  // [S/4, 5120]). REQUIRES: contiguous() and new_rows * new_cols == rows * cols.
  TensorView reshape(int64_t new_rows, int64_t new_cols) const;

  // True when rows follow each other without gaps (row_stride == cols, or at most one row).
  bool contiguous() const { return row_stride == cols || rows <= 1; }

  int64_t num_elements() const { return rows * cols; }

  // Typed pointer to element (0, 0) / to the first element of row r. The caller picks T to
  // match dtype (float for kF32, uint16_t for kBF16); no check is made.
  template <class T>
  T* ptr() const {
    return reinterpret_cast<T*>(data);
  }
  template <class T>
  T* row(int64_t r) const {
    return reinterpret_cast<T*>(data) + r * row_stride;
  }
};

// Device memory owned through RAII. Each backend derives its own Buffer; the destructor frees
// the memory with the backend's allocator. The backend that made a Buffer must outlive it.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual std::byte* data() const = 0;
  virtual size_t size_bytes() const = 0;
};

// An owning, contiguous [rows, cols] matrix in device memory. Move-only; made by
// Backend::allocate. A default-constructed Tensor is empty (no memory, 0 x 0).
class Tensor {
 public:
  Tensor() = default;
  // REQUIRES: buffer holds at least rows * cols * dtype_size(dtype) bytes.
  Tensor(std::unique_ptr<Buffer> buffer, DType dtype, int64_t rows, int64_t cols);

  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  // The whole matrix (row_stride == cols). Valid while this Tensor lives and is not moved from.
  TensorView view() const;

  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  bool empty() const { return buffer_ == nullptr; }
  size_t size_bytes() const { return buffer_ ? buffer_->size_bytes() : 0; }

 private:
  std::unique_ptr<Buffer> buffer_;
  DType dtype_ = DType::kF32;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
};

// A host matrix that a backend converts into a Weight or a Tensor: `rows * cols` elements of
// `dtype`, row-major and contiguous. Usually points into a mmapped safetensors file, which must
// stay mapped during the call only (nothing keeps a pointer to it afterwards).
// A 1-D safetensors vector (bias, norm weight) is rows = 1, cols = length.
struct HostMatrix {
  const void* data = nullptr;
  HostDType dtype = HostDType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
};

// Backend-specific storage of a prepared weight (a backend derives it; e.g. the CPU backend's
// holds the matrix in oneDNN's preferred layout). Frees its memory in the destructor.
class WeightStorage {
 public:
  virtual ~WeightStorage() = default;
  virtual size_t size_bytes() const = 0;
};

// A weight matrix [out_features, in_features] (PyTorch nn.Linear / nn.Embedding layout) prepared
// by Backend::prepare_weight, in the backend's layout and in dtype weight_dtype(precision).
// Move-only. Used by Backend::matmul (out = in * W^T) and Backend::gather_rows (embedding rows),
// so one Weight can serve as the tied embedding and lm_head.
// Only the backend that prepared a Weight may use it, and that backend must outlive it.
class Weight {
 public:
  Weight() = default;
  Weight(std::unique_ptr<WeightStorage> storage, DType dtype, int64_t out_features,
         int64_t in_features);

  Weight(Weight&&) noexcept = default;
  Weight& operator=(Weight&&) noexcept = default;
  Weight(const Weight&) = delete;
  Weight& operator=(const Weight&) = delete;

  int64_t out_features() const { return out_features_; }
  int64_t in_features() const { return in_features_; }
  DType dtype() const { return dtype_; }
  bool empty() const { return storage_ == nullptr; }
  // Device bytes held (what decode streams per token for this matrix).
  size_t size_bytes() const { return storage_ ? storage_->size_bytes() : 0; }

  // For the backend that made it. REQUIRES: !empty().
  const WeightStorage& storage() const;

 private:
  std::unique_ptr<WeightStorage> storage_;
  DType dtype_ = DType::kF32;
  int64_t out_features_ = 0;
  int64_t in_features_ = 0;
};

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_TENSOR_H_
