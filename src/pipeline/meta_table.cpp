#include "pipeline/meta_table.h"

#include <algorithm>

namespace vcap::pipeline {
namespace {

std::string list_columns(const std::vector<std::string>& columns) {
  std::string text;
  for (const std::string& column : columns) {
    if (!text.empty()) text += ", ";
    text += "'" + column + "'";
  }
  return text.empty() ? "none" : text;
}

size_t place_column(std::vector<std::string>& columns, const char* name) {
  const auto it = std::find(columns.begin(), columns.end(), name);
  if (it != columns.end()) return static_cast<size_t>(it - columns.begin());
  columns.push_back(name);
  return columns.size() - 1;
}

}  // namespace

Result<MetaReader> MetaReader::open(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error))
    return Status::not_found(path.string() + ": no such file (the input CSV)");
  if (std::filesystem::is_directory(path, error))
    return Status::invalid_argument(path.string() + ": is a directory, not a CSV file");
  if (!std::filesystem::is_regular_file(path, error)) {
    return Status::invalid_argument(
        path.string() +
        ": is a pipe or a device, not a file: vcap reads the input CSV more than once (to count "
        "its rows, to caption them, to merge); save it to a file first");
  }
  Result<io::CsvReader> reader = io::CsvReader::open(path);
  if (!reader) return reader.status();
  Result<std::vector<std::string>> header = reader->read_header();
  if (!header) {
    return Status::invalid_argument(path.string() + ": no header row (" +
                                    header.status().message() + ")");
  }
  const auto it = std::find(header->begin(), header->end(), kPathColumn);
  if (it == header->end()) {
    return Status::invalid_argument(path.string() +
                                    ": no 'path' column; columns found: " + list_columns(*header));
  }
  const auto path_column = static_cast<size_t>(it - header->begin());
  return MetaReader(std::move(*reader), std::move(*header), path_column);
}

Result<bool> MetaReader::next(std::vector<std::string>& fields) {
  Result<bool> more = reader_.next_row(fields);
  if (!more) return more.status();
  if (*more) ++rows_read_;
  return *more;
}

Result<uint64_t> count_meta_rows(const std::filesystem::path& path) {
  Result<MetaReader> reader = MetaReader::open(path);
  if (!reader) return reader.status();
  std::vector<std::string> fields;
  while (true) {
    Result<bool> more = reader->next(fields);
    if (!more) return more.status();
    if (!*more) return reader->rows_read();
  }
}

Result<ClipStatus> output_row_status(const std::filesystem::path& output, uint64_t row,
                                     const std::string& value) {
  const std::optional<ClipStatus> status = parse_clip_status(value);
  if (!status) {
    return Status::corruption(output.string() + ": row " + std::to_string(row) +
                              " has an unknown caption_status '" + value + "'");
  }
  return *status;
}

OutputLayout output_layout(const std::vector<std::string>& input_columns) {
  OutputLayout layout;
  layout.columns = input_columns;
  layout.text_column = place_column(layout.columns, kTextColumn);
  layout.status_column = place_column(layout.columns, kStatusColumn);
  layout.error_column = place_column(layout.columns, kErrorColumn);
  return layout;
}

std::vector<std::string> output_row(const OutputLayout& layout, std::vector<std::string> input,
                                    std::string text, std::string status, std::string error) {
  input.resize(layout.columns.size());
  input[layout.text_column] = std::move(text);
  input[layout.status_column] = std::move(status);
  input[layout.error_column] = std::move(error);
  return input;
}

}  // namespace vcap::pipeline
