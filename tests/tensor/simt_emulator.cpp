#include "simt_emulator.h"

#include <array>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "tensor/cuda/simt.h"

namespace vcap::tensor::cuda::simt {
namespace {

// What the lanes of one warp exchange at a warp-wide operation.
struct Warp {
  std::barrier<> barrier{kWarpSize};
  std::array<float, kWarpSize> values{};
  std::array<std::array<uint32_t, 4>, kWarpSize> a{};
  std::array<std::array<uint32_t, 2>, kWarpSize> b{};
  std::array<const unsigned char*, kWarpSize> rows{};
};

struct Grid {
  explicit Grid(int threads) : block_barrier(threads), warps(threads / kWarpSize) {
    for (auto& warp : warps) warp = std::make_unique<Warp>();
  }
  std::barrier<> block_barrier;
  std::vector<std::unique_ptr<Warp>> warps;
  const unsigned char* shared = nullptr;  // the block's shared memory: address 0
  size_t shared_bytes = 0;
};

// A cp.async issued but not yet waited for: its bytes, read at issue (global memory does not
// change during a launch), land in `target` at the thread's next async_copy_wait_all.
struct PendingCopy {
  void* target;
  std::array<unsigned char, 16> bytes;
};

thread_local int t_rank = -1;
thread_local Grid* t_grid = nullptr;
thread_local std::vector<PendingCopy> t_pending_copies;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "SIMT emulator: thread %d: %s\n", t_rank, what);
  std::abort();
}

Warp& my_warp() { return *t_grid->warps[t_rank / kWarpSize]; }

float bf16_value(uint32_t word, int half) { return float_of((word >> (16 * half)) << 16); }

}  // namespace

int thread_rank() { return t_rank; }

void sync_block() { t_grid->block_barrier.arrive_and_wait(); }

void sync_warp() { my_warp().barrier.arrive_and_wait(); }

float shuffle_xor(float x, int lane_mask) {
  Warp& warp = my_warp();
  const int lane = t_rank % kWarpSize;
  warp.values[lane] = x;
  warp.barrier.arrive_and_wait();
  const float result = warp.values[lane ^ lane_mask];
  warp.barrier.arrive_and_wait();  // nobody overwrites a value before every lane has read
  return result;
}

void mma_bf16_16x8x16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  Warp& warp = my_warp();
  const int lane = t_rank % kWarpSize;
  warp.a[lane] = {a[0], a[1], a[2], a[3]};
  warp.b[lane] = {b0, b1};
  warp.barrier.arrive_and_wait();
  // A[r][k] is in lane (r % 8) * 4 + (k % 8) / 2, register (r / 8) + 2 * (k / 8), half k % 2;
  // B[k][n] in lane n * 4 + (k % 8) / 2, register k / 8, half k % 2 (simt.h).
  const auto a_at = [&](int r, int k) {
    return bf16_value(warp.a[(r % 8) * 4 + (k % 8) / 2][r / 8 + 2 * (k / 8)], k % 2);
  };
  const auto b_at = [&](int k, int n) {
    return bf16_value(warp.b[n * 4 + (k % 8) / 2][k / 8], k % 2);
  };
  const int g = lane / 4;
  const int t = lane % 4;
  float d[4];
  for (int i = 0; i < 4; ++i) {
    const int r = g + 8 * (i / 2);
    const int n = 2 * t + i % 2;
    double acc = c[i];
    for (int k = 0; k < 16; ++k) acc += static_cast<double>(a_at(r, k)) * b_at(k, n);
    d[i] = static_cast<float>(acc);
  }
  warp.barrier.arrive_and_wait();
  for (int i = 0; i < 4; ++i) c[i] = d[i];
}

namespace {

uint16_t element_at(const unsigned char* row, int index) {
  uint16_t value;
  std::memcpy(&value, row + 2 * index, sizeof value);
  return value;
}

// ldmatrix x4: every lane publishes its row address, then reads its words from the rows of the
// others (simt.h gives the layout).
void ldmatrix(uint32_t (&r)[4], uint32_t address, bool trans) {
  Warp& warp = my_warp();
  const int lane = t_rank % kWarpSize;
  if (address % 16 != 0) fail("ldmatrix row address not 16-byte aligned");
  if (address + 16 > t_grid->shared_bytes) fail("ldmatrix row outside the block's shared memory");
  warp.rows[lane] = t_grid->shared + address;
  warp.barrier.arrive_and_wait();
  const int g = lane / 4;
  const int t = lane % 4;
  for (int m = 0; m < 4; ++m) {
    uint32_t low, high;
    if (trans) {
      low = element_at(warp.rows[8 * m + 2 * t], g);
      high = element_at(warp.rows[8 * m + 2 * t + 1], g);
    } else {
      low = element_at(warp.rows[8 * m + g], 2 * t);
      high = element_at(warp.rows[8 * m + g], 2 * t + 1);
    }
    r[m] = low | (high << 16);
  }
  warp.barrier.arrive_and_wait();  // nobody publishes a new row before every lane has read
}

}  // namespace

void async_copy_16(void* shared, const void* global, bool valid) {
  PendingCopy copy{shared, {}};
  if (valid) std::memcpy(copy.bytes.data(), global, 16);
  t_pending_copies.push_back(copy);
  std::memset(shared, 0xff, 16);  // what a read before the wait would see: not the data
}

void async_copy_wait_all() {
  for (const PendingCopy& copy : t_pending_copies) std::memcpy(copy.target, copy.bytes.data(), 16);
  t_pending_copies.clear();
}

uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(static_cast<const unsigned char*>(p) - t_grid->shared);
}

void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) { ldmatrix(r, address, false); }

void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) { ldmatrix(r, address, true); }

void emulate_grid(int blocks, int threads, size_t shared_words,
                  const std::function<void(int block, uint32_t* shared)>& body) {
  Grid grid(threads);
  std::vector<uint32_t> shared(shared_words);
  grid.shared = reinterpret_cast<const unsigned char*>(shared.data());
  grid.shared_bytes = shared_words * sizeof(uint32_t);
  {
    std::vector<std::jthread> workers;
    for (int rank = 0; rank < threads; ++rank) {
      workers.emplace_back([&, rank] {
        t_rank = rank;
        t_grid = &grid;
        for (int block = 0; block < blocks; ++block) {
          if (rank == 0) shared.assign(shared_words, 0xffffffffu);
          grid.block_barrier.arrive_and_wait();
          body(block, shared.data());
          if (!t_pending_copies.empty()) fail("block ended with cp.async copies never waited for");
          grid.block_barrier.arrive_and_wait();
        }
        t_grid = nullptr;
        t_rank = -1;
      });
    }
  }  // joins every worker
}

}  // namespace vcap::tensor::cuda::simt
