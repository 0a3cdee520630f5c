#include "io/csv.h"

#include <gtest/gtest.h>

#include <sstream>

#include "io/temp_dir.h"

namespace vcap::io {
namespace {

namespace fs = std::filesystem;
using Rows = std::vector<std::vector<std::string>>;

// All rows of `text`, or the error.
Result<Rows> read_all(std::string text) {
  CsvReader reader = CsvReader::from_string(std::move(text), "t.csv");
  Rows rows;
  std::vector<std::string> fields;
  for (;;) {
    Result<bool> more = reader.next_row(fields);
    if (!more) return more.status();
    if (!*more) return rows;
    rows.push_back(fields);
  }
}

Rows rows_of(std::string text) {
  Result<Rows> rows = read_all(std::move(text));
  EXPECT_TRUE(rows.ok()) << rows.status().to_string();
  return rows.ok() ? *rows : Rows{};
}

TEST(CsvReader, ReadsPlainRowsWithOrWithoutFinalNewline) {
  EXPECT_EQ(rows_of("a,b\n1,2\n"), (Rows{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(rows_of("a,b\n1,2"), (Rows{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(rows_of(""), Rows{});
}

TEST(CsvReader, HandlesCrlfLoneCrAndEmptyFields) {
  EXPECT_EQ(rows_of("a,b\r\n,\r\nx,\ry,z"), (Rows{{"a", "b"}, {"", ""}, {"x", ""}, {"y", "z"}}));
}

TEST(CsvReader, UnquotesFieldsWithCommasQuotesAndLineBreaks) {
  EXPECT_EQ(rows_of("\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\"\n\"\",x\n"),
            (Rows{{"a,b", "say \"hi\"", "two\r\nlines"}, {"", "x"}}));
}

TEST(CsvReader, StripsAUtf8ByteOrderMark) {
  EXPECT_EQ(rows_of("\xEF\xBB\xBFpath,id\nx,1\n"), (Rows{{"path", "id"}, {"x", "1"}}));
}

TEST(CsvReader, SkipsBlankLinesAndReportsRowStartLines) {
  CsvReader reader = CsvReader::from_string("a\n\n\"multi\nline\"\r\n\nb\n");
  std::vector<std::string> fields;
  ASSERT_TRUE(*reader.next_row(fields));
  EXPECT_EQ(reader.line_number(), 1);
  ASSERT_TRUE(*reader.next_row(fields));
  EXPECT_EQ(fields, std::vector<std::string>{"multi\nline"});
  EXPECT_EQ(reader.line_number(), 3);
  ASSERT_TRUE(*reader.next_row(fields));
  EXPECT_EQ(fields, std::vector<std::string>{"b"});
  EXPECT_EQ(reader.line_number(), 6);
  EXPECT_FALSE(*reader.next_row(fields));
}

void expect_error(std::string text, const std::string& fragment) {
  const Status s = read_all(std::move(text)).status();
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
  EXPECT_NE(s.message().find("t.csv: " + fragment), std::string::npos) << s.message();
}

TEST(CsvReader, RejectsAnUnterminatedQuoteWithItsLine) {
  expect_error("a\n\"open\nstill open",
               "line 3: unterminated quoted field (the row starts on line 2)");
}

// What pandas reads (the original script's reader) reads the same: rows checked with pandas
// 1.5.3's read_csv(dtype=str, keep_default_na=False).
TEST(CsvReader, ReadsWhatPandasReads) {
  // Lines of only spaces and tabs are blank; blanks before text start the field.
  EXPECT_EQ(rows_of("path\na.mp4\n   \nb.mp4\n \t \r\n  c.mp4\n  "),
            (Rows{{"path"}, {"a.mp4"}, {"b.mp4"}, {"  c.mp4"}}));
  EXPECT_EQ(rows_of("p,n\n  ,x\n\"   \"\n"), (Rows{{"p", "n"}, {"  ", "x"}, {"   "}}));
  // A quote inside an unquoted field is a character.
  EXPECT_EQ(rows_of("a,b\nx,12\" vinyl\n  \"q\"\n"),
            (Rows{{"a", "b"}, {"x", "12\" vinyl"}, {"  \"q\""}}));
  // Text after a closing quote continues the field, unquoted.
  EXPECT_EQ(rows_of("\"a.mp4\" ,x\n\"ab\"cd,y\n\"ab\"c\"d\",z\n"),
            (Rows{{"a.mp4 ", "x"}, {"abcd", "y"}, {"abc\"d\"", "z"}}));
}

TEST(CsvReader, FillsShortRowsAndRejectsLongOnesOnceTheHeaderIsRead) {
  CsvReader reader = CsvReader::from_string("path,id,x\na,1\nb\nc,2,3,4\n", "t.csv");
  Result<std::vector<std::string>> header = reader.read_header();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(*header, (std::vector<std::string>{"path", "id", "x"}));
  std::vector<std::string> fields;
  ASSERT_TRUE(*reader.next_row(fields));
  EXPECT_EQ(fields, (std::vector<std::string>{"a", "1", ""}));
  ASSERT_TRUE(*reader.next_row(fields));
  EXPECT_EQ(fields, (std::vector<std::string>{"b", "", ""}));
  const Status s = reader.next_row(fields).status();
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("t.csv: line 4: 4 fields, the header has 3"), std::string::npos)
      << s.message();
}

TEST(CsvReader, HeaderOfAnEmptyFileIsAnError) {
  CsvReader reader = CsvReader::from_string("", "t.csv");
  EXPECT_EQ(reader.read_header().status().code(), StatusCode::kCorruption);
}

TEST(CsvReader, OpeningAMissingFileIsNotFound) {
  EXPECT_EQ(CsvReader::open("/nonexistent/meta.csv").status().code(), StatusCode::kNotFound);
}

TEST(CsvReader, ReadsTheMediaMetaCsvIncludingTheWeirdFileName) {
  Result<CsvReader> reader = CsvReader::open(fs::path(VCAP_TEST_DATA_DIR) / "io/meta.csv");
  ASSERT_TRUE(reader.ok());
  ASSERT_EQ(*reader->read_header(), (std::vector<std::string>{"path", "id"}));
  std::vector<std::string> fields;
  Rows rows;
  while (*reader->next_row(fields)) rows.push_back(fields);
  ASSERT_EQ(rows.size(), 30u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"real/bear-vp9.webm", "dev-001"}));
  EXPECT_EQ(rows[26][0],
            "generated/weird name, with \"double\" & 'single' quotes \xE2\x80\x93 caf\xC3\xA9 "
            "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xE2\x98\x95.mp4");
  EXPECT_EQ(rows[26][1], "dev-027");
  EXPECT_EQ(rows[29][1], "dev-030");
}

TEST(FormatCsvRow, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(format_csv_row(std::vector<std::string>{"a", "b c", ""}), "a,b c,\n");
  EXPECT_EQ(format_csv_row(std::vector<std::string>{"a,b", "say \"hi\"", "x\ny", "\r"}),
            "\"a,b\",\"say \"\"hi\"\"\",\"x\ny\",\"\r\"\n");
  EXPECT_EQ(format_csv_row(std::vector<std::string>{" lead", "trail "}), "\" lead\",\"trail \"\n");
  EXPECT_EQ(format_csv_row(std::vector<std::string>{""}), "\"\"\n");
  // Found by fuzz/csv_fuzz.cpp: a leading BOM in the first field of the first row was
  // stripped on reading, so the writer quotes it.
  EXPECT_EQ(format_csv_row(std::vector<std::string>{"\xEF\xBB\xBFx"}), "\"\xEF\xBB\xBFx\"\n");
}

TEST(CsvWriter, RoundTripsAwkwardFieldsThroughTheReader) {
  const Rows rows = {{"path", "text"}, {"a \"b\", c.mp4", "line1\nline2"},
                     {"", ""},         {" x ", "\xE2\x98\x95"},
                     {"\t", "y"},      {" \t"}};
  std::ostringstream out;
  CsvWriter writer = CsvWriter::to_stream(out);
  for (const auto& row : rows) ASSERT_TRUE(writer.write_row(row).ok());
  ASSERT_TRUE(writer.close().ok());
  EXPECT_EQ(rows_of(out.str()), rows);
}

TEST(CsvWriter, WritesAndAppendsFiles) {
  testing::TempDir dir;
  const fs::path path = dir / "out.csv";
  {
    Result<CsvWriter> writer = CsvWriter::open(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->write_row(std::vector<std::string>{"path", "id"}).ok());
    ASSERT_TRUE(writer->close().ok());
  }
  {
    Result<CsvWriter> writer = CsvWriter::open(path, CsvWriter::Mode::kAppend);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->write_row(std::vector<std::string>{"a,b", "1"}).ok());
    ASSERT_TRUE(writer->flush().ok());
  }  // closed by the destructor
  EXPECT_EQ(testing::read_text_file(path), "path,id\n\"a,b\",1\n");
}

TEST(CsvWriter, ReportsOsErrorsNamingThePath) {
  const Status s = CsvWriter::open("/nonexistent/dir/out.csv").status();
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("/nonexistent/dir/out.csv"), std::string::npos);
}

TEST(CsvWriter, ReportsAFullDisk) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  Result<CsvWriter> writer = CsvWriter::open("/dev/full");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->write_row(std::vector<std::string>{"x"}).ok());  // buffered
  const Status s = writer->flush();
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("/dev/full"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vcap::io
