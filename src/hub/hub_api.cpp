#include "hub/hub_api.h"

#include <cctype>
#include <thread>

#include "hub/blob_check.h"
#include "hub/repo_cache.h"
#include "io/json_file.h"

namespace vcap::hub {
namespace {

constexpr int kMaxRelativeRedirects = 5;

std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

// An etag becomes a file name in the cache: allow only what a hash or an opaque token needs.
bool safe_etag(std::string_view etag) {
  if (etag.empty() || etag.size() > 200 || etag == "." || etag == "..") return false;
  for (char c : etag) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

std::string resolve_url(const HubOptions& options, std::string_view repo_id,
                        std::string_view revision, std::string_view file) {
  return options.endpoint + "/" + std::string(repo_id) + "/resolve/" +
         percent_encode(revision, /*keep_slashes=*/false) + "/" +
         percent_encode(file, /*keep_slashes=*/true);
}

// `request` (a GET or a HEAD with the hub's headers for the URL given) of `url`, following the
// hub's relative redirects, which stay on the hub (a renamed repository, another capitalisation
// of its name), with the same headers. An absolute one leads to the CDN: that response is
// returned, as are failures. `url` ends as the last one asked.
template <class Request>
Result<HttpResponse> on_the_hub(std::string& url, Request&& request) {
  for (int hop = 0;; ++hop) {
    Result<HttpResponse> got = request(url);
    if (!got.ok()) return got;
    const std::string& location = got->header("location");
    const bool redirect = got->status >= 300 && got->status < 400;
    if (!redirect || !location.starts_with('/') || hop == kMaxRelativeRedirects) return got;
    url = url_origin(url) + location;
  }
}

}  // namespace

bool is_transient_http_status(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

Status run_with_retries(const HubOptions& options,
                        const std::function<Status(bool& transient)>& attempt) {
  std::chrono::milliseconds delay = options.retry_delay;
  for (int retry = 0;; ++retry) {
    bool transient = false;
    Status status = attempt(transient);
    if (status.ok() || !transient || retry >= options.max_retries) return status;
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

Status hub_http_error(const HttpResponse& response, const HubOptions& options,
                      std::string_view repo_id, std::string_view revision, std::string_view file) {
  const std::string repo(repo_id);
  const std::string& code = response.header("x-error-code");
  const std::string where = " on " + options.endpoint;
  const std::string status = " (HTTP " + std::to_string(response.status) + ")";
  switch (response.status) {
    case 401:
      if (options.token) {
        return Status::invalid_argument("access to model " + repo + where + " denied" + status +
                                        ": the token in HF_TOKEN was rejected");
      }
      // The hub answers 401, not 404, for unknown repositories to anonymous clients.
      return Status::invalid_argument("model " + repo + " not found" + where +
                                      ", or private or gated: set HF_TOKEN to a token that can "
                                      "read it" +
                                      status);
    case 403:
      if (code == "GatedRepo") {
        return Status::invalid_argument("model " + repo + " is gated: accept its terms at " +
                                        options.endpoint + "/" + repo +
                                        " and set HF_TOKEN to a token of that account" + status);
      }
      return Status::invalid_argument("access to model " + repo + where + " denied" + status +
                                      ": set HF_TOKEN to a token with read access to it");
    case 404:
      if (code == "RevisionNotFound") {
        return Status::not_found("model " + repo + " has no revision \"" + std::string(revision) +
                                 "\"" + where);
      }
      if (code == "EntryNotFound" && !file.empty()) {
        return Status::not_found("model " + repo + " has no file " + std::string(file) +
                                 " at revision " + std::string(revision) + where);
      }
      return Status::not_found("model " + repo + " not found" + where +
                               " (or private: set HF_TOKEN)");
    default: {
      std::string detail = response.header("x-error-message");
      if (detail.empty()) detail = response.body.substr(0, 200);
      for (char& c : detail) {
        if (c == '\n' || c == '\r') c = ' ';
      }
      return Status::io_error("hub request " + response.url + " failed" + status +
                              (detail.empty() ? "" : ": " + detail));
    }
  }
}

Result<HubApi> HubApi::create(const HubOptions& options) {
  VCAP_CHECK(!options.offline, "HubApi in offline mode");
  Result<HttpClient> http =
      HttpClient::create(HttpSettings{options.connect_timeout_sec, options.stall_timeout_sec});
  if (!http.ok()) return http.status();
  return HubApi(options, std::move(http).value());
}

std::vector<std::string> HubApi::headers_for(const std::string& url) const {
  // identity: the size we are told must be the size of the bytes we store.
  std::vector<std::string> headers = {"Accept-Encoding: identity"};
  if (options_->token && url_origin(url) == url_origin(options_->endpoint)) {
    headers.push_back("Authorization: Bearer " + *options_->token);
  }
  return headers;
}

Result<RepoInfo> HubApi::repo_info(std::string_view repo_id, std::string_view revision) {
  const std::string asked = options_->endpoint + "/api/models/" + std::string(repo_id) +
                            "/revision/" + percent_encode(revision, /*keep_slashes=*/false);
  std::string url;
  HttpResponse response;
  Status exchange = run_with_retries(*options_, [&](bool& transient) -> Status {
    url = asked;
    Result<HttpResponse> got =
        on_the_hub(url, [this](const std::string& u) { return http_.get(u, headers_for(u)); });
    if (!got.ok()) {
      transient = true;
      return got.status().with_context("cannot reach " + options_->endpoint);
    }
    response = std::move(got).value();
    if (response.status >= 200 && response.status < 300) return Status();
    transient = is_transient_http_status(response.status);
    return hub_http_error(response, *options_, repo_id, revision, "");
  });
  if (!exchange.ok()) return exchange;
  Result<nlohmann::json> json = io::parse_json(response.body, url);
  if (!json.ok()) return json.status();
  RepoInfo info;
  try {
    info.commit = json->at("sha").get<std::string>();
    for (const auto& sibling : json->at("siblings")) {
      info.files.push_back(sibling.at("rfilename").get<std::string>());
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(url + ": unexpected answer (" + e.what() + ")");
  }
  if (!is_commit_sha(info.commit)) {
    return Status::corruption(url + ": \"" + info.commit + "\" is not a commit sha");
  }
  return info;
}

Result<FileMetadata> HubApi::file_metadata(std::string_view repo_id, std::string_view revision,
                                           std::string_view file) {
  const std::string asked = resolve_url(*options_, repo_id, revision, file);
  std::string url;
  HttpResponse response;
  Status exchange = run_with_retries(*options_, [&](bool& transient) -> Status {
    url = asked;
    // The CDN's redirect ends the walk: that response has the metadata.
    Result<HttpResponse> got =
        on_the_hub(url, [this](const std::string& u) { return http_.head(u, headers_for(u)); });
    if (!got.ok()) {
      transient = true;
      return got.status().with_context("cannot reach " + options_->endpoint);
    }
    response = std::move(got).value();
    if (response.status >= 200 && response.status < 400) return Status();
    transient = is_transient_http_status(response.status);
    return hub_http_error(response, *options_, repo_id, revision, file);
  });
  if (!exchange.ok()) return exchange;
  FileMetadata metadata;
  metadata.commit = response.header("x-repo-commit");
  std::string etag = response.header("x-linked-etag");
  if (etag.empty()) etag = response.header("etag");
  metadata.etag = normalize_etag(etag);
  std::string size = response.header("x-linked-size");
  if (size.empty()) size = response.header("content-length");
  metadata.size_bytes = parse_size(size);
  const bool redirect = response.status >= 300;
  metadata.download_url = redirect ? response.header("location") : url;
  const std::string what = "HEAD " + url + ": ";
  if (metadata.commit.empty()) {
    return Status::corruption(what + "no X-Repo-Commit header: is " + options_->endpoint +
                              " a Hugging Face hub?");
  }
  if (!safe_etag(metadata.etag)) {
    return Status::corruption(what + "missing or unusable ETag \"" + metadata.etag + "\"");
  }
  if (redirect && metadata.download_url.empty()) {
    return Status::corruption(what + "redirect without a Location");
  }
  return metadata;
}

}  // namespace vcap::hub
