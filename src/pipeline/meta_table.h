// The input CSV (META.csv) and the layout of the output CSV.
//
// Input: a header row, then data rows; only the `path` column is read, every other column is
// carried through unchanged. Rows are streamed (memory: one row), so the input may hold 10^8
// rows. Output columns: every input column in input order, with `text`, `caption_status` and
// `caption_error` replacing same-named input columns in place (as the seed replaced `text`), and
// appended in that order when absent.
#ifndef VCAP_PIPELINE_META_TABLE_H_
#define VCAP_PIPELINE_META_TABLE_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/csv.h"
#include "pipeline/clip_status.h"

namespace vcap::pipeline {

inline constexpr const char* kPathColumn = "path";
inline constexpr const char* kTextColumn = "text";
inline constexpr const char* kStatusColumn = "caption_status";
inline constexpr const char* kErrorColumn = "caption_error";

class MetaReader {
 public:
  // Opens `path` and reads its header. kNotFound when the file is absent; kInvalidArgument when
  // there is no `path` column (the message lists the columns found) or no header at all.
  static Result<MetaReader> open(const std::filesystem::path& path);

  // Next data row into `fields` (as many as the header); false at the end. kCorruption names
  // the file and line of a malformed row.
  Result<bool> next(std::vector<std::string>& fields);

  const std::vector<std::string>& columns() const { return columns_; }
  size_t path_column() const { return path_column_; }
  // Data rows returned so far (the index of the next row).
  uint64_t rows_read() const { return rows_read_; }

 private:
  MetaReader(io::CsvReader reader, std::vector<std::string> columns, size_t path_column)
      : reader_(std::move(reader)), columns_(std::move(columns)), path_column_(path_column) {}

  io::CsvReader reader_;
  std::vector<std::string> columns_;
  size_t path_column_ = 0;
  uint64_t rows_read_ = 0;
};

// Reads the whole input once: checks every row and counts them.
Result<uint64_t> count_meta_rows(const std::filesystem::path& path);

// Where the three caption columns go in the output.
struct OutputLayout {
  std::vector<std::string> columns;
  size_t text_column = 0;
  size_t status_column = 0;
  size_t error_column = 0;
};

OutputLayout output_layout(const std::vector<std::string>& input_columns);

// The caption_status `value` of data row `row` of the written output `output`; kCorruption
// naming both when it is not a status name.
Result<ClipStatus> output_row_status(const std::filesystem::path& output, uint64_t row,
                                     const std::string& value);

// The output row for an input row: input fields with the caption fields put in.
// REQUIRES: input.size() is the input column count of `layout`.
std::vector<std::string> output_row(const OutputLayout& layout, std::vector<std::string> input,
                                    std::string text, std::string status, std::string error);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_META_TABLE_H_
