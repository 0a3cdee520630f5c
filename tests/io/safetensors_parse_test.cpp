// parse_safetensors: every validation rule of spec §3.1 on hand-built headers.
#include <gtest/gtest.h>

#include <string>

#include "io/safetensors.h"
#include "io/safetensors_test_util.h"

namespace vcap::io {
namespace {

using testing::as_bytes;
using testing::safetensors_image;

Status parse_error(const std::string& image) {
  return parse_safetensors(as_bytes(image), "bad.safetensors").status();
}

void expect_error(const std::string& image, StatusCode code, const std::string& fragment) {
  const Status s = parse_error(image);
  EXPECT_EQ(s.code(), code) << s.to_string();
  EXPECT_NE(s.message().find("bad.safetensors"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(ParseSafetensors, ReadsEntriesMetadataAndSpans) {
  const std::string image = safetensors_image(
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[8,20]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      20);
  Result<SafetensorsHeader> header = parse_safetensors(as_bytes(image), "ok.safetensors");
  ASSERT_TRUE(header.ok()) << header.status().to_string();
  EXPECT_EQ(header->metadata.at("format"), "pt");
  ASSERT_EQ(header->tensors.size(), 2u);
  const TensorEntry& a = header->tensors[0];  // data-offset order
  const TensorEntry& b = header->tensors[1];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_EQ(a.num_elements(), 2);
  EXPECT_EQ(b.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(b.bytes.size(), 12u);
  EXPECT_EQ(b.bytes.data(), as_bytes(image).data() + header->data_offset_bytes + 8);
  EXPECT_EQ(static_cast<int>(b.bytes[0]), 8);
}

TEST(ParseSafetensors, AcceptsScalarsEmptyTensorsAndPaddedHeaders) {
  const std::string image =
      safetensors_image(R"({"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
                        R"("e":{"dtype":"F16","shape":[0,4],"data_offsets":[8,8]}}   )",
                        8);
  Result<SafetensorsHeader> header = parse_safetensors(as_bytes(image), "ok.safetensors");
  ASSERT_TRUE(header.ok()) << header.status().to_string();
  EXPECT_EQ(header->tensors.size(), 2u);
}

TEST(ParseSafetensors, RejectsFileShorterThanLengthField) {
  expect_error("abc", StatusCode::kCorruption, "too short");
}

TEST(ParseSafetensors, RejectsHeaderLengthOverTheCap) {
  expect_error(safetensors_image("{}", 0, kMaxHeaderBytes + 1), StatusCode::kCorruption,
               "exceeds the limit");
}

TEST(ParseSafetensors, RejectsHeaderLengthPastEndOfFile) {
  expect_error(safetensors_image("{}", 0, 100), StatusCode::kCorruption, "past the end");
}

TEST(ParseSafetensors, RejectsInvalidJsonWithPosition) {
  expect_error(safetensors_image(R"({"a":)", 0), StatusCode::kCorruption, "invalid JSON at byte");
}

TEST(ParseSafetensors, RejectsHeaderThatIsNotAnObject) {
  expect_error(safetensors_image("[1,2]", 0), StatusCode::kCorruption, "not a JSON object");
}

TEST(ParseSafetensors, RejectsUnknownDtypeAsUnsupported) {
  expect_error(
      safetensors_image(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1),
      StatusCode::kUnsupported, "tensor 'w': dtype 'F8_E4M3'");
}

TEST(ParseSafetensors, RejectsMissingDtype) {
  expect_error(safetensors_image(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4),
               StatusCode::kCorruption, "tensor 'w': missing or non-string 'dtype'");
}

TEST(ParseSafetensors, RejectsNegativeOrFractionalShape) {
  expect_error(safetensors_image(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               StatusCode::kCorruption, "tensor 'w': 'shape'");
  expect_error(safetensors_image(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
               StatusCode::kCorruption, "tensor 'w': 'shape'");
}

TEST(ParseSafetensors, RejectsShapeThatDoesNotMatchTheByteSpan) {
  expect_error(safetensors_image(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               StatusCode::kCorruption, "tensor 'w': shape and dtype F32 need 12 bytes");
}

TEST(ParseSafetensors, RejectsShapeWhoseSizeOverflows) {
  expect_error(
      safetensors_image(
          R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
      StatusCode::kCorruption, "tensor 'w': shape is too large");
}

TEST(ParseSafetensors, RejectsMalformedOffsets) {
  expect_error(safetensors_image(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1),
               StatusCode::kCorruption, "tensor 'w': 'data_offsets' is not [begin, end]");
  expect_error(safetensors_image(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[2,1]}})", 4),
               StatusCode::kCorruption, "tensor 'w': data_offsets begin > end");
}

TEST(ParseSafetensors, RejectsSpanOutsideTheDataArea) {
  expect_error(safetensors_image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 8),
               StatusCode::kCorruption, "tensor 'w': data_offsets [4, 12] run past");
}

TEST(ParseSafetensors, RejectsOverlappingSpans) {
  expect_error(safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 12),
               StatusCode::kCorruption, "tensor 'b': data overlaps tensor 'a'");
}

TEST(ParseSafetensors, RejectsNonStringMetadata) {
  expect_error(safetensors_image(R"({"__metadata__":{"n":1}})", 0), StatusCode::kCorruption,
               "__metadata__ value 'n' is not a string");
  expect_error(safetensors_image(R"({"__metadata__":[1]})", 0), StatusCode::kCorruption,
               "__metadata__ is not an object");
}

TEST(ParseSafetensors, RejectsEntryThatIsNotAnObject) {
  expect_error(safetensors_image(R"({"w":3})", 0), StatusCode::kCorruption,
               "tensor 'w': entry is not an object");
}

TEST(NormalizeTensorName, MapsTheNewerLayoutToTheOriginal) {
  EXPECT_EQ(normalize_tensor_name("model.visual.blocks.0.norm1.weight"),
            "visual.blocks.0.norm1.weight");
  EXPECT_EQ(normalize_tensor_name("model.language_model.layers.1.mlp.up_proj.weight"),
            "model.layers.1.mlp.up_proj.weight");
  EXPECT_EQ(normalize_tensor_name("model.norm.weight"), "model.norm.weight");
  EXPECT_EQ(normalize_tensor_name("lm_head.weight"), "lm_head.weight");
}

}  // namespace
}  // namespace vcap::io
