// FakeHub: a local stand-in for the Hugging Face hub and its CDN, for tests (no internet).
//
// Serves one model repository on 127.0.0.1 (random free ports) with the endpoints and headers
// vcap uses: GET /api/models/{repo}/revision/{rev}; HEAD/GET /{repo}/resolve/{rev}/{file},
// answering small files directly (ETag = git blob id) and LFS files with a 302 to a second
// server, the "CDN" (X-Linked-Etag = sha256, X-Linked-Size), and a renamed repository's old id
// with a 307 to the new one. Knobs inject failures; counters
// record what clients asked. Knobs are set before requests are made.
#ifndef VCAP_TESTS_HUB_FAKE_HUB_H_
#define VCAP_TESTS_HUB_FAKE_HUB_H_

#include <httplib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hub/sha1.h"
#include "hub/sha256.h"

namespace vcap::hub::testing {

class FakeHub {
 public:
  struct File {
    std::string content;
    bool lfs = false;
  };

  FakeHub(std::string repo_id, std::string commit)
      : repo_id_(std::move(repo_id)), commit_(std::move(commit)) {
    hub_port_ = hub_.bind_to_any_port("127.0.0.1");
    cdn_port_ = cdn_.bind_to_any_port("127.0.0.1");
    install_routes();
    hub_thread_ = std::thread([this] { hub_.listen_after_bind(); });
    cdn_thread_ = std::thread([this] { cdn_.listen_after_bind(); });
    // stop() is a no-op before the accept loop runs: wait for it, or ~FakeHub could hang.
    while (!hub_.is_running() || !cdn_.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;
  ~FakeHub() {
    hub_.stop();
    cdn_.stop();
    hub_thread_.join();
    cdn_thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(hub_port_); }
  const std::string& commit() const { return commit_; }

  void add_file(const std::string& name, std::string content, bool lfs = false) {
    std::lock_guard lock(mutex_);
    files_[name] = File{std::move(content), lfs};
  }
  void remove_file(const std::string& name) {
    std::lock_guard lock(mutex_);
    files_.erase(name);
  }
  // The etag the hub gives the file: sha256 for LFS files, git blob id otherwise.
  std::string etag_of(const std::string& name) {
    std::lock_guard lock(mutex_);
    const File& file = files_.at(name);
    if (file.lfs) return sha256_hex(file.content);
    return sha1_hex("blob " + std::to_string(file.content.size()) + std::string(1, '\0') +
                    file.content);
  }

  // ---- Knobs.
  // Every hub request (API and resolve) answers this status, with X-Error-Code when set.
  void fail_all(int status, std::string error_code = "") {
    std::lock_guard lock(mutex_);
    fail_status_ = status;
    fail_error_code_ = std::move(error_code);
  }
  // The next `count` API requests answer 503.
  void fail_api_transiently(int count) {
    std::lock_guard lock(mutex_);
    api_503_left_ = count;
  }
  // The first body GET of `file` stops after `bytes` bytes (connection closed).
  void cut_first_body_after(const std::string& file, size_t bytes) {
    std::lock_guard lock(mutex_);
    cuts_[file] = bytes;
  }
  // Bodies of `file` have one byte flipped (same size, wrong checksum).
  void corrupt_body(const std::string& file, bool corrupt) {
    std::lock_guard lock(mutex_);
    if (corrupt) {
      corrupt_.insert(file);
    } else {
      corrupt_.erase(file);
    }
  }
  // The metadata announces this size for `file` instead of the real one.
  void announce_size(const std::string& file, uint64_t size_bytes) {
    std::lock_guard lock(mutex_);
    announced_sizes_[file] = size_bytes;
  }
  // Requests for repository `old_id` answer 307 to the same path under this repository's id, as
  // the hub does for a renamed repository (or another capitalisation of its name).
  void rename_from(std::string old_id) {
    std::lock_guard lock(mutex_);
    old_repo_id_ = std::move(old_id);
  }
  // The next `count` CDN requests answer 403, as the CDN does once a signed link has expired.
  void refuse_cdn_links(int count) {
    std::lock_guard lock(mutex_);
    cdn_403_left_ = count;
  }
  // Hub requests without "Authorization: Bearer <token>" answer 401.
  void require_token(std::string token) {
    std::lock_guard lock(mutex_);
    token_ = std::move(token);
  }

  // ---- Counters.
  int api_requests() { return locked(api_requests_); }
  int head_requests() { return locked(head_requests_); }
  int total_requests() { return locked(api_requests_) + locked(head_requests_) + body_gets(); }
  int body_gets() {
    std::lock_guard lock(mutex_);
    int total = 0;
    for (const auto& [file, count] : body_gets_) total += count;
    return total;
  }
  int body_gets(const std::string& file) {
    std::lock_guard lock(mutex_);
    const auto found = body_gets_.find(file);
    return found == body_gets_.end() ? 0 : found->second;
  }
  std::vector<std::string> ranges_seen() {
    std::lock_guard lock(mutex_);
    return ranges_seen_;
  }
  bool cdn_saw_authorization() {
    std::lock_guard lock(mutex_);
    return cdn_saw_authorization_;
  }

 private:
  int locked(const int& counter) {
    std::lock_guard lock(mutex_);
    return counter;
  }

  // Under mutex_: a failure answer for a hub request, or false to serve it.
  bool refuse(const httplib::Request& req, httplib::Response& res) {
    if (fail_status_ != 0) {
      res.status = fail_status_;
      if (!fail_error_code_.empty()) res.set_header("X-Error-Code", fail_error_code_);
      res.set_content("{\"error\":\"refused by the test\"}", "application/json");
      return true;
    }
    if (!token_.empty() && req.get_header_value("Authorization") != "Bearer " + token_) {
      res.status = 401;
      res.set_header("X-Error-Code", "RepoNotFound");
      return true;
    }
    return false;
  }

  void install_routes() {
    hub_.Get(R"(/api/models/(.+)/revision/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) { api(req, res); });
    hub_.Get(R"(/(.+)/resolve/([^/]+)/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) { resolve(req, res); });
    cdn_.Get(R"(/cdn/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      if (req.has_header("Authorization")) cdn_saw_authorization_ = true;
      if (cdn_403_left_ > 0) {
        --cdn_403_left_;
        res.status = 403;
        res.set_content("<Error><Code>AccessDenied</Code></Error>", "application/xml");
        return;
      }
      for (const auto& [name, file] : files_) {
        if (file.lfs && sha256_hex(file.content) == std::string(req.matches[1])) {
          serve_body(name, req, res);
          return;
        }
      }
      res.status = 404;
    });
  }

  void api(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    ++api_requests_;
    if (refuse(req, res)) return;
    if (!old_repo_id_.empty() && req.matches[1] == old_repo_id_) {
      res.status = 307;
      res.set_header("Location",
                     "/api/models/" + repo_id_ + "/revision/" + std::string(req.matches[2]));
      return;
    }
    if (api_503_left_ > 0) {
      --api_503_left_;
      res.status = 503;
      return;
    }
    if (req.matches[1] != repo_id_) {
      res.status = 404;
      res.set_header("X-Error-Code", "RepoNotFound");
      return;
    }
    if (req.matches[2] != "main" && req.matches[2] != commit_) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      return;
    }
    std::string siblings;
    for (const auto& [name, file] : files_) {
      siblings += (siblings.empty() ? "" : ",") + std::string("{\"rfilename\":\"") + name + "\"}";
    }
    res.set_content(
        "{\"id\":\"" + repo_id_ + "\",\"sha\":\"" + commit_ + "\",\"siblings\":[" + siblings + "]}",
        "application/json");
  }

  void resolve(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    const std::string name = req.matches[3];
    if (req.method == "HEAD") ++head_requests_;
    if (refuse(req, res)) return;
    if (!old_repo_id_.empty() && req.matches[1] == old_repo_id_) {
      res.status = 307;
      res.set_header("Location",
                     "/" + repo_id_ + "/resolve/" + std::string(req.matches[2]) + "/" + name);
      return;
    }
    const auto found = files_.find(name);
    if (req.matches[1] != repo_id_ || found == files_.end() ||
        (req.matches[2] != "main" && req.matches[2] != commit_)) {
      res.status = 404;
      res.set_header("X-Error-Code", found == files_.end() ? "EntryNotFound" : "RepoNotFound");
      return;
    }
    res.set_header("X-Repo-Commit", commit_);
    const File& file = found->second;
    if (!file.lfs) {
      res.set_header("ETag", "\"" + git_etag(file.content) + "\"");
      if (req.method == "HEAD") {
        res.set_content(file.content, "application/octet-stream");
      } else {
        serve_body(name, req, res);
      }
      return;
    }
    const std::string sha = sha256_hex(file.content);
    res.status = 302;
    res.set_header("X-Linked-Etag", "\"" + sha + "\"");
    const auto announced = announced_sizes_.find(name);
    res.set_header("X-Linked-Size",
                   std::to_string(announced == announced_sizes_.end() ? file.content.size()
                                                                      : announced->second));
    res.set_header("Location", "http://127.0.0.1:" + std::to_string(cdn_port_) + "/cdn/" + sha);
  }

  static std::string git_etag(const std::string& content) {
    return sha1_hex("blob " + std::to_string(content.size()) + std::string(1, '\0') + content);
  }

  // Under mutex_: the bytes of `name`, honouring the cut and corrupt knobs; httplib answers
  // Range requests with 206 by itself.
  void serve_body(const std::string& name, const httplib::Request& req, httplib::Response& res) {
    ++body_gets_[name];
    if (req.has_header("Range")) ranges_seen_.push_back(req.get_header_value("Range"));
    std::string body = files_.at(name).content;
    if (corrupt_.contains(name) && !body.empty()) body[body.size() / 2] ^= 0x5a;
    const auto cut = cuts_.find(name);
    if (cut == cuts_.end()) {
      res.set_content(body, "application/octet-stream");
      return;
    }
    const size_t cut_at = cut->second;
    cuts_.erase(cut);
    res.set_content_provider(body.size(), "application/octet-stream",
                             [body, cut_at](size_t offset, size_t length, httplib::DataSink& sink) {
                               if (offset >= cut_at) return false;  // drop the connection
                               sink.write(body.data() + offset, std::min(length, cut_at - offset));
                               return true;
                             });
  }

  const std::string repo_id_;
  const std::string commit_;
  std::string old_repo_id_;
  int cdn_403_left_ = 0;
  httplib::Server hub_;
  httplib::Server cdn_;
  int hub_port_ = 0;
  int cdn_port_ = 0;
  std::thread hub_thread_;
  std::thread cdn_thread_;

  std::mutex mutex_;  // guards everything below
  std::map<std::string, File> files_;
  int fail_status_ = 0;
  std::string fail_error_code_;
  int api_503_left_ = 0;
  std::map<std::string, size_t> cuts_;
  std::set<std::string> corrupt_;
  std::map<std::string, uint64_t> announced_sizes_;
  std::string token_;
  int api_requests_ = 0;
  int head_requests_ = 0;
  std::map<std::string, int> body_gets_;
  std::vector<std::string> ranges_seen_;
  bool cdn_saw_authorization_ = false;
};

}  // namespace vcap::hub::testing

#endif  // VCAP_TESTS_HUB_FAKE_HUB_H_
