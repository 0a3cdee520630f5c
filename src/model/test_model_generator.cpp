// The portable weight generator (../shared/golden/README.md), element by element.
#include <cstring>
#include <thread>
#include <vector>

#include "io/half.h"
#include "model/test_model.h"

namespace vcap::model {
namespace {

// The stored value of one element, before the conversion to the storage dtype.
double element_value(TensorKind kind, const WeightBounds& bounds, uint64_t state, uint64_t index) {
  const double r = generator_uniform(state, index);
  switch (kind) {
    case TensorKind::kMatrix:
      return r * bounds.matrix;
    case TensorKind::kBias:
      return r * bounds.bias;
    case TensorKind::kNorm: {
      // The reference rounds the product before the sum. `volatile` forbids the compiler to
      // fuse them into one FMA (which -ffp-contract=fast would allow on FMA hardware).
      volatile double product = r * bounds.norm;
      return 1.0 + product;
    }
  }
  return 0.0;
}

void fill_range(const ExpectedTensor& tensor, const TestModelSpec& spec, uint64_t state,
                int64_t first_element, int64_t count, std::byte* out) {
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t index = static_cast<uint64_t>(first_element + i);
    const float value = static_cast<float>(element_value(tensor.kind, spec.bounds, state, index));
    if (spec.dtype == io::DType::kBF16) {
      const uint16_t bits = io::f32_to_bf16_rne(value);
      std::memcpy(out + 2 * i, &bits, 2);  // little-endian host (x86-64, aarch64)
    } else {
      std::memcpy(out + 4 * i, &value, 4);
    }
  }
}

}  // namespace

uint64_t fnv1a64(std::string_view text) {
  uint64_t hash = 0xCBF29CE484222325ull;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001B3ull;
  }
  return hash;
}

double generator_uniform(uint64_t state, uint64_t index) {
  uint64_t z = state + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  // (z >> 11) < 2^53, so both products are exact and so is the difference.
  return 2.0 * (static_cast<double>(z >> 11) * 0x1.0p-53) - 1.0;
}

void generate_tensor_bytes(const ExpectedTensor& tensor, const TestModelSpec& spec,
                           int64_t first_element, std::span<std::byte> out, int threads) {
  VCAP_CHECK(spec.dtype == io::DType::kBF16 || spec.dtype == io::DType::kF32,
             "test model dtype must be BF16 or F32");
  const size_t element_bytes = io::dtype_size(spec.dtype);
  VCAP_CHECK(out.size() % element_bytes == 0, "output is not a whole number of elements");
  const int64_t count = static_cast<int64_t>(out.size() / element_bytes);
  const uint64_t state = spec.seed ^ fnv1a64(tensor.name);
  // Small pieces are not worth a thread.
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, count / 65536));
  std::vector<std::thread> workers;
  for (int64_t part = 1; part < parts; ++part) {
    const int64_t begin = count * part / parts;
    const int64_t end = count * (part + 1) / parts;
    workers.emplace_back(fill_range, std::cref(tensor), std::cref(spec), state,
                         first_element + begin, end - begin, out.data() + begin * element_bytes);
  }
  fill_range(tensor, spec, state, first_element, count / parts, out.data());
  for (std::thread& worker : workers) worker.join();
}

}  // namespace vcap::model
