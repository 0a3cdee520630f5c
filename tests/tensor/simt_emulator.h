// A SIMT emulator for the portable kernel bodies (src/tensor/cuda/simt.h): every CUDA thread of
// a block runs as a host thread, with real barriers for __syncthreads and for the warp-wide
// operations (shuffles, mma.sync, ldmatrix), and mma.sync and ldmatrix computed from their
// fragments as the PTX ISA lays them out (a misaligned ldmatrix row, or one outside the block's
// shared memory, aborts). A cp.async lands only at its thread's next wait (its target reads as
// all-ones until then), and a block that ends with copies never waited for aborts. A kernel whose
// threads disagree on a barrier hangs here as it would on a GPU; shared memory starts as all-ones
// words (bf16 NaN pairs), so a read of a word never written shows.
#ifndef VCAP_TESTS_TENSOR_SIMT_EMULATOR_H_
#define VCAP_TESTS_TENSOR_SIMT_EMULATOR_H_

#include <cstddef>
#include <cstdint>
#include <functional>

namespace vcap::tensor::cuda::simt {

// Runs `body(block, shared)` for blocks [0, blocks) of a 1-D grid of `threads`-thread blocks
// (a multiple of 32), one block after the other; `shared` holds `shared_words` words.
void emulate_grid(int blocks, int threads, size_t shared_words,
                  const std::function<void(int block, uint32_t* shared)>& body);

}  // namespace vcap::tensor::cuda::simt

#endif  // VCAP_TESTS_TENSOR_SIMT_EMULATOR_H_
