#include "pipeline/journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <vector>

#include "pipeline/test_dir.h"

namespace vcap::pipeline {
namespace {

using testing::TestDir;

std::vector<JournalRecord> read_all(const std::filesystem::path& path, JournalScan* scan_out) {
  std::vector<JournalRecord> records;
  Result<JournalScan> scan = scan_journal(path, [&](JournalRecord&& record) {
    records.push_back(std::move(record));
    return Status();
  });
  EXPECT_TRUE(scan.ok()) << scan.status().to_string();
  if (scan && scan_out != nullptr) *scan_out = *scan;
  return records;
}

JournalRecord record(uint64_t row, std::string text) {
  return {row, "clips/" + std::to_string(row) + ".mp4", ClipStatus::kOk, "", std::move(text), 7};
}

void append_raw(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

TEST(Crc32, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32(""), 0u);
}

TEST(JournalPath, NamesRankAndWorldBesideTheOutput) {
  EXPECT_EQ(journal_path("data/out.csv", 2, 8), "data/out.csv.rank2-of-8.journal");
}

TEST(Journal, RoundTripsHeaderRecordsAndDoneMarker) {
  TestDir dir;
  const auto path = dir.path() / "j.journal";
  {
    Result<JournalWriter> writer = JournalWriter::create(path, {1, 3, R"({"fps":4})"});
    ASSERT_TRUE(writer.ok()) << writer.status().to_string();
    ASSERT_TRUE(writer->append(record(1, "a caption, with \"quotes\"\nand a newline")).ok());
    JournalRecord failed{4, "x.mp4", ClipStatus::kNoVideo, "media: x.mp4: no video", "", 0};
    ASSERT_TRUE(writer->append(failed).ok());
    ASSERT_TRUE(writer->mark_done(6, 2).ok());
  }
  JournalScan scan;
  std::vector<JournalRecord> records = read_all(path, &scan);
  EXPECT_EQ(scan.header.rank, 1);
  EXPECT_EQ(scan.header.world_size, 3);
  EXPECT_EQ(scan.header.fingerprint_json, R"({"fps":4})");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].text, "a caption, with \"quotes\"\nand a newline");
  EXPECT_EQ(records[0].output_tokens, 7);
  EXPECT_EQ(records[1].status, ClipStatus::kNoVideo);
  EXPECT_EQ(records[1].error, "media: x.mp4: no video");
  EXPECT_TRUE(scan.done);
  EXPECT_EQ(scan.done_input_rows, 6u);
  EXPECT_FALSE(scan.torn_tail);
  EXPECT_EQ(scan.damaged_lines, 0u);
}

// The merge keeps the offsets of records that come early and reads them again when due, in any
// order, while next() goes on; an offset where no record begins is an error, not a record.
TEST(Journal, RecordsAreReadAgainByTheirOffsets) {
  TestDir dir;
  const auto path = dir.path() / "out.csv.rank0-of-1.journal";
  {
    Result<JournalWriter> writer = JournalWriter::create(path, {0, 1, "{}"});
    ASSERT_TRUE(writer.ok());
    for (uint64_t row = 0; row < 5; ++row)
      ASSERT_TRUE(writer->append(record(row, "caption " + std::to_string(row))).ok());
  }
  Result<JournalReader> reader = JournalReader::open(path);
  ASSERT_TRUE(reader.ok());
  std::vector<uint64_t> offsets;
  JournalRecord next;
  while (*reader->next(next)) offsets.push_back(reader->record_offset());
  ASSERT_EQ(offsets.size(), 5u);
  for (const uint64_t row : {3, 4, 0, 1, 2}) {
    Result<JournalRecord> again = reader->record_at(offsets[row]);
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    EXPECT_EQ(again->row_index, row);
    EXPECT_EQ(again->text, "caption " + std::to_string(row));
  }
  EXPECT_FALSE(reader->record_at(offsets[2] + 1).ok());
}

TEST(Journal, TornLastLineIsIgnoredAndCutOffOnResume) {
  TestDir dir;
  const auto path = dir.path() / "j.journal";
  {
    Result<JournalWriter> writer = JournalWriter::create(path, {0, 1, "{}"});
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->append(record(0, "zero")).ok());
  }
  const std::string half = journal_line(record(1, "one"));
  append_raw(path, half.substr(0, half.size() / 2));  // killed in the middle of a write
  JournalScan scan;
  EXPECT_EQ(read_all(path, &scan).size(), 1u);
  EXPECT_TRUE(scan.torn_tail);
  {
    Result<JournalWriter> writer = JournalWriter::resume(path, scan.valid_bytes);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->append(record(1, "one")).ok());
  }
  std::vector<JournalRecord> records = read_all(path, &scan);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].text, "one");
  EXPECT_FALSE(scan.torn_tail);
  EXPECT_EQ(scan.damaged_lines, 0u);
}

TEST(Journal, ZeroFilledTailAfterPowerLossIsTorn) {
  TestDir dir;
  const auto path = dir.path() / "j.journal";
  {
    Result<JournalWriter> writer = JournalWriter::create(path, {0, 1, "{}"});
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->append(record(0, "zero")).ok());
  }
  append_raw(path, std::string(100, '\0'));
  JournalScan scan;
  EXPECT_EQ(read_all(path, &scan).size(), 1u);
  EXPECT_TRUE(scan.torn_tail);
}

TEST(Journal, DamagedMiddleLineIsSkippedAndCounted) {
  TestDir dir;
  const auto path = dir.path() / "j.journal";
  std::string damaged = journal_line(record(1, "one"));
  damaged[damaged.size() - 5] ^= 0x20;  // flips a bit: the checksum no longer matches
  append_raw(path, journal_header_line({0, 1, "{}"}) + "\n" + journal_line(record(0, "zero")) +
                       "\n" + damaged + "\n" + journal_line(record(2, "two")) + "\n");
  JournalScan scan;
  std::vector<JournalRecord> records = read_all(path, &scan);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].row_index, 0u);
  EXPECT_EQ(records[1].row_index, 2u);
  EXPECT_EQ(scan.damaged_lines, 1u);
  EXPECT_FALSE(scan.torn_tail);
}

TEST(Journal, BadHeaderIsCorruption) {
  TestDir dir;
  const auto path = dir.path() / "j.journal";
  append_raw(path, "not a journal\n");
  Result<JournalScan> scan = scan_journal(path, [](JournalRecord&&) { return Status(); });
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.status().code(), StatusCode::kCorruption);
}

TEST(Journal, TornHeaderReadsAsEmpty) {
  TestDir dir;
  const auto path = dir.path() / "j.journal";
  append_raw(path, journal_header_line({0, 1, "{}"}).substr(0, 10));
  JournalScan scan;
  EXPECT_TRUE(read_all(path, &scan).empty());
  EXPECT_EQ(scan.header.world_size, 0);
  EXPECT_EQ(scan.valid_bytes, 0u);
}

TEST(Journal, MissingFileIsNotFound) {
  TestDir dir;
  Result<JournalScan> scan =
      scan_journal(dir.path() / "none.journal", [](JournalRecord&&) { return Status(); });
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.status().code(), StatusCode::kNotFound);
}

TEST(Journal, InvalidUtf8InACaptionIsReplacedNotThrown) {
  TestDir dir;
  const auto path = dir.path() / "j.journal";
  {
    Result<JournalWriter> writer = JournalWriter::create(path, {0, 1, "{}"});
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->append(record(0, "half a character: \xE6\x97")).ok());
  }
  std::vector<JournalRecord> records = read_all(path, nullptr);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].text.substr(0, 18), "half a character: ");
}

}  // namespace
}  // namespace vcap::pipeline
