#include "io/npy.h"

#include <gtest/gtest.h>

#include "io/safetensors_test_util.h"
#include "io/temp_dir.h"

namespace vcap::io {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const fs::path kGridThw = fs::path(VCAP_TEST_DATA_DIR) / "io/grid_thw.npy";

TEST(ReadNpy, ReadsTheGoldenGridThw) {
  Result<NpyArray> array = read_npy(kGridThw);
  ASSERT_TRUE(array.ok()) << array.status().to_string();
  EXPECT_EQ(array->descr, "<i8");
  EXPECT_EQ(array->shape, (std::vector<int64_t>{1, 3}));
  EXPECT_FALSE(array->fortran_order);
  ASSERT_TRUE(array->holds<int64_t>());
  EXPECT_FALSE(array->holds<int32_t>());
  const std::span<const int64_t> grid = array->as<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(grid.begin(), grid.end()), (std::vector<int64_t>{5, 20, 28}));
}

TEST(WriteNpy, WritesTheSameBytesAsNumPy) {
  TempDir dir;
  const std::vector<int64_t> grid = {5, 20, 28};
  const std::vector<int64_t> shape = {1, 3};
  ASSERT_TRUE(write_npy<int64_t>(dir / "g.npy", shape, grid).ok());
  EXPECT_EQ(testing::read_text_file(dir / "g.npy"), testing::read_text_file(kGridThw));
}

TEST(WriteNpy, RoundTripsTypesAndShapes) {
  TempDir dir;
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{6}, {2, 3}, {1, 2, 3}, {3, 2, 1, 1}}) {
    ASSERT_TRUE(write_npy<float>(dir / "f.npy", shape, values).ok());
    Result<NpyArray> back = read_npy(dir / "f.npy");
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->shape, shape);
    EXPECT_EQ(back->descr, "<f4");
    const std::span<const float> floats = back->as<float>();
    EXPECT_EQ(std::vector<float>(floats.begin(), floats.end()), values);
    EXPECT_EQ(fs::file_size(dir / "f.npy") % 64, values.size() * 4 % 64);  // 64-aligned header
  }
  const std::vector<uint8_t> bytes = {1, 2, 255};
  const std::vector<int64_t> shape = {3};
  ASSERT_TRUE(write_npy<uint8_t>(dir / "u.npy", shape, bytes).ok());
  Result<NpyArray> back = read_npy(dir / "u.npy");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->descr, "|u1");
  EXPECT_EQ(back->as<uint8_t>()[2], 255);
}

TEST(WriteNpy, WritesZeroDimensionalArrays) {
  TempDir dir;
  const std::vector<double> value = {2.5};
  ASSERT_TRUE(write_npy<double>(dir / "s.npy", {}, value).ok());
  Result<NpyArray> back = read_npy(dir / "s.npy");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->shape.empty());
  EXPECT_EQ(back->as<double>()[0], 2.5);
}

TEST(WriteNpy, RejectsADataSizeThatDoesNotMatch) {
  TempDir dir;
  const std::vector<float> values = {1, 2, 3};
  const std::vector<int64_t> shape = {2, 2};
  EXPECT_EQ(write_npy<float>(dir / "f.npy", shape, values).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir / "f.npy"));
}

std::string npy_image(std::string_view dict, size_t data_bytes) {
  std::string image = "\x93NUMPY\x01";
  image.push_back('\0');
  image.push_back(static_cast<char>(dict.size()));
  image.push_back('\0');
  image += dict;
  image.append(data_bytes, '\0');
  return image;
}

void expect_error(const std::string& image, StatusCode code, const std::string& fragment) {
  const Status s = parse_npy(testing::as_bytes(image), "x.npy").status();
  EXPECT_EQ(s.code(), code) << s.to_string();
  EXPECT_NE(s.message().find("x.npy: " + fragment), std::string::npos) << s.message();
}

TEST(ParseNpy, RejectsBadFiles) {
  expect_error("PK\x03\x04", StatusCode::kCorruption, "not a .npy file");
  expect_error(npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 4),
               StatusCode::kCorruption, ".npy shape and descr need 8 data bytes, the file has 4");
  expect_error(npy_image("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }\n", 4),
               StatusCode::kUnsupported, ".npy descr '>f4'");
  expect_error(npy_image("{'descr': '<f4', 'shape': (1,), }\n", 4), StatusCode::kCorruption,
               ".npy header: missing");
  expect_error(npy_image("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }\n", 4),
               StatusCode::kCorruption, ".npy header: 'fortran_order' is not True or False");
  expect_error(npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n", 4),
               StatusCode::kCorruption, ".npy header: 'shape' is not a tuple");
  std::string truncated = npy_image("{}", 0);
  truncated[8] = 100;
  expect_error(truncated, StatusCode::kCorruption, "truncated .npy header");
}

TEST(ParseNpy, ReadsFortranOrderAndNoTrailingComma) {
  const std::string image =
      npy_image("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 1)}\n", 8);
  Result<NpyArray> array = parse_npy(testing::as_bytes(image), "x.npy");
  ASSERT_TRUE(array.ok()) << array.status().to_string();
  EXPECT_TRUE(array->fortran_order);
  EXPECT_EQ(array->num_elements(), 2);
}

// np.save(x.T) writes the transposed array column-major (fortran_order True): its elements come
// back in row-major order, as NumPy's np.load gives them. Before, they were read as if
// row-major, and `vcap inspect --pixel-values` ran on scrambled pixels.
TEST(ParseNpy, ReordersFortranOrderDataRowMajor) {
  // A 2x3x2 array whose element (i, j, k) is 100 i + 10 j + k, stored column-major.
  std::string image =
      npy_image("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 2), }\n", 0);
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) {
        const int32_t value = 100 * i + 10 * j + k;
        image.append(reinterpret_cast<const char*>(&value), 4);
      }
  Result<NpyArray> array = parse_npy(testing::as_bytes(image), "x.npy");
  ASSERT_TRUE(array.ok()) << array.status().to_string();
  std::vector<int32_t> expected;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) expected.push_back(100 * i + 10 * j + k);
  const std::span<const int32_t> values = array->as<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(values.begin(), values.end()), expected);
}

}  // namespace
}  // namespace vcap::io
