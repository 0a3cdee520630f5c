// SafetensorsCheckpoint and the writer: round trips, shards, name layouts, index errors, and
// the golden pico checkpoint.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/safetensors.h"
#include "io/safetensors_test_util.h"
#include "io/safetensors_writer.h"
#include "io/temp_dir.h"

namespace vcap::io {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::vector<std::byte> iota_bytes(size_t count, int start) {
  std::vector<std::byte> out(count);
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<std::byte>((start + i) & 0xFF);
  return out;
}

// Fills every element with bytes derived from the tensor name length and the byte index.
Status pattern_fill(const TensorSpec& spec, int64_t first, std::span<std::byte> out) {
  const size_t offset = static_cast<size_t>(first) * dtype_size(spec.dtype);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::byte>((spec.name.size() * 7 + offset + i) & 0xFF);
  }
  return Status();
}

TEST(SafetensorsWriter, RoundTripsTensorsThroughAFile) {
  TempDir dir;
  const std::vector<std::byte> a = iota_bytes(6 * 4, 0);
  const std::vector<std::byte> b = iota_bytes(5 * 2, 100);
  const std::vector<TensorToWrite> tensors = {{"z.weight", DType::kF32, {2, 3}, a},
                                              {"a.bias", DType::kBF16, {5}, b}};
  ASSERT_TRUE(write_safetensors(dir / "m.safetensors", tensors).ok());

  Result<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::open(dir / "m.safetensors");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().to_string();
  EXPECT_EQ(ckpt->names(), (std::vector<std::string>{"a.bias", "z.weight"}));
  const TensorEntry* z = ckpt->find("z.weight");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->dtype, DType::kF32);
  EXPECT_EQ(z->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(std::equal(z->bytes.begin(), z->bytes.end(), a.begin(), a.end()));
  const TensorEntry* bias = ckpt->find("a.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_TRUE(std::equal(bias->bytes.begin(), bias->bytes.end(), b.begin(), b.end()));
  EXPECT_EQ(ckpt->find("missing"), nullptr);
  EXPECT_EQ(ckpt->total_bytes(), 34u);
}

TEST(SafetensorsWriter, WritesSortedSpacePaddedHeaderWithMetadataFirst) {
  TempDir dir;
  const std::vector<std::byte> bytes = iota_bytes(4, 0);
  const std::vector<TensorToWrite> tensors = {{"b", DType::kF32, {1}, bytes},
                                              {"a", DType::kU8, {4}, bytes}};
  ASSERT_TRUE(write_safetensors(dir / "m.safetensors", tensors).ok());
  const std::string file = testing::read_text_file(dir / "m.safetensors");
  uint64_t length = 0;
  std::memcpy(&length, file.data(), 8);
  EXPECT_EQ(length % 8, 0u);
  const std::string header = file.substr(8, length);
  EXPECT_EQ(header.rfind(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"U8","shape":[4],)"
                         R"("data_offsets":[0,4]},"b":)",
                         0),
            0u)
      << header;
  EXPECT_EQ(header.back() == ' ' || header.back() == '}', true);
  EXPECT_EQ(file.size(), 8 + length + 8);
  EXPECT_FALSE(fs::exists(dir / ("m.safetensors.tmp." + std::to_string(::getpid()))));
}

TEST(SafetensorsWriter, RejectsBytesThatDoNotMatchTheShape) {
  TempDir dir;
  const std::vector<std::byte> bytes = iota_bytes(7, 0);
  const std::vector<TensorToWrite> tensors = {{"w", DType::kF32, {2}, bytes}};
  const Status s = write_safetensors(dir / "m.safetensors", tensors);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tensor 'w'"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(dir / "m.safetensors"));
}

TEST(SafetensorsWriter, RejectsDuplicateNames) {
  TempDir dir;
  const std::vector<std::byte> bytes = iota_bytes(4, 0);
  const std::vector<TensorToWrite> tensors = {{"w", DType::kU8, {4}, bytes},
                                              {"w", DType::kU8, {4}, bytes}};
  EXPECT_EQ(write_safetensors(dir / "m.safetensors", tensors).code(), StatusCode::kInvalidArgument);
}

TEST(SafetensorsWriter, ShardsGreedilyAndWritesAHubStyleIndex) {
  TempDir dir;
  const std::vector<TensorSpec> specs = {{"visual.a", DType::kF32, {10}},
                                         {"visual.b", DType::kF32, {10}},
                                         {"model.c", DType::kBF16, {30}},
                                         {"model.d", DType::kBF16, {4}}};
  ShardOptions options;
  options.max_shard_bytes = 80;  // a+b = 80 fit; c (60) starts shard 2; d (8) joins it
  Result<std::vector<fs::path>> files =
      write_safetensors_sharded(dir.path(), specs, pattern_fill, options);
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].filename(), "model-00001-of-00002.safetensors");
  EXPECT_EQ((*files)[1].filename(), "model-00002-of-00002.safetensors");

  std::ifstream index_in(dir / "model.safetensors.index.json");
  const nlohmann::json index = nlohmann::json::parse(index_in);
  EXPECT_EQ(index["metadata"]["total_size"], 148);
  EXPECT_EQ(index["weight_map"]["visual.b"], "model-00001-of-00002.safetensors");
  EXPECT_EQ(index["weight_map"]["model.d"], "model-00002-of-00002.safetensors");

  Result<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::open(dir.path());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().to_string();
  EXPECT_EQ(ckpt->size(), 4u);
  EXPECT_EQ(ckpt->num_files(), 2u);
  const TensorEntry* c = ckpt->find("model.c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->file.filename(), "model-00002-of-00002.safetensors");
  std::vector<std::byte> expected(60);
  ASSERT_TRUE(pattern_fill(specs[2], 0, expected).ok());
  EXPECT_TRUE(std::equal(c->bytes.begin(), c->bytes.end(), expected.begin(), expected.end()));
}

TEST(SafetensorsWriter, WritesOneFileWhenEverythingFitsOneShard) {
  TempDir dir;
  const std::vector<TensorSpec> specs = {{"x", DType::kF32, {3}}};
  Result<std::vector<fs::path>> files = write_safetensors_sharded(dir.path(), specs, pattern_fill);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].filename(), "model.safetensors");
  EXPECT_FALSE(fs::exists(dir / "model.safetensors.index.json"));
  EXPECT_TRUE(SafetensorsCheckpoint::open(dir.path()).ok());
}

TEST(SafetensorsCheckpoint, NormalisesTheNewerNameLayout) {
  TempDir dir;
  const std::vector<TensorSpec> specs = {{"model.visual.merger.ln_q.weight", DType::kF32, {2}},
                                         {"model.language_model.norm.weight", DType::kF32, {2}},
                                         {"lm_head.weight", DType::kF32, {2, 2}}};
  ASSERT_TRUE(write_safetensors(dir / "model.safetensors", specs, pattern_fill).ok());
  Result<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::open(dir.path());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().to_string();
  EXPECT_EQ(ckpt->names(), (std::vector<std::string>{"lm_head.weight", "model.norm.weight",
                                                     "visual.merger.ln_q.weight"}));
}

TEST(SafetensorsCheckpoint, RejectsACheckpointMixingBothLayouts) {
  TempDir dir;
  const std::vector<TensorSpec> specs = {{"model.visual.merger.ln_q.weight", DType::kF32, {2}},
                                         {"model.norm.weight", DType::kF32, {2}}};
  ASSERT_TRUE(write_safetensors(dir / "model.safetensors", specs, pattern_fill).ok());
  const Status s = SafetensorsCheckpoint::open(dir.path()).status();
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("mixes"), std::string::npos) << s.message();
}

TEST(SafetensorsCheckpoint, ReportsMissingCheckpoints) {
  TempDir dir;
  EXPECT_EQ(SafetensorsCheckpoint::open(dir.path()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(SafetensorsCheckpoint::open(dir / "nope.safetensors").status().code(),
            StatusCode::kNotFound);
}

TEST(SafetensorsCheckpoint, ReportsACorruptFileByName) {
  TempDir dir;
  testing::write_text_file(dir / "model.safetensors", "\x05");
  const Status s = SafetensorsCheckpoint::open(dir.path()).status();
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("model.safetensors"), std::string::npos);
}

class IndexErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<TensorSpec> specs = {{"model.a", DType::kF32, {2}}};
    ASSERT_TRUE(write_safetensors(dir_ / "s1.safetensors", specs, pattern_fill).ok());
  }
  Status open_with_index(const std::string& text) {
    testing::write_text_file(dir_ / "model.safetensors.index.json", text);
    return SafetensorsCheckpoint::open(dir_.path()).status();
  }
  TempDir dir_;
};

TEST_F(IndexErrors, ReadsAValidIndex) {
  EXPECT_TRUE(open_with_index(R"({"weight_map":{"model.a":"s1.safetensors"}})").ok());
}

TEST_F(IndexErrors, MissingShardNamesTheShardAndTensor) {
  const Status s = open_with_index(R"({"weight_map":{"model.b":"s2.safetensors"}})");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("shard s2.safetensors (tensor 'model.b')"), std::string::npos)
      << s.message();
}

TEST_F(IndexErrors, TensorAbsentFromItsShardIsCorruption) {
  const Status s =
      open_with_index(R"({"weight_map":{"model.a":"s1.safetensors","model.z":"s1.safetensors"}})");
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("tensor 'model.z' is mapped to s1.safetensors"), std::string::npos)
      << s.message();
}

TEST_F(IndexErrors, MalformedIndexIsCorruption) {
  EXPECT_EQ(open_with_index("{").code(), StatusCode::kCorruption);
  EXPECT_EQ(open_with_index(R"({"metadata":{}})").code(), StatusCode::kCorruption);
  EXPECT_EQ(open_with_index(R"({"weight_map":{"model.a":3}})").code(), StatusCode::kCorruption);
  EXPECT_EQ(open_with_index(R"({"weight_map":{"model.a":"../s1.safetensors"}})").code(),
            StatusCode::kCorruption);
}

TEST_F(IndexErrors, TensorStoredInTwoShardsIsCorruption) {
  const std::vector<TensorSpec> specs = {{"model.a", DType::kF32, {2}},
                                         {"model.b", DType::kF32, {2}}};
  ASSERT_TRUE(write_safetensors(dir_ / "s2.safetensors", specs, pattern_fill).ok());
  const Status s = open_with_index(R"({"weight_map":{"model.a":"s1.safetensors",)"
                                   R"("model.b":"s2.safetensors"}})");
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("stored twice"), std::string::npos) << s.message();
}

// The golden pico checkpoint: every tensor listed in tensors.sha256 ("sha dtype shape name")
// is present with that dtype and shape, and nothing else is.
TEST(SafetensorsCheckpoint, ReadsTheGoldenPicoCheckpoint) {
  const fs::path model_dir = fs::path(VCAP_SHARED_DIR) / "golden/models/pico";
  if (!fs::exists(model_dir / "model.safetensors")) {
    GTEST_SKIP() << "no " << model_dir << " (../shared not present)";
  }
  Result<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::open(model_dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().to_string();
  std::ifstream listing(model_dir / "tensors.sha256");
  std::string sha, dtype, shape, name;
  size_t count = 0;
  while (listing >> sha >> dtype >> shape >> name) {
    const TensorEntry* entry = ckpt->find(name);
    ASSERT_NE(entry, nullptr) << name;
    EXPECT_STREQ(dtype_name(entry->dtype), dtype.c_str()) << name;
    std::string actual_shape;
    for (int64_t dim : entry->shape) {
      actual_shape += (actual_shape.empty() ? "" : "x") + std::to_string(dim);
    }
    EXPECT_EQ(actual_shape, shape) << name;
    ++count;
  }
  EXPECT_EQ(count, 57u);
  EXPECT_EQ(ckpt->size(), count);
}

}  // namespace
}  // namespace vcap::io
