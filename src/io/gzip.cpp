#include "io/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace vcap::io {
namespace {

// windowBits for gzip's header and trailer around deflate data (zlib.h, deflateInit2).
constexpr int kGzipWindowBits = 15 + 16;
constexpr size_t kChunkBytes = 1 << 16;

struct KindInfo {
  FileKind kind;
  const char* name;
  const char* undo;  // the command that gives the plain file
};

constexpr KindInfo kCompressed[] = {
    {FileKind::kBzip2, "bzip2", "bunzip2"},
    {FileKind::kXz, "xz", "unxz"},
    {FileKind::kZstd, "zstd", "unzstd"},
    {FileKind::kZip, "zip", "unzip"},
};

std::string zlib_message(const z_stream& z, int code) {
  if (z.msg != nullptr) return z.msg;
  return "zlib error " + std::to_string(code);
}

}  // namespace

FileKind sniff_file_kind(std::string_view bytes) {
  if (bytes.starts_with("\x1f\x8b")) return FileKind::kGzip;
  if (bytes.starts_with("BZh")) return FileKind::kBzip2;
  if (bytes.starts_with(std::string_view("\xfd"
                                         "7zXZ\0",
                                         6)))
    return FileKind::kXz;
  if (bytes.starts_with("\x28\xb5\x2f\xfd")) return FileKind::kZstd;
  if (bytes.starts_with("PK\x03\x04")) return FileKind::kZip;
  return FileKind::kPlain;
}

Status check_readable_kind(FileKind kind, const std::filesystem::path& path) {
  for (const KindInfo& info : kCompressed) {
    if (info.kind != kind) continue;
    return Status::unsupported(path.string() + ": the file is " + info.name +
                               "-compressed; vcap reads CSV files plain or gzip-compressed: "
                               "decompress it first (" +
                               info.undo + " " + path.string() + ")");
  }
  return Status();
}

Result<Compression> output_compression(const std::filesystem::path& path) {
  // pandas infers the compression from the lower-cased name: "O.CSV.GZ" is gzip too.
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension == ".gz") return Compression::kGzip;
  for (const char* refused : {".bz2", ".xz", ".zst", ".zip", ".tar"}) {
    if (extension == refused) {
      return Status::unsupported(path.string() +
                                 ": vcap writes CSV files plain or gzip-compressed "
                                 "(.gz), not " +
                                 extension + "; choose another --output name");
    }
  }
  return Compression::kNone;
}

struct GzipReader::State {
  std::istream* in = nullptr;
  std::string name;
  z_stream z{};
  std::vector<char> input = std::vector<char>(kChunkBytes);
  bool started = false;   // inflateInit2 done
  bool in_member = true;  // inside a member: the data may not end here
  bool input_ended = false;

  ~State() {
    if (started) inflateEnd(&z);
  }
  Status fail(const std::string& what) const { return Status::corruption(name + ": " + what); }
};

GzipReader::GzipReader(std::istream& in, std::string first_bytes, std::string name)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.in = &in;
  s.name = std::move(name);
  s.input.resize(std::max(kChunkBytes, first_bytes.size()));
  std::copy(first_bytes.begin(), first_bytes.end(), s.input.begin());
  s.z.next_in = reinterpret_cast<Bytef*>(s.input.data());
  s.z.avail_in = static_cast<uInt>(first_bytes.size());
}

GzipReader::GzipReader(GzipReader&&) noexcept = default;
GzipReader& GzipReader::operator=(GzipReader&&) noexcept = default;
GzipReader::~GzipReader() = default;

Result<size_t> GzipReader::read(char* out, size_t size) {
  State& s = *state_;
  if (!s.started) {
    const int code = inflateInit2(&s.z, kGzipWindowBits);
    if (code != Z_OK) return Status::internal(s.name + ": " + zlib_message(s.z, code));
    s.started = true;
  }
  const auto capacity = static_cast<uInt>(std::min<size_t>(size, UINT32_MAX));
  s.z.next_out = reinterpret_cast<Bytef*>(out);
  s.z.avail_out = capacity;
  while (capacity > 0 && s.z.avail_out == capacity) {  // until some bytes come out
    if (s.z.avail_in == 0 && !s.input_ended) {
      s.in->read(s.input.data(), static_cast<std::streamsize>(s.input.size()));
      if (s.in->bad()) return Status::io_error(s.name + ": read failed");
      s.z.next_in = reinterpret_cast<Bytef*>(s.input.data());
      s.z.avail_in = static_cast<uInt>(s.in->gcount());
      s.input_ended = s.z.avail_in == 0;
    }
    if (s.z.avail_in == 0) {
      if (s.in_member) return s.fail("the gzip data ends early: the file is truncated");
      return size_t{0};
    }
    if (!s.in_member) {  // another member follows the one that ended
      // Zero bytes between or after members are padding (tape and block tools add it), as
      // Python's gzip module (pandas') reads them.
      while (s.z.avail_in > 0 && *s.z.next_in == 0) {
        ++s.z.next_in;
        --s.z.avail_in;
      }
      if (s.z.avail_in == 0) continue;  // read on, or end cleanly
      inflateReset(&s.z);
      s.in_member = true;
    }
    const int code = inflate(&s.z, Z_NO_FLUSH);
    if (code == Z_STREAM_END) {
      s.in_member = false;
    } else if (code != Z_OK && code != Z_BUF_ERROR) {
      return s.fail("damaged gzip data (" + zlib_message(s.z, code) + ")");
    }
  }
  return static_cast<size_t>(capacity - s.z.avail_out);
}

struct GzipWriter::State {
  std::string name;
  z_stream z{};
  bool finished = false;

  ~State() { deflateEnd(&z); }

  // Runs deflate over the pending input with `flush`, appending its output to `out`.
  Status pump(int flush, std::string& out) {
    for (;;) {
      const size_t used = out.size();
      out.resize(used + kChunkBytes);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
      z.avail_out = static_cast<uInt>(kChunkBytes);
      const int code = deflate(&z, flush);
      out.resize(out.size() - z.avail_out);
      if (code == Z_STREAM_ERROR) return Status::internal(name + ": " + zlib_message(z, code));
      if (flush == Z_FINISH ? code == Z_STREAM_END : z.avail_out != 0) return Status();
    }
  }
};

GzipWriter::GzipWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
GzipWriter::GzipWriter(GzipWriter&&) noexcept = default;
GzipWriter& GzipWriter::operator=(GzipWriter&&) noexcept = default;
GzipWriter::~GzipWriter() = default;

Result<GzipWriter> GzipWriter::create(std::string name) {
  auto state = std::make_unique<State>();
  state->name = std::move(name);
  const int code = deflateInit2(&state->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                                Z_DEFAULT_STRATEGY);
  if (code != Z_OK) return Status::internal(state->name + ": " + zlib_message(state->z, code));
  return GzipWriter(std::move(state));
}

Status GzipWriter::write(std::string_view data, std::string& out) {
  State& s = *state_;
  if (s.finished) return Status::internal(s.name + ": gzip write after the end");
  s.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.z.avail_in = static_cast<uInt>(data.size());
  return s.pump(Z_NO_FLUSH, out);
}

Status GzipWriter::finish(std::string& out) {
  State& s = *state_;
  if (s.finished) return Status();
  s.finished = true;
  s.z.next_in = nullptr;
  s.z.avail_in = 0;
  return s.pump(Z_FINISH, out);
}

}  // namespace vcap::io
