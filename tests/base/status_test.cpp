#include "base/status.h"

#include <cerrno>
#include <memory>

#include <gtest/gtest.h>

namespace vcap {
namespace {

TEST(Status, DefaultIsOkAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "ok");
}

TEST(Status, WithContextPrefixesMessageAndKeepsCode) {
  Status s = Status::not_found("tensor x").with_context("model.safetensors");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "model.safetensors: tensor x");
  EXPECT_EQ(s.to_string(), "not_found: model.safetensors: tensor x");
}

TEST(Status, FromErrnoNamesTheSystemError) {
  Status s = Status::from_errno("open a.csv", ENOENT);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("No such file"), std::string::npos);
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = 3;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  Result<int> bad = Status::corruption("bad");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
}

TEST(Result, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
}

TEST(ResultDeathTest, ValueOfFailedResultAborts) {
  Result<int> bad = Status::io_error("disk");
  EXPECT_DEATH((void)bad.value(), "value\\(\\) of a failed Result");
}

}  // namespace
}  // namespace vcap
