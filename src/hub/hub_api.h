// HubApi: the three exchanges vcap has with a Hugging Face hub endpoint, with retries and
// one-line errors that say what to do.
//
//   repo_info      GET  {endpoint}/api/models/{repo}/revision/{revision}  -> commit sha, files
//   file_metadata  HEAD {endpoint}/{repo}/resolve/{revision}/{file}, redirects not followed:
//                  the first response carries X-Repo-Commit, X-Linked-Etag, X-Linked-Size
//                  (LFS files, with a redirect to the CDN) or ETag and Content-Length
//   download       GET  of the metadata's location, following redirects, into a partial file
//                  that a later call resumes with a Range request
//
// The token goes only to URLs on the endpoint's origin, never to the CDN. Errors: 404 -> model
// not found (kNotFound); 401/403 -> no access, mention HF_TOKEN (kInvalidArgument); transport
// failures keep libcurl's reason (kIoError/kTimeout); a full disk says so (kIoError).
// Not thread-safe: one HubApi per thread.
#ifndef VCAP_HUB_HUB_API_H_
#define VCAP_HUB_HUB_API_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "hub/http_client.h"
#include "hub/hub_options.h"

namespace vcap::hub {

struct RepoInfo {
  std::string commit;              // full sha the revision names now
  std::vector<std::string> files;  // every file in the repository at that commit
};

struct FileMetadata {
  std::string commit;                  // X-Repo-Commit
  std::string etag;                    // normalized; the blob's name in the cache
  std::optional<uint64_t> size_bytes;  // X-Linked-Size, else Content-Length
  std::string download_url;            // the redirect target, else the resolve URL
};

class HubApi {
 public:
  // REQUIRES: !options.offline. `options` must outlive the HubApi.
  static Result<HubApi> create(const HubOptions& options);

  Result<RepoInfo> repo_info(std::string_view repo_id, std::string_view revision);
  Result<FileMetadata> file_metadata(std::string_view repo_id, std::string_view revision,
                                     std::string_view file);

  // Brings `partial` to the file's full size: appends from its current size with a Range
  // request (restarting when the server ignores the range), retrying transient failures.
  // Reports progress for `file`. Does not check the content: the caller does.
  Status download(const FileMetadata& metadata, std::string_view repo_id, std::string_view file,
                  const std::filesystem::path& partial);

 private:
  HubApi(const HubOptions& options, HttpClient http) : options_(&options), http_(std::move(http)) {}

  // Request headers for `url`: the token only for the endpoint's own origin.
  std::vector<std::string> headers_for(const std::string& url) const;
  // `link_refused`: the CDN (not the hub) refused the signed link with a 4xx; a fresh one from
  // a new HEAD may work (they expire, after about an hour).
  Status download_attempt(const FileMetadata& metadata, std::string_view repo_id,
                          std::string_view file, const std::filesystem::path& partial,
                          bool& transient, bool& link_refused);

  const HubOptions* options_;
  HttpClient http_;
};

// Runs `attempt` until it succeeds, fails for good, or options.max_retries retries are
// spent, sleeping retry_delay (doubling) between tries. `attempt` sets `transient` to true
// when its failure is worth retrying.
Status run_with_retries(const HubOptions& options,
                        const std::function<Status(bool& transient)>& attempt);

// What went wrong, for a non-2xx hub response: names the model, the revision or file when
// relevant, and the fix (HF_TOKEN for 401/403).
Status hub_http_error(const HttpResponse& response, const HubOptions& options,
                      std::string_view repo_id, std::string_view revision, std::string_view file);

// HTTP statuses worth retrying: 408, 429, 500, 502, 503, 504.
bool is_transient_http_status(long status);

}  // namespace vcap::hub

#endif  // VCAP_HUB_HUB_API_H_
