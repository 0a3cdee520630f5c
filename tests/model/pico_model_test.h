// A test suite with the pico test model (model/test_model.h) made once in a folder of its own:
// derive `class Suite : public testing::PicoModelTest<Suite> {};` and load model().
#ifndef VCAP_TESTS_MODEL_PICO_MODEL_TEST_H_
#define VCAP_TESTS_MODEL_PICO_MODEL_TEST_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "io/temp_dir.h"
#include "model/test_model.h"

namespace vcap::model::testing {

template <typename Suite>
class PicoModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MakeTestModelOptions options;
    options.side_files_dir = std::filesystem::path(VCAP_TEST_DATA_DIR) / "qwen2vl";
    ASSERT_TRUE(make_test_model(*test_model_preset("pico"), model(), options).ok());
  }
  static std::filesystem::path model() { return dir_->path() / "pico"; }

 private:
  static inline std::unique_ptr<vcap::testing::TempDir> dir_ =
      std::make_unique<vcap::testing::TempDir>();
};

}  // namespace vcap::model::testing

#endif  // VCAP_TESTS_MODEL_PICO_MODEL_TEST_H_
