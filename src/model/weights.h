// Loading checkpoint tensors into backend weights (spec/QWEN2VL.md §3).
//
// WeightLoader reads named tensors from a SafetensorsCheckpoint (names already normalised to
// the hub layout by io) and hands them to the backend once: matrices become prepared Weights in
// the chosen precision (f32 widens bf16/f16 exactly; bf16 keeps bf16 bytes as they are), vectors
// (biases, norm weights) become f32 device tensors [1, n]. Fused matrices (q|k|v, gate|up) are
// concatenated on the host first, one matrix at a time, so the peak extra host memory is one
// fused matrix. Every error names the tensor and says what is wrong with it.
//
// The checkpoint and the backend must outlive the loader; the Weights and Tensors it returns
// belong to the backend (which must outlive them) and keep no reference to the checkpoint.
#ifndef VCAP_MODEL_WEIGHTS_H_
#define VCAP_MODEL_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/safetensors.h"
#include "tensor/backend.h"

namespace vcap::model {

class WeightLoader {
 public:
  WeightLoader(const io::SafetensorsCheckpoint& checkpoint, tensor::Backend& backend,
               tensor::Precision precision)
      : checkpoint_(checkpoint), backend_(backend), precision_(precision) {}

  // The tensor `name` seen as a matrix [rows, cols] (its shape's product must equal rows*cols
  // and its first dim must be rows: e.g. the Conv3d patch embedding [1280, 3, 2, 14, 14] read
  // as [1280, 1176]).
  Result<tensor::Weight> matrix(const std::string& name, int64_t rows, int64_t cols);

  // Several matrices with the same cols stacked row-wise into one Weight (e.g. q, k, v
  // projections -> [q_rows + k_rows + v_rows, cols]).
  Result<tensor::Weight> stacked_matrix(const std::vector<std::string>& names,
                                        const std::vector<int64_t>& rows, int64_t cols);

  // A 1-D tensor of `length` values as an f32 device tensor [1, length].
  Result<tensor::Tensor> vector(const std::string& name, int64_t length);

  // Several 1-D tensors concatenated into one f32 device tensor [1, sum(lengths)].
  Result<tensor::Tensor> stacked_vector(const std::vector<std::string>& names,
                                        const std::vector<int64_t>& lengths);

  // True when the checkpoint holds `name`.
  bool contains(const std::string& name) const { return checkpoint_.find(name) != nullptr; }

  tensor::Precision precision() const { return precision_; }

 private:
  // The entry `name`, checked to hold exactly `elements` values whose leading dim is `rows`.
  Result<const io::TensorEntry*> entry(const std::string& name, int64_t rows, int64_t elements);

  const io::SafetensorsCheckpoint& checkpoint_;
  tensor::Backend& backend_;
  tensor::Precision precision_;
};

}  // namespace vcap::model

#endif  // VCAP_MODEL_WEIGHTS_H_
