#include "pipeline/fingerprint.h"

#include <nlohmann/json.hpp>

namespace vcap::pipeline {

using Json = nlohmann::json;

std::string run_fingerprint(const CaptionOptions& options, const std::string& model_identity) {
  // nlohmann::json objects keep keys sorted, so dump() is canonical.
  Json json = {
      {"model", model_identity},
      {"question", options.question},
      {"fps", options.fps},
      {"height", options.height},
      {"width", options.width},
      {"max_new_tokens", options.max_new_tokens},
      {"precision", precision_name(options.precision)},
      {"resize", options.exact_size ? "exact" : "area"},
      {"autorotate", options.autorotate},
  };
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string fingerprint_difference(const std::string& journal_json, const std::string& now_json) {
  if (journal_json == now_json) return "";
  const Json journal = Json::parse(journal_json, nullptr, false);
  const Json now = Json::parse(now_json, nullptr, false);
  if (journal.is_discarded() || now.is_discarded() || !journal.is_object() || !now.is_object())
    return "the fingerprint cannot be read";
  std::string difference;
  auto add = [&](const std::string& key, const Json& was, const Json& is) {
    if (!difference.empty()) difference += "; ";
    difference += key + ": " + (was.is_null() ? "(none)" : was.dump()) + " (journal) vs " +
                  (is.is_null() ? "(none)" : is.dump()) + " (now)";
  };
  for (const auto& [key, value] : journal.items()) {
    const Json is = now.contains(key) ? now.at(key) : Json();
    if (value != is) add(key, value, is);
  }
  for (const auto& [key, value] : now.items()) {
    if (!journal.contains(key)) add(key, Json(), value);
  }
  return difference.empty() ? "the fingerprints differ" : difference;
}

}  // namespace vcap::pipeline
