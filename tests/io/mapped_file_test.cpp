#include "io/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "io/atomic_file.h"
#include "io/temp_dir.h"

namespace vcap::io {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(MappedFile, MapsTheWholeFile) {
  TempDir dir;
  testing::write_text_file(dir / "f", "hello");
  Result<MappedFile> file = MappedFile::open(dir / "f");
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file->bytes().size(), 5u);
  EXPECT_EQ(static_cast<char>(file->bytes()[4]), 'o');
}

TEST(MappedFile, MovingKeepsTheBytesValid) {
  TempDir dir;
  testing::write_text_file(dir / "f", "abc");
  Result<MappedFile> file = MappedFile::open(dir / "f");
  ASSERT_TRUE(file.ok());
  const std::span<const std::byte> bytes = file->bytes();
  MappedFile moved = std::move(file).value();
  EXPECT_EQ(moved.bytes().data(), bytes.data());
  EXPECT_EQ(static_cast<char>(bytes[2]), 'c');
}

// Resident pages of this process (the second field of /proc/self/statm).
long resident_pages() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident;
}

TEST(MappedFile, ReleasedPagesLeaveResidentMemoryAndStayReadable) {
  TempDir dir;
  constexpr size_t kBytes = size_t{32} << 20;
  testing::write_text_file(dir / "big", std::string(kBytes, 'x'));
  Result<MappedFile> file = MappedFile::open(dir / "big");
  ASSERT_TRUE(file.ok());
  const std::span<const std::byte> bytes = file->bytes();
  long sum = 0;
  for (size_t i = 0; i < kBytes; i += 4096) sum += static_cast<long>(bytes[i]);
  const long touched = resident_pages();
  release_mapped_pages(bytes);
  const long released = resident_pages();
  const long page = ::sysconf(_SC_PAGESIZE);
  EXPECT_GT(touched - released, static_cast<long>(kBytes * 3 / 4) / page);
  long again = 0;
  for (size_t i = 0; i < kBytes; i += 4096) again += static_cast<long>(bytes[i]);
  EXPECT_EQ(again, sum);
  release_mapped_pages(bytes.subspan(1, 10));  // less than a page: nothing to do, no crash
}

TEST(MappedFile, EmptyFileGivesAnEmptySpan) {
  TempDir dir;
  testing::write_text_file(dir / "f", "");
  Result<MappedFile> file = MappedFile::open(dir / "f");
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(file->bytes().empty());
}

TEST(MappedFile, MissingFileIsNotFoundAndDirectoryIsIoError) {
  TempDir dir;
  const Status missing = MappedFile::open(dir / "nope").status();
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("nope"), std::string::npos);
  EXPECT_EQ(MappedFile::open(dir.path()).status().code(), StatusCode::kIoError);
}

TEST(AtomicFile, CommitMakesTheFileVisible) {
  TempDir dir;
  Result<AtomicFile> file = AtomicFile::create(dir / "out.txt");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(file->write("abc").ok());
  EXPECT_FALSE(fs::exists(dir / "out.txt"));
  EXPECT_TRUE(fs::exists(file->temp_path()));
  ASSERT_TRUE(file->commit().ok());
  EXPECT_EQ(testing::read_text_file(dir / "out.txt"), "abc");
  EXPECT_FALSE(fs::exists(file->temp_path()));
}

TEST(AtomicFile, ReplacesAnExistingFileOnlyOnCommit) {
  TempDir dir;
  testing::write_text_file(dir / "out.txt", "old");
  {
    Result<AtomicFile> file = AtomicFile::create(dir / "out.txt");
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE(file->write(std::string(3 << 20, 'x')).ok());  // larger than the buffer
  }                                                            // destroyed without commit
  EXPECT_EQ(testing::read_text_file(dir / "out.txt"), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  ASSERT_TRUE(write_file_atomically(dir / "out.txt", std::string_view("new")).ok());
  EXPECT_EQ(testing::read_text_file(dir / "out.txt"), "new");
}

TEST(AtomicFile, CreateInAMissingDirectoryIsAnIoErrorNamingThePath) {
  TempDir dir;
  const Status s = AtomicFile::create(dir / "no/such/dir/out.txt").status();
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("no/such/dir/out.txt"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vcap::io
