// load_clip / plan_clip on the small files of tests/data/media (copies of ../shared/media with
// the outcome manifest.csv expects, plus two generated for codec and decode errors; see
// tests/data/media/README.md).
#include "media/clip.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace vcap::media {
namespace {

std::string data(const std::string& name) {
  return std::string(VCAP_TEST_DATA_DIR) + "/media/" + name;
}

uint64_t fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint8_t b : bytes) h = (h ^ b) * 0x100000001b3ULL;
  return h;
}

struct Expectation {
  const char* file;
  std::optional<ClipErrorKind> error;  // nullopt: frames come out
};

TEST(LoadClip, EveryDevFileGivesTheManifestOutcome) {
  const Expectation cases[] = {
      {"bear-vp9.webm", std::nullopt},
      {"roadtrip-vp92-10bit.webm", std::nullopt},
      {"short_0.2s.mp4", std::nullopt},
      {"odd_37x23.webm", std::nullopt},
      {"hevc_main10.mp4", std::nullopt},
      {"rotated_display_90cw.mp4", std::nullopt},
      {"directory_not_a_video.mp4/inside.mp4", std::nullopt},
      {"single_frame.mp4", ClipErrorKind::kTooFewFrames},
      {"empty.mp4", ClipErrorKind::kEmptyFile},
      {"plain_text_renamed.mp4", ClipErrorKind::kNotMedia},
      {"audio_only.mp4", ClipErrorKind::kNoVideoStream},
      {"truncated_30pct.mp4", ClipErrorKind::kTruncated},
      {"ts_lost_packet.ts", std::nullopt},  // damage within the data, not its end
      {"directory_not_a_video.mp4", ClipErrorKind::kIsDirectory},
      {"no_such_file.mp4", ClipErrorKind::kNotFound},
      {"unknown_codec.mkv", ClipErrorKind::kUnsupportedCodec},
      {"undecodable.mp4", ClipErrorKind::kDecodeError},
  };
  for (const Expectation& c : cases) {
    SCOPED_TRACE(c.file);
    ClipResult<Clip> clip = load_clip(data(c.file), DecodeOptions{});
    if (!c.error) {
      ASSERT_TRUE(clip.ok()) << clip.error().message();
      const ClipPlan& plan = clip->plan;
      EXPECT_EQ(clip->frames.size(),
                static_cast<size_t>(plan.nframes * 3 * plan.resized_height * plan.resized_width));
      EXPECT_EQ(plan.resized_height % 28, 0);
      EXPECT_EQ(plan.resized_width % 28, 0);
      continue;
    }
    ASSERT_FALSE(clip.ok());
    EXPECT_EQ(clip_error_kind_name(clip.error().kind()), std::string(clip_error_kind_name(*c.error)))
        << clip.error().message();
    // One line that names the file.
    EXPECT_NE(clip.error().message().find(c.file), std::string::npos) << clip.error().message();
    EXPECT_EQ(clip.error().message().find('\n'), std::string::npos);
  }
}

TEST(LoadClip, TruncatedFileSaysHowManyFramesDecodeAndCanStillGiveThem) {
  ClipResult<Clip> strict = load_clip(data("truncated_30pct.mp4"), DecodeOptions{});
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.error().message().find("85 frame(s) decodable of 300 declared"),
            std::string::npos)
      << strict.error().message();
  DecodeOptions lenient;
  lenient.accept_truncated = true;
  ClipResult<Clip> partial = load_clip(data("truncated_30pct.mp4"), lenient);
  ASSERT_TRUE(partial.ok()) << partial.error().message();
  EXPECT_TRUE(partial->plan.truncated);
  EXPECT_EQ(partial->plan.total_frames, 85);
  EXPECT_FALSE(partial->plan.truncation.empty());
}

// A WebM cut inside its clusters reads to a clean end of file: only the demuxer's complaint
// that the file ended before its elements did tells the cut from a short clip. A cut inside the
// index after the last frame is a damaged file too.
TEST(LoadClip, CutWebmIsTruncatedLikeCutMp4) {
  const std::filesystem::path folder =
      std::filesystem::temp_directory_path() / ("vcap_cut_webm_" + std::to_string(::getpid()));
  std::filesystem::create_directories(folder);
  std::ifstream in(data("bear-vp9.webm"), std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::filesystem::path cut = folder / "bear_60pct.webm";
  std::ofstream(cut, std::ios::binary) << whole.substr(0, whole.size() * 60 / 100);

  ClipResult<Clip> strict = load_clip(cut.string(), DecodeOptions{});
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().kind(), ClipErrorKind::kTruncated) << strict.error().message();
  EXPECT_NE(strict.error().message().find("50 frame(s) decodable"), std::string::npos)
      << strict.error().message();
  ClipResult<ClipPlan> estimated = estimate_plan(cut.string(), DecodeOptions{});
  ASSERT_TRUE(estimated.ok()) << estimated.error().message();
  EXPECT_TRUE(estimated->truncated);
  DecodeOptions lenient;
  lenient.accept_truncated = true;
  ClipResult<Clip> partial = load_clip(cut.string(), lenient);
  ASSERT_TRUE(partial.ok()) << partial.error().message();
  EXPECT_EQ(partial->plan.total_frames, 50);
  std::filesystem::remove_all(folder);
}

// An HLS playlist left without its end tag (the recorder stopped) under a clip's name: FFmpeg
// takes it for a live stream, starts at its last three segments and waits for more until the
// decode deadline. On disk it is whole: every segment is read, and the wait is short.
TEST(LoadClip, UnfinishedHlsPlaylistIsReadWholeWithoutWaitingForMore) {
  const std::filesystem::path folder =
      std::filesystem::temp_directory_path() / ("vcap_live_hls_" + std::to_string(::getpid()));
  std::filesystem::create_directories(folder);
  std::filesystem::copy_file(data("ts_lost_packet.ts"), folder / "segment.ts",
                             std::filesystem::copy_options::overwrite_existing);
  {
    std::ofstream playlist(folder / "recording.mp4");
    playlist << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n";
    for (int segment = 0; segment < 4; ++segment) playlist << "#EXTINF:0.5,\nsegment.ts\n";
  }
  DecodeOptions options;
  options.deadline_sec = 60;
  const auto start = std::chrono::steady_clock::now();
  ClipResult<ClipPlan> plan = plan_clip((folder / "recording.mp4").string(), options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::filesystem::remove_all(folder);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->total_frames, 4 * 19);  // 19 frames a segment, from the first one
  EXPECT_LT(seconds, 30);
}

// Names FFmpeg would take for URLs ("protocol:rest") are files like any other.
TEST(LoadClip, AFileNameWithAColonIsAFileNotAProtocol) {
  const std::filesystem::path folder =
      std::filesystem::temp_directory_path() / ("vcap_colon_" + std::to_string(::getpid()));
  std::filesystem::create_directories(folder);
  for (const char* name : {"cam1:0930.webm", "pipe:x.webm"}) {
    SCOPED_TRACE(name);
    const std::filesystem::path copy = folder / name;
    std::filesystem::copy_file(data("bear-vp9.webm"), copy,
                               std::filesystem::copy_options::overwrite_existing);
    const std::filesystem::path cwd = std::filesystem::current_path();
    std::filesystem::current_path(folder);  // a relative name, as a CSV row without --root
    ClipResult<Clip> clip = load_clip(name, DecodeOptions{});
    std::filesystem::current_path(cwd);
    ASSERT_TRUE(clip.ok()) << clip.error().message();
    EXPECT_GT(clip.value().frames.size(), 0u);
  }
  std::filesystem::remove_all(folder);
}

// A header announcing frames larger than vcap decodes (here a 9000x9000 Y4M, written without
// its frame data) is refused before a frame is decoded, not allowed to take GBs per thread.
TEST(LoadClip, FramesOverTheSizeLimitAreRefusedBeforeDecoding) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("vcap_huge_" + std::to_string(::getpid()) + ".y4m");
  {
    std::ofstream out(file, std::ios::binary);
    out << "YUV4MPEG2 W9000 H9000 F4:1 Ip A1:1 C420jpeg\nFRAME\n" << std::string(4096, '\x80');
  }
  ClipResult<Clip> clip = load_clip(file.string(), DecodeOptions{});
  std::filesystem::remove(file);
  ASSERT_FALSE(clip.ok());
  EXPECT_EQ(clip.error().kind(), ClipErrorKind::kUnsupportedCodec) << clip.error().message();
  EXPECT_NE(clip.error().message().find("9000x9000 are over the 8192x8192"), std::string::npos)
      << clip.error().message();
}

TEST(LoadClip, PassedDeadlineIsATimeoutNotAHang) {
  DecodeOptions options;
  options.deadline_sec = 0;
  ClipResult<Clip> clip = load_clip(data("bear-vp9.webm"), options);
  ASSERT_FALSE(clip.ok());
  EXPECT_EQ(clip.error().kind(), ClipErrorKind::kTimeout) << clip.error().message();
}

TEST(LoadClip, RejectsBadOptions) {
  DecodeOptions options;
  options.fps = 0;
  EXPECT_EQ(load_clip(data("bear-vp9.webm"), options).error().kind(),
            ClipErrorKind::kInvalidOptions);
  options = DecodeOptions{};
  options.resize_mode = ResizeMode::kExact;
  options.exact_width = 0;
  EXPECT_EQ(plan_clip(data("bear-vp9.webm"), options).error().kind(),
            ClipErrorKind::kInvalidOptions);
}

// Golden parity without ../shared: hashes of the golden arrays of two cases, which vcap
// reproduces bit for bit (pico-b__short-0.2s-fps2 and pico__bear-vp9).
TEST(LoadClip, ReproducesGoldenFramesOfInRepoClips) {
  struct Case {
    const char* file;
    double fps;
    uint64_t selected_hash;
    uint64_t resized_hash;
  };
  for (const Case& c : {Case{"short_0.2s.mp4", 2.0, 0x52f04c79b3ff4af6ULL, 0xcdf6f83776004b25ULL},
                        Case{"bear-vp9.webm", 4.0, 0x7071648a6bef6b7cULL, 0xb3cbfdf126a01280ULL}}) {
    SCOPED_TRACE(c.file);
    DecodeOptions options;
    options.fps = c.fps;
    options.autorotate = false;
    options.keep_selected_frames = true;
    ClipResult<Clip> clip = load_clip(data(c.file), options);
    ASSERT_TRUE(clip.ok()) << clip.error().message();
    EXPECT_EQ(fnv1a(clip->selected_frames), c.selected_hash);
    EXPECT_EQ(fnv1a(clip->frames), c.resized_hash);
    EXPECT_EQ(clip->plan.resized_height, 280);
    EXPECT_EQ(clip->plan.resized_width, 392);
  }
}

TEST(LoadClip, DisplayMatrixTurnsPhoneVideoUpright) {
  DecodeOptions options;
  ClipResult<Clip> clip = load_clip(data("rotated_display_90cw.mp4"), options);
  ASSERT_TRUE(clip.ok()) << clip.error().message();
  const ClipPlan& plan = clip->plan;
  EXPECT_EQ(plan.rotation, 90);
  EXPECT_EQ(plan.orig_height, 640);  // coded 640x360, displayed 360 wide x 640 high
  EXPECT_EQ(plan.orig_width, 360);
  ASSERT_EQ(plan.resized_height, 644);
  ASSERT_EQ(plan.resized_width, 364);
  const int64_t h = plan.resized_height;
  const int64_t w = plan.resized_width;
  auto pixel = [&](int64_t c, int64_t y, int64_t x) { return clip->frames[(c * h + y) * w + x]; };
  // testsrc2 bars run red ... cyan from left to right when upright.
  EXPECT_GT(pixel(0, 320, 20), 200);
  EXPECT_LT(pixel(1, 320, 20), 60);
  EXPECT_LT(pixel(0, 320, w - 20), 60);
  EXPECT_GT(pixel(2, 320, w - 20), 200);
  // The black box behind "TOP" (near the top) is narrower than the one behind "BOTTOM".
  auto dark_pixels = [&](int64_t y) {
    int count = 0;
    for (int64_t x = 0; x < w; ++x) count += pixel(0, y, x) < 40 && pixel(1, y, x) < 40;
    return count;
  };
  EXPECT_GT(dark_pixels(60), 50);
  EXPECT_LT(dark_pixels(60) * 3, dark_pixels(h - 40) * 2);

  options.autorotate = false;  // reference behaviour: coded landscape
  ClipResult<ClipPlan> reference = plan_clip(data("rotated_display_90cw.mp4"), options);
  ASSERT_TRUE(reference.ok());
  EXPECT_EQ(reference->rotation, 0);
  EXPECT_EQ(reference->resized_height, 364);
  EXPECT_EQ(reference->resized_width, 644);
}

TEST(LoadClip, PlannedLoadGivesTheSameFrames) {
  DecodeOptions options;
  ClipResult<ClipPlan> plan = plan_clip(data("bear-vp9.webm"), options);
  ASSERT_TRUE(plan.ok());
  ClipResult<Clip> direct = load_clip(data("bear-vp9.webm"), options);
  ClipResult<Clip> planned = load_clip(data("bear-vp9.webm"), options, *plan);
  ASSERT_TRUE(direct.ok());
  ASSERT_TRUE(planned.ok());
  EXPECT_EQ(direct->plan, *plan);
  EXPECT_EQ(direct->frames, planned->frames);
}

// VP9 profile 2 with hidden frames: 80 packets decode to 72 frames, so the packet-count guess
// is wrong and a second pass must fetch the frames the exact plan picks.
TEST(LoadClip, HiddenFramesTakeASecondPassAndStayExact) {
  DecodeOptions options;
  ClipResult<ClipPlan> estimate = estimate_plan(data("roadtrip-vp92-10bit.webm"), options);
  ASSERT_TRUE(estimate.ok());
  EXPECT_FALSE(estimate->exact);
  EXPECT_EQ(estimate->total_frames, 80);
  ClipResult<ClipPlan> plan = plan_clip(data("roadtrip-vp92-10bit.webm"), options);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->total_frames, 72);
  ClipResult<Clip> direct = load_clip(data("roadtrip-vp92-10bit.webm"), options);
  ClipResult<Clip> planned = load_clip(data("roadtrip-vp92-10bit.webm"), options, *plan);
  ASSERT_TRUE(direct.ok());
  ASSERT_TRUE(planned.ok());
  EXPECT_EQ(direct->plan, *plan);
  EXPECT_EQ(direct->frames, planned->frames);
}

TEST(LoadClip, ThreadCountDoesNotChangeFrames) {
  DecodeOptions one;
  one.threads = 1;
  DecodeOptions two;
  two.threads = 2;
  ClipResult<Clip> a = load_clip(data("hevc_main10.mp4"), one);
  ClipResult<Clip> b = load_clip(data("hevc_main10.mp4"), two);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->frames, b->frames);
}

TEST(LoadClip, ExactModeResizesToTheRequestedSize) {
  DecodeOptions options;
  options.resize_mode = ResizeMode::kExact;
  options.exact_height = 100;  // rounded to 112
  options.exact_width = 300;   // rounded to 308
  ClipResult<Clip> clip = load_clip(data("odd_37x23.webm"), options);
  ASSERT_TRUE(clip.ok()) << clip.error().message();
  EXPECT_EQ(clip->plan.resized_height, 112);
  EXPECT_EQ(clip->plan.resized_width, 308);
  EXPECT_EQ(clip->plan.orig_height, 23);
  EXPECT_EQ(clip->plan.orig_width, 37);
}

TEST(VisualGrid, MatchesSpecWorkedExample) {
  ClipPlan plan;
  plan.nframes = 40;
  plan.resized_height = 392;
  plan.resized_width = 728;
  const VisualGrid grid = visual_grid(plan);
  EXPECT_EQ(grid.grid_t, 20);
  EXPECT_EQ(grid.grid_h, 28);
  EXPECT_EQ(grid.grid_w, 52);
  EXPECT_EQ(grid.patches, 29120);
  EXPECT_EQ(grid.visual_tokens, 7280);
}

}  // namespace
}  // namespace vcap::media
