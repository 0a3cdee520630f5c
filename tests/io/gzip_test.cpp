// CSV files gzip-compressed (io/gzip.h): written and read back, appended members, damaged and
// truncated data refused (never a shorter table), other compressions refused with what to do.
#include "io/gzip.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/csv.h"
#include "io/temp_dir.h"

namespace vcap::io {
namespace {

namespace fs = std::filesystem;
using Rows = std::vector<std::vector<std::string>>;
using testing::read_text_file;
using testing::TempDir;
using testing::write_text_file;

// All rows of the file at `path`, or the error.
Result<Rows> read_file_rows(const fs::path& path) {
  Result<CsvReader> reader = CsvReader::open(path);
  if (!reader) return reader.status();
  Rows rows;
  std::vector<std::string> fields;
  for (;;) {
    Result<bool> more = reader->next_row(fields);
    if (!more) return more.status();
    if (!*more) return rows;
    rows.push_back(fields);
  }
}

// Enough rows for several 64 KB buffers, with quoted fields across lines and non-ASCII text.
Rows many_rows(int count, const std::string& tag) {
  Rows rows = {{"path", "text"}};
  for (int i = 0; i < count; ++i) {
    rows.push_back({"clips/" + tag + std::to_string(i) + ".mp4",
                    "a caption, \"quoted\"\nover two lines – café " + std::to_string(i * 7919)});
  }
  return rows;
}

void write_rows(const fs::path& path, const Rows& rows, CsvWriter::Mode mode,
                Compression compression) {
  Result<CsvWriter> writer = CsvWriter::open(path, mode, compression);
  ASSERT_TRUE(writer.ok()) << writer.status().to_string();
  for (const auto& row : rows) ASSERT_TRUE(writer->write_row(row).ok());
  ASSERT_TRUE(writer->close().ok());
}

TEST(GzipCsv, WrittenCompressedAndReadBackWhateverTheName) {
  TempDir dir;
  const Rows rows = many_rows(5000, "c");
  write_rows(dir / "out.csv.gz", rows, CsvWriter::Mode::kTruncate, Compression::kGzip);
  const std::string bytes = read_text_file(dir / "out.csv.gz");
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(bytes.substr(0, 2), "\x1f\x8b");
  EXPECT_LT(bytes.size(), 200000u);  // ~400 KB of text
  Result<Rows> back = read_file_rows(dir / "out.csv.gz");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, rows);
  // The first bytes decide, not the name.
  fs::copy_file(dir / "out.csv.gz", dir / "misnamed.csv");
  back = read_file_rows(dir / "misnamed.csv");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, rows);
}

TEST(GzipCsv, AppendingAddsAMemberThatReadsAsTheContinuation) {
  TempDir dir;
  const Rows first = many_rows(3000, "a");
  Rows second = many_rows(2000, "b");
  second.erase(second.begin());  // no second header
  write_rows(dir / "t.csv.gz", first, CsvWriter::Mode::kTruncate, Compression::kGzip);
  write_rows(dir / "t.csv.gz", second, CsvWriter::Mode::kAppend, Compression::kGzip);
  Result<Rows> back = read_file_rows(dir / "t.csv.gz");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  Rows expected = first;
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(*back, expected);
}

// Plain files are read as before, the bytes sniffed for the compression included: a file
// longer than one buffer, one shorter than gzip's magic, an empty one.
TEST(GzipCsv, PlainFilesOfAnySizeReadAsBefore) {
  TempDir dir;
  const Rows rows = many_rows(3000, "p");
  write_rows(dir / "plain.csv", rows, CsvWriter::Mode::kTruncate, Compression::kNone);
  Result<Rows> back = read_file_rows(dir / "plain.csv");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, rows);
  write_text_file(dir / "one.csv", "p");
  back = read_file_rows(dir / "one.csv");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, (Rows{{"p"}}));
  write_text_file(dir / "empty.csv", "");
  back = read_file_rows(dir / "empty.csv");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(back->empty());
}

// Wherever a gzip file is cut, reading it ends in an error that says so, never in fewer rows.
TEST(GzipCsv, TruncatedDataIsAnErrorWhereverTheCut) {
  TempDir dir;
  write_rows(dir / "full.csv.gz", many_rows(2000, "t"), CsvWriter::Mode::kTruncate,
             Compression::kGzip);
  const std::string bytes = read_text_file(dir / "full.csv.gz");
  for (size_t cut : {size_t{2}, size_t{10}, size_t{11}, bytes.size() / 3, bytes.size() / 2,
                     bytes.size() - 9, bytes.size() - 1}) {
    SCOPED_TRACE(cut);
    write_text_file(dir / "cut.csv.gz", bytes.substr(0, cut));
    const Result<Rows> back = read_file_rows(dir / "cut.csv.gz");
    ASSERT_FALSE(back.ok());
    EXPECT_EQ(back.status().code(), StatusCode::kCorruption) << back.status().to_string();
    EXPECT_NE(back.status().message().find("cut.csv.gz"), std::string::npos);
  }
}

// Zero bytes after a member (the padding of tape and block tools), also between members, are
// skipped as Python's gzip module (pandas') skips them; anything else after them is a member.
TEST(GzipCsv, ZeroPaddingBetweenAndAfterMembersIsSkipped) {
  TempDir dir;
  const Rows first = many_rows(300, "a");
  write_rows(dir / "one.csv.gz", first, CsvWriter::Mode::kTruncate, Compression::kGzip);
  const std::string member = read_text_file(dir / "one.csv.gz");
  const std::string zeros(512, '\0');
  write_text_file(dir / "padded.csv.gz", member + zeros + member + std::string(70000, '\0'));
  const Result<Rows> back = read_file_rows(dir / "padded.csv.gz");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  Rows twice = first;
  twice.insert(twice.end(), first.begin(), first.end());
  EXPECT_EQ(*back, twice);
  write_text_file(dir / "junk.csv.gz", member + zeros + "junk");
  EXPECT_EQ(read_file_rows(dir / "junk.csv.gz").status().code(), StatusCode::kCorruption);
}

TEST(GzipCsv, DamagedDataIsAnError) {
  TempDir dir;
  write_rows(dir / "full.csv.gz", many_rows(2000, "d"), CsvWriter::Mode::kTruncate,
             Compression::kGzip);
  std::string bytes = read_text_file(dir / "full.csv.gz");
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x55);
  write_text_file(dir / "damaged.csv.gz", bytes);
  const Result<Rows> back = read_file_rows(dir / "damaged.csv.gz");
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), StatusCode::kCorruption) << back.status().to_string();
}

TEST(GzipCsv, OtherCompressionsAreRefusedWithTheCommandThatUndoesThem) {
  TempDir dir;
  const struct {
    const char* magic;
    size_t size;
    const char* command;
  } cases[] = {{"BZh91AY", 7, "bunzip2"},
               {"\xfd"
                "7zXZ\0\0",
                7, "unxz"},
               {"\x28\xb5\x2f\xfd\0", 5, "unzstd"},
               {"PK\x03\x04\x14", 5, "unzip"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.command);
    write_text_file(dir / "in.csv", std::string(c.magic, c.size));
    Result<CsvReader> reader = CsvReader::open(dir / "in.csv");
    ASSERT_FALSE(reader.ok());
    EXPECT_EQ(reader.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(
        reader.status().message().find(std::string(c.command) + " " + (dir / "in.csv").string()),
        std::string::npos)
        << reader.status().to_string();
  }
}

TEST(GzipCsv, TheOutputNameDecidesItsCompression) {
  EXPECT_EQ(*output_compression("a/meta_caption_qwen2vl.csv"), Compression::kNone);
  EXPECT_EQ(*output_compression("meta_caption_qwen2vl"), Compression::kNone);
  EXPECT_EQ(*output_compression("a.csv_caption_qwen2vl.gz"), Compression::kGzip);
  EXPECT_EQ(*output_compression("O.CSV.GZ"), Compression::kGzip);  // as pandas, any case
  for (const char* refused :
       {"a.csv_caption_qwen2vl.xz", "o.bz2", "o.zst", "o.zip", "o.tar", "o.csv.BZ2"}) {
    const Result<Compression> compression = output_compression(refused);
    ASSERT_FALSE(compression.ok()) << refused;
    EXPECT_EQ(compression.status().code(), StatusCode::kUnsupported);
  }
}

}  // namespace
}  // namespace vcap::io
