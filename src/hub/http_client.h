// HttpClient: the few HTTP requests the hub needs, over libcurl.
//
// Requests never follow redirects unless asked (the hub puts a file's metadata on the first
// response, before the redirect to its CDN). Proxies come from the usual environment variables
// (http_proxy, https_proxy, no_proxy), which libcurl reads by itself: nothing here overrides
// them. A connection that delivers less than 1 KiB/s for `stall_timeout_sec` is abandoned.
//
// A transport failure (DNS, refused connection, timeout, a connection cut mid-body) is a
// non-ok Status whose message carries libcurl's reason; any HTTP status, 4xx and 5xx included,
// is a successful exchange and comes back in HttpResponse for the caller to judge.
// Move-only; one request at a time (not thread-safe). Reuses connections between requests.
#ifndef VCAP_HUB_HTTP_CLIENT_H_
#define VCAP_HUB_HTTP_CLIENT_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace vcap::hub {

struct HttpSettings {
  long connect_timeout_sec = 30;  // for establishing each connection
  long stall_timeout_sec = 60;    // abandon a transfer slower than 1 KiB/s for this long
};

struct HttpResponse {
  long status = 0;  // HTTP status of the last response (after redirects, when followed)
  // Headers of the last response, names lower-cased; a repeated header keeps its last value.
  std::map<std::string, std::string> headers;
  // The body when it is kept in memory: every body for head()/get(), and non-2xx bodies of
  // get_to() (truncated to 64 KiB, for error messages).
  std::string body;
  std::string url;  // the URL that gave this response (differs from the request after redirects)

  // The header's value, or "" when absent. `name` in lower case.
  const std::string& header(const std::string& name) const;
};

// Receives a 2xx body piece by piece, with the HTTP status (200 or 206). Returning false stops
// the transfer; get_to() then fails and the sink's owner knows why.
using BodySink = std::function<bool(long status, std::span<const std::byte> bytes)>;

class HttpClient {
 public:
  // kInternal when libcurl cannot make a handle (out of memory).
  static Result<HttpClient> create(HttpSettings settings);

  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  ~HttpClient();

  // `headers` are whole lines ("Authorization: Bearer x"). The body is kept in memory,
  // up to 256 MiB (kIoError beyond). Redirects are not followed.
  Result<HttpResponse> head(const std::string& url, const std::vector<std::string>& headers);
  Result<HttpResponse> get(const std::string& url, const std::vector<std::string>& headers);

  // GET that follows redirects and streams a 2xx body into `sink`.
  Result<HttpResponse> get_to(const std::string& url, const std::vector<std::string>& headers,
                              const BodySink& sink);

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The URL with every byte outside [A-Za-z0-9-._~] (and '/' when `keep_slashes`) written as
// %XX, for file names and revisions inside hub URLs ("refs/pr/1" -> "refs%2Fpr%2F1").
std::string percent_encode(std::string_view text, bool keep_slashes);

// "scheme://host[:port]" of a URL, lower-cased; "" when it has no "://".
std::string url_origin(std::string_view url);

}  // namespace vcap::hub

#endif  // VCAP_HUB_HTTP_CLIENT_H_
