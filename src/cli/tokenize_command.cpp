// `vcap tokenize --model DIR [--decode]`: the model's tokenizer as a JSON Lines filter on
// stdin/stdout, to check vcap's tokenization against another implementation.
//
// Encode: each input line is a JSON string; each output line is the JSON array of its ids,
// written like Python's json.dumps(ids) ("[9707, 1879]").
// Decode: each input line is {"ids": [...], "skip_special_tokens": bool} (the flag defaults to
// false; other keys are ignored); each output line is the text as a JSON string, written like
// Python's json.dumps(text, ensure_ascii=False) (UTF-8, control characters as \uXXXX).
// The first bad line stops the command: the lines before it are written, the error names the
// line number, and the exit code is 2. Empty lines are bad lines (no record, no output).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "text/tokenizer.h"

namespace vcap::cli {
namespace {

using Json = nlohmann::json;

struct TokenizeOptions {
  std::string model;    // a directory with tokenizer.json, or the file itself
  bool decode = false;  // ids -> text instead of text -> ids
};

Result<Json> parse_line(const std::string& line) {
  try {
    return Json::parse(line);
  } catch (const Json::exception& e) {
    return Status::invalid_argument(std::string("not valid JSON (") + e.what() + ")");
  }
}

Result<std::string> encode_line(const text::Tokenizer& tokenizer, const std::string& line) {
  Result<Json> json = parse_line(line);
  if (!json.ok()) return json.status();
  if (!json->is_string()) return Status::invalid_argument("expected a JSON string");
  const std::vector<int32_t> ids = tokenizer.encode(json->get_ref<const std::string&>());
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ids[i]);
  }
  out += "]";
  return out;
}

Result<std::string> decode_line(const text::Tokenizer& tokenizer, const std::string& line) {
  Result<Json> json = parse_line(line);
  if (!json.ok()) return json.status();
  const auto ids_it = json->is_object() ? json->find("ids") : json->end();
  if (!json->is_object() || ids_it == json->end() || !ids_it->is_array()) {
    return Status::invalid_argument("expected {\"ids\": [...], \"skip_special_tokens\": bool}");
  }
  std::vector<int32_t> ids;
  ids.reserve(ids_it->size());
  for (std::size_t i = 0; i < ids_it->size(); ++i) {
    const Json& id = (*ids_it)[i];
    if (!id.is_number_integer() || (id.is_number_unsigned() && id.get<uint64_t>() > INT32_MAX) ||
        (!id.is_number_unsigned() && (id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX))) {
      return Status::invalid_argument("ids[" + std::to_string(i) + "]: " + id.dump() +
                                      " is not a token id (an integer in [0, 2^31))");
    }
    ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  bool skip_special_tokens = false;
  const auto skip_it = json->find("skip_special_tokens");
  if (skip_it != json->end()) {
    if (!skip_it->is_boolean())
      return Status::invalid_argument("skip_special_tokens: expected a boolean");
    skip_special_tokens = skip_it->get<bool>();
  }
  // The decoded text is valid UTF-8 (invalid bytes became U+FFFD), so dump() cannot throw.
  return Json(tokenizer.decode(ids, skip_special_tokens)).dump();
}

void run_tokenize(const TokenizeOptions& options) {
  Result<text::Tokenizer> tokenizer = text::Tokenizer::load(options.model);
  if (!tokenizer.ok()) throw CommandFailed(tokenizer.status(), kExitBadInput);
  std::string line;
  for (int64_t line_number = 1; std::getline(std::cin, line); ++line_number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    Result<std::string> out = line.empty()
                                  ? Result<std::string>(Status::invalid_argument("empty line"))
                              : options.decode ? decode_line(*tokenizer, line)
                                               : encode_line(*tokenizer, line);
    if (!out.ok()) {
      std::fflush(stdout);
      throw CommandFailed(out.status().with_context("stdin line " + std::to_string(line_number)),
                          kExitBadInput);
    }
    out->push_back('\n');
    std::fwrite(out->data(), 1, out->size(), stdout);
  }
  std::fflush(stdout);
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* command = app.add_subcommand(
      "tokenize",
      "Tokenize JSON Lines from stdin with the model's tokenizer.json: each line a JSON string, "
      "each output line its ids as a JSON array. With --decode, each line "
      "{\"ids\": [...], \"skip_special_tokens\": bool} and each output line a JSON string.");
  command->add_option("--model", options->model, "Model directory with tokenizer.json, or the file")
      ->required();
  command->add_flag("--decode", options->decode, "Decode ids to text instead of encoding text")
      ->capture_default_str();
  command->callback([options] { run_tokenize(*options); });
}

}  // namespace vcap::cli
