#include "hub/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

namespace vcap::hub {
namespace {

constexpr size_t kMaxMemoryBodyBytes = size_t{256} << 20;
constexpr size_t kMaxErrorBodyBytes = size_t{64} << 10;
constexpr long kStallSpeedBytesPerSec = 1024;
constexpr long kMaxRedirects = 10;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct CurlDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};

// What the callbacks of one transfer share.
struct Transfer {
  CURL* handle = nullptr;
  HttpResponse* response = nullptr;
  const BodySink* sink = nullptr;  // null: keep the body in memory
  bool body_too_large = false;
};

std::string trim(std::string_view text) {
  const auto not_space = [](char c) { return !std::isspace(static_cast<unsigned char>(c)); };
  const auto begin = std::find_if(text.begin(), text.end(), not_space);
  const auto end = std::find_if(text.rbegin(), text.rend(), not_space).base();
  return begin < end ? std::string(begin, end) : std::string();
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    // A new response (after a redirect or a 100 Continue): forget the previous headers.
    transfer.response->headers.clear();
    return line.size();
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return line.size();
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  transfer.response->headers[trim(name)] = trim(line.substr(colon + 1));
  return line.size();
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  long status = 0;
  curl_easy_getinfo(transfer.handle, CURLINFO_RESPONSE_CODE, &status);
  const bool success = status >= 200 && status < 300;
  if (transfer.sink != nullptr && success) {
    const bool keep_going =
        (*transfer.sink)(status, std::as_bytes(std::span<const char>(data, bytes)));
    return keep_going ? bytes : 0;  // 0 makes libcurl stop with CURLE_WRITE_ERROR
  }
  std::string& body = transfer.response->body;
  const size_t limit = transfer.sink != nullptr ? kMaxErrorBodyBytes : kMaxMemoryBodyBytes;
  if (body.size() + bytes > limit) {
    if (transfer.sink != nullptr) {  // an error page: its start is enough
      body.append(data, limit - body.size());
      return bytes;
    }
    transfer.body_too_large = true;
    return 0;
  }
  body.append(data, bytes);
  return bytes;
}

}  // namespace

struct HttpClient::Impl {
  HttpSettings settings;
  std::unique_ptr<CURL, CurlDeleter> handle;

  enum class Method { kHead, kGet };
  Result<HttpResponse> perform(Method method, const std::string& url,
                               const std::vector<std::string>& headers, bool follow,
                               const BodySink* sink);
};

Result<HttpResponse> HttpClient::Impl::perform(Method method, const std::string& url,
                                               const std::vector<std::string>& headers, bool follow,
                                               const BodySink* sink) {
  CURL* curl = handle.get();
  // reset() clears the options of the previous request but keeps its open connections.
  curl_easy_reset(curl);
  Slist header_list;
  for (const std::string& line : headers) {
    curl_slist* extended = curl_slist_append(header_list.get(), line.c_str());
    if (extended == nullptr) return Status::out_of_memory("http: cannot build request headers");
    (void)header_list.release();
    header_list.reset(extended);
  }
  HttpResponse response;
  Transfer transfer{curl, &response, sink, false};
  char error_text[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOBODY, method == Method::kHead ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "vcap/0.1 (libcurl)");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, settings.connect_timeout_sec);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, kStallSpeedBytesPerSec);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, settings.stall_timeout_sec);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: safe in threaded callers
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);

  const CURLcode code = curl_easy_perform(curl);
  const std::string verb = method == Method::kHead ? "HEAD " : "GET ";
  if (transfer.body_too_large) {
    return Status::io_error(verb + url + ": response body larger than 256 MiB");
  }
  if (code != CURLE_OK) {
    std::string reason = curl_easy_strerror(code);
    if (error_text[0] != '\0') reason += " (" + std::string(error_text) + ")";
    if (code == CURLE_OPERATION_TIMEDOUT) return Status::timeout(verb + url + ": " + reason);
    return Status::io_error(verb + url + ": " + reason);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  const char* effective_url = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective_url);
  response.url = effective_url != nullptr ? effective_url : url;
  return response;
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;
HttpClient::~HttpClient() = default;

Result<HttpClient> HttpClient::create(HttpSettings settings) {
  auto impl = std::make_unique<Impl>();
  impl->settings = settings;
  impl->handle.reset(curl_easy_init());
  if (!impl->handle) return Status::internal("http: curl_easy_init failed");
  return HttpClient(std::move(impl));
}

Result<HttpResponse> HttpClient::head(const std::string& url,
                                      const std::vector<std::string>& headers) {
  return impl_->perform(Impl::Method::kHead, url, headers, /*follow=*/false, nullptr);
}

Result<HttpResponse> HttpClient::get(const std::string& url,
                                     const std::vector<std::string>& headers) {
  return impl_->perform(Impl::Method::kGet, url, headers, /*follow=*/false, nullptr);
}

Result<HttpResponse> HttpClient::get_to(const std::string& url,
                                        const std::vector<std::string>& headers,
                                        const BodySink& sink) {
  return impl_->perform(Impl::Method::kGet, url, headers, /*follow=*/true, &sink);
}

const std::string& HttpResponse::header(const std::string& name) const {
  static const std::string kEmpty;
  const auto found = headers.find(name);
  return found == headers.end() ? kEmpty : found->second;
}

std::string percent_encode(std::string_view text, bool keep_slashes) {
  constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slashes && c == '/')) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kDigits[byte >> 4]);
      out.push_back(kDigits[byte & 0xf]);
    }
  }
  return out;
}

std::string url_origin(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "";
  const size_t host_end = url.find_first_of("/?#", scheme_end + 3);
  std::string origin(url.substr(0, host_end));
  std::transform(origin.begin(), origin.end(), origin.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return origin;
}

}  // namespace vcap::hub
