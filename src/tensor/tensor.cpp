#include "tensor/tensor.h"

#include <utility>

#include "base/check.h"

namespace vcap::tensor {

TensorView TensorView::rows_slice(int64_t begin, int64_t count) const {
  VCAP_CHECK(begin >= 0 && count >= 0 && begin + count <= rows, "rows_slice out of range");
  TensorView slice = *this;
  slice.data = data + begin * row_stride * static_cast<int64_t>(dtype_size(dtype));
  slice.rows = count;
  return slice;
}

TensorView TensorView::cols_slice(int64_t begin, int64_t count) const {
  VCAP_CHECK(begin >= 0 && count >= 0 && begin + count <= cols, "cols_slice out of range");
  TensorView slice = *this;
  slice.data = data + begin * static_cast<int64_t>(dtype_size(dtype));
  slice.cols = count;
  return slice;
}

TensorView TensorView::reshape(int64_t new_rows, int64_t new_cols) const {
  VCAP_CHECK(contiguous(), "reshape of a strided view");
  VCAP_CHECK(new_rows >= 0 && new_cols >= 0 && new_rows * new_cols == rows * cols,
             "reshape changes the number of elements");
  TensorView reshaped = *this;
  reshaped.rows = new_rows;
  reshaped.cols = new_cols;
  reshaped.row_stride = new_cols;
  return reshaped;
}

Tensor::Tensor(std::unique_ptr<Buffer> buffer, DType dtype, int64_t rows, int64_t cols)
    : buffer_(std::move(buffer)), dtype_(dtype), rows_(rows), cols_(cols) {
  VCAP_CHECK(buffer_ != nullptr, "Tensor without a buffer");
  VCAP_CHECK(buffer_->size_bytes() >= static_cast<size_t>(rows * cols) * dtype_size(dtype),
             "Tensor buffer smaller than its shape");
}

TensorView Tensor::view() const {
  TensorView view;
  view.data = buffer_ ? buffer_->data() : nullptr;
  view.dtype = dtype_;
  view.rows = rows_;
  view.cols = cols_;
  view.row_stride = cols_;
  return view;
}

Weight::Weight(std::unique_ptr<WeightStorage> storage, DType dtype, int64_t out_features,
               int64_t in_features)
    : storage_(std::move(storage)),
      dtype_(dtype),
      out_features_(out_features),
      in_features_(in_features) {
  VCAP_CHECK(storage_ != nullptr, "Weight without storage");
}

const WeightStorage& Weight::storage() const {
  VCAP_CHECK(storage_ != nullptr, "storage() of an empty Weight");
  return *storage_;
}

}  // namespace vcap::tensor
