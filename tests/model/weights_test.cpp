// Loading weights from checkpoints laid out in any way the safetensors format allows.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/pico_model_test.h"
#include "model/qwen2vl.h"
#include "tensor/cpu/cpu_backend.h"

namespace vcap::model {
namespace {

class Weights : public testing::PicoModelTest<Weights> {};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// `model`'s checkpoint rewritten with `extra` spaces after its header (valid JSON padding): every
// tensor's data then starts `extra` bytes further into the file.
void pad_header(const std::filesystem::path& checkpoint, size_t extra) {
  const std::string file = read_file(checkpoint);
  uint64_t length = 0;
  std::memcpy(&length, file.data(), 8);  // little-endian, as the format says (and x86 is)
  const uint64_t padded = length + extra;
  std::string out(reinterpret_cast<const char*>(&padded), 8);
  out += file.substr(8, length);
  out.append(extra, ' ');
  out += file.substr(8 + length);
  std::ofstream(checkpoint, std::ios::binary | std::ios::trunc) << out;
}

// A header padded to an odd length (a writer other than the Python library's) puts every tensor
// at an odd address in the mapped file: the kernels read whole bf16/f32 values, so such a
// tensor is copied to aligned memory first. Before, the sanitizer build stopped at the first
// misaligned load, and a vectorised release build could fault.
TEST_F(Weights, ATensorAtAnOddOffsetLoadsLikeAnAlignedOne) {
  const std::filesystem::path odd = model().parent_path() / "pico-odd-header";
  std::filesystem::copy(model(), odd, std::filesystem::copy_options::recursive);
  pad_header(odd / "model.safetensors", 1);
  for (const tensor::Precision precision : {tensor::Precision::kBF16, tensor::Precision::kF32}) {
    std::vector<float> logits[2];
    for (int i = 0; i < 2; ++i) {
      auto backend = tensor::make_cpu_backend({.threads = 1});
      ASSERT_TRUE(backend.ok());
      Result<Qwen2VL> loaded = Qwen2VL::load(i == 0 ? model() : odd, **backend, precision);
      ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
      const std::vector<TokenId> prompt = {100, 200, 300, 400};
      Result<std::vector<float>> result = loaded->prefill_last_logits(prompt, {}, {});
      ASSERT_TRUE(result.ok()) << result.status().to_string();
      logits[i] = *result;
    }
    EXPECT_EQ(logits[0], logits[1]);
  }
}

}  // namespace
}  // namespace vcap::model
