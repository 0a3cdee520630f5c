// A test model directory made in-process (model/test_model.h): the golden pico / pico-b
// weights bit for bit, with the tokenizer and configs of tests/data/qwen2vl.
#ifndef VCAP_TESTS_PIPELINE_TEST_MODEL_DIR_H_
#define VCAP_TESTS_PIPELINE_TEST_MODEL_DIR_H_

#include <filesystem>
#include <string>

#include "model/test_model.h"

namespace vcap::pipeline::testing {

// Writes the preset ("pico", "pico-b") into `dir` (absent or empty).
inline Status make_test_model_dir(const std::string& preset, const std::filesystem::path& dir) {
  model::MakeTestModelOptions make;
  make.side_files_dir = std::filesystem::path(VCAP_TEST_DATA_DIR) / "qwen2vl";
  return model::make_test_model(*model::test_model_preset(preset), dir, make);
}

}  // namespace vcap::pipeline::testing

#endif  // VCAP_TESTS_PIPELINE_TEST_MODEL_DIR_H_
