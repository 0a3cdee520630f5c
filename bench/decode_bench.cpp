// decode_bench: media::load_clip (decode + sample + convert + resize) against FFmpeg's own
// decoder (`ffmpeg -threads T -i X -an -f null -`) on the same files in the same run.
//
// Usage: decode_bench [--repeats N] [--checksum] FILE...
// Default files: every file of $VCAP_SHARED_DIR/media/real and .../generated (VCAP_SHARED_DIR
// defaults to ../shared); files load_clip rejects are skipped. For each file and 1 and 2 decoder
// threads it prints best-of-N figures of load_clip and of the ffmpeg process: wall time, CPU time
// (user + system, all threads; the steadier figure on a shared machine), ffmpeg's own
// `-benchmark` rtime (its decode loop only, without process start and probing), frames decoded
// per second, and the ratios ours / ffmpeg. It also times load_clip decoding every frame
// (skip_unsampled_frames off) and prints how many frames the default decoded. Not a test:
// numbers depend on the machine.
// --checksum times nothing: it prints, per file, the frame count, output size and an FNV-1a hash
// of load_clip's resized frames (1 decoder thread), so that two builds of the resize can be
// checked to give the same bytes on every file, and whether decoding every frame gives the
// same bytes.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "media/clip.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double cpu_sec(const rusage& usage) {
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// CPU seconds (all threads) this process has used so far.
double own_cpu_sec() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return cpu_sec(usage);
}

struct FfmpegRun {
  double wall_sec = 0;
  double cpu_sec = 0;    // user + system of the ffmpeg process, all threads
  double rtime_sec = 0;  // from -benchmark; 0 if absent
  bool ok = false;
};

// Runs ffmpeg without a shell (paths may hold any character); stderr goes to a temp file.
FfmpegRun run_ffmpeg(const std::string& file, int threads) {
  const std::string log = (fs::temp_directory_path() / "vcap_decode_bench_ffmpeg.log").string();
  std::vector<std::string> args = {"ffmpeg",     "-nostdin", "-hide_banner",
                                   "-nostats",   "-v",       "info",
                                   "-benchmark", "-threads", std::to_string(threads),
                                   "-i",         file,       "-an",
                                   "-sn",        "-f",       "null",
                                   "-"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  FfmpegRun run;
  pid_t pid = 0;
  const auto start = Clock::now();
  if (posix_spawnp(&pid, "ffmpeg", &actions, nullptr, argv.data(), environ) == 0) {
    int status = 0;
    rusage usage{};
    wait4(pid, &status, 0, &usage);
    run.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    run.cpu_sec = cpu_sec(usage);
  }
  run.wall_sec = seconds_since(start);
  posix_spawn_file_actions_destroy(&actions);
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find("rtime=");
  if (at != std::string::npos) run.rtime_sec = std::atof(text.c_str() + at + 6);
  return run;
}

// FNV-1a, 64 bits: enough to tell two byte streams apart, not a cryptographic hash.
uint64_t fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (uint8_t b : bytes) hash = (hash ^ b) * 1099511628211ull;
  return hash;
}

vcap::media::ClipResult<vcap::media::Clip> load_on_one_thread(const std::string& file,
                                                              bool skip_unsampled_frames) {
  vcap::media::DecodeOptions options;
  options.threads = 1;
  options.skip_unsampled_frames = skip_unsampled_frames;
  return vcap::media::load_clip(file, options);
}

void print_checksums(const std::vector<std::string>& files) {
  for (const std::string& file : files) {
    const std::string name = fs::path(file).filename().string();
    const vcap::media::ClipResult<vcap::media::Clip> clip = load_on_one_thread(file, true);
    const vcap::media::ClipResult<vcap::media::Clip> every = load_on_one_thread(file, false);
    if (!clip.ok() || !every.ok()) {
      std::printf("%s: error%s\n", name.c_str(), clip.ok() != every.ok() ? ", DIFFERS" : "");
      continue;
    }
    const uint64_t hash = fnv1a(clip->frames);
    std::printf("%s: %lld frames %lldx%lld fnv1a %016llx, every frame decoded: %s\n", name.c_str(),
                static_cast<long long>(clip->plan.nframes),
                static_cast<long long>(clip->plan.resized_height),
                static_cast<long long>(clip->plan.resized_width),
                static_cast<unsigned long long>(hash),
                hash == fnv1a(every->frames) ? "same" : "DIFFERS");
  }
}

struct LoadRun {
  double wall_sec = 1e30;
  double cpu_sec = 1e30;
  int64_t frames = 0;
  int64_t frames_decoded = 0;
  bool ok = true;
};

// Best of `repeats` load_clip calls.
LoadRun time_load(const std::string& file, const vcap::media::DecodeOptions& options, int repeats) {
  LoadRun best;
  for (int r = 0; r < repeats && best.ok; ++r) {
    const auto start = Clock::now();
    const double cpu_start = own_cpu_sec();
    vcap::media::ClipResult<vcap::media::Clip> clip = vcap::media::load_clip(file, options);
    best.wall_sec = std::min(best.wall_sec, seconds_since(start));
    best.cpu_sec = std::min(best.cpu_sec, own_cpu_sec() - cpu_start);
    best.ok = clip.ok();
    if (best.ok) {
      best.frames = clip->plan.total_frames;
      best.frames_decoded = clip->frames_decoded;
    }
  }
  return best;
}

std::vector<std::string> default_files() {
  std::vector<std::string> files;
  const char* shared = std::getenv("VCAP_SHARED_DIR");
  const fs::path media = fs::path(shared != nullptr ? shared : "../shared") / "media";
  for (const char* dir : {"real", "generated"}) {
    if (!fs::exists(media / dir)) continue;
    for (const auto& entry : fs::directory_iterator(media / dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 3;
  bool checksum = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--checksum") {
      checksum = true;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) files = default_files();
  if (checksum) {
    print_checksums(files);
    return 0;
  }
  std::printf(
      "| file | threads | frames | decoded | ours ms | ffmpeg ms | ours/ffmpeg wall | ours CPU ms "
      "| every-frame CPU ms | ffmpeg CPU ms | ours/ffmpeg CPU | ours/every-frame CPU | "
      "ffmpeg rtime ms | ours fps |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& file : files) {
    for (int threads : {1, 2}) {
      vcap::media::DecodeOptions options;
      options.threads = threads;
      const LoadRun ours = time_load(file, options, repeats);
      if (!ours.ok) break;  // error files (empty, truncated, ...) are not timed
      options.skip_unsampled_frames = false;
      const LoadRun every = time_load(file, options, repeats);
      FfmpegRun best;
      best.wall_sec = best.cpu_sec = best.rtime_sec = 1e30;
      for (int r = 0; r < repeats; ++r) {
        const FfmpegRun run = run_ffmpeg(file, threads);
        best.ok = run.ok;
        best.wall_sec = std::min(best.wall_sec, run.wall_sec);
        best.cpu_sec = std::min(best.cpu_sec, run.cpu_sec);
        if (run.rtime_sec > 0) best.rtime_sec = std::min(best.rtime_sec, run.rtime_sec);
      }
      const std::string name = fs::path(file).filename().string();
      std::printf(
          "| %s | %d | %lld | %lld | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f "
          "| %.0f |\n",
          name.c_str(), threads, static_cast<long long>(ours.frames),
          static_cast<long long>(ours.frames_decoded), ours.wall_sec * 1e3, best.wall_sec * 1e3,
          ours.wall_sec / best.wall_sec, ours.cpu_sec * 1e3, every.cpu_sec * 1e3,
          best.cpu_sec * 1e3, ours.cpu_sec / best.cpu_sec, ours.cpu_sec / every.cpu_sec,
          best.rtime_sec * 1e3, ours.frames / ours.wall_sec);
      std::fflush(stdout);
    }
  }
  return 0;
}
