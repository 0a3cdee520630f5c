// HubOptions: where models come from and where they are kept, mirroring the environment
// variables of the Hugging Face tools so that one cache serves vcap and Python alike.
#ifndef VCAP_HUB_HUB_OPTIONS_H_
#define VCAP_HUB_HUB_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace vcap::hub {

// One event of a file download, for progress display.
struct DownloadProgress {
  enum class Phase {
    kStart,     // the transfer begins (done_bytes > 0 when it resumes a partial file)
    kProgress,  // more bytes arrived
    kVerify,    // all bytes are here; checking the checksum
    kDone,      // the file is in the cache
  };
  Phase phase = Phase::kStart;
  std::string_view file;     // path inside the repository ("model-00001-of-00002.safetensors")
  uint64_t done_bytes = 0;   // bytes on disk so far, resumed ones included
  uint64_t total_bytes = 0;  // expected size; 0 when the server did not say
};

// Called from the downloading thread, often (once per received piece): keep it cheap.
using ProgressCallback = std::function<void(const DownloadProgress&)>;

// Reads an environment variable: nullopt when unset. Lets tests pass a fake environment.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

struct HubOptions {
  // Hub base URL, without a trailing slash. $HF_ENDPOINT.
  std::string endpoint = "https://huggingface.co";
  // Sent as "Authorization: Bearer <token>" to the endpoint (never to the CDN it redirects
  // to). $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the file $HF_TOKEN_PATH or
  // $HF_HOME/token that `huggingface-cli login` writes.
  std::optional<std::string> token;
  // Never touch the network; use only the cache. $HF_HUB_OFFLINE or $TRANSFORMERS_OFFLINE
  // set to 1/ON/YES/TRUE.
  bool offline = false;
  // The cache root holding models--ORG--NAME folders. $HF_HUB_CACHE, else
  // $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
  // ~/.cache/huggingface/hub.
  std::filesystem::path cache_dir;
  // Branch, tag or full commit sha.
  std::string revision = "main";
  // Ask the hub which commit `revision` names now, even when a complete snapshot for the
  // revision is already cached (`vcap download` does; model loading does not, so that runs
  // are reproducible and need no network once the model is cached).
  bool refresh = false;
  // Download progress; empty: silent.
  ProgressCallback progress;
  // Transient failures (connection errors, timeouts, HTTP 429 and 5xx) are retried this many
  // times, waiting `retry_delay` and then twice as long after each further failure.
  int max_retries = 4;
  std::chrono::milliseconds retry_delay{1000};
  long connect_timeout_sec = 30;
  long stall_timeout_sec = 60;  // a transfer under 1 KiB/s for this long is retried

  // The defaults above, overridden by the environment variables named on each field.
  static HubOptions from_environment();
  static HubOptions from_environment(const EnvLookup& lookup);
};

// True for a value the Hugging Face tools read as "on": 1, ON, YES, TRUE (any case).
bool env_flag_is_on(std::string_view value);

}  // namespace vcap::hub

#endif  // VCAP_HUB_HUB_OPTIONS_H_
