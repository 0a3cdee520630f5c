// libFuzzer target: CsvReader over arbitrary bytes (io/csv.h). Every row it accepts must read
// back unchanged after format_csv_row (the writer and reader agree).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vcap::io::CsvReader reader = vcap::io::CsvReader::from_string(
      std::string(reinterpret_cast<const char*>(data), size), "fuzz.csv");
  if (size > 0 && data[0] % 2 == 0) {
    if (!reader.read_header().ok()) return 0;
  }
  std::vector<std::string> fields;
  std::vector<std::string> again;
  for (int rows = 0; rows < 100000; ++rows) {
    vcap::Result<bool> more = reader.next_row(fields);
    if (!more.ok() || !*more) return 0;
    if (reader.line_number() < 1) __builtin_trap();
    vcap::io::CsvReader round_trip =
        vcap::io::CsvReader::from_string(vcap::io::format_csv_row(fields));
    vcap::Result<bool> reread = round_trip.next_row(again);
    if (!reread.ok() || !*reread || again != fields) __builtin_trap();
  }
  return 0;
}
