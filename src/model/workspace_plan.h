// A scratch workspace as data: each of its tensors with its dtype and shape. A workspace's
// allocate() and bytes() walk the same plan, so the memory estimate
// (Qwen2VL::estimate_memory_bytes) counts exactly what allocation takes.
#ifndef VCAP_MODEL_WORKSPACE_PLAN_H_
#define VCAP_MODEL_WORKSPACE_PLAN_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "base/status.h"
#include "tensor/backend.h"

namespace vcap::model {

template <class Workspace>
struct WorkspaceSlot {
  tensor::Tensor Workspace::*tensor;
  tensor::DType dtype;
  int64_t rows;
  int64_t cols;
};

template <class Workspace>
using WorkspacePlan = std::vector<WorkspaceSlot<Workspace>>;

// Allocates every tensor of `plan` into `ws`. Errors: the backend's (kOutOfMemory, ...).
template <class Workspace>
Status allocate_plan(tensor::Backend& backend, const WorkspacePlan<Workspace>& plan,
                     Workspace& ws) {
  for (const WorkspaceSlot<Workspace>& slot : plan) {
    Result<tensor::Tensor> tensor = backend.allocate(slot.dtype, slot.rows, slot.cols);
    if (!tensor.ok()) return tensor.status();
    ws.*slot.tensor = std::move(tensor).value();
  }
  return Status();
}

template <class Workspace>
int64_t plan_bytes(const WorkspacePlan<Workspace>& plan) {
  int64_t total = 0;
  for (const WorkspaceSlot<Workspace>& slot : plan) {
    total += slot.rows * slot.cols * static_cast<int64_t>(tensor::dtype_size(slot.dtype));
  }
  return total;
}

}  // namespace vcap::model

#endif  // VCAP_MODEL_WORKSPACE_PLAN_H_
