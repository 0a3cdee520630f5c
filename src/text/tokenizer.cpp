#include "text/tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <system_error>

#include "text/added_tokens.h"
#include "text/bpe_model.h"
#include "text/byte_level.h"
#include "text/read_file.h"
#include "text/regex_splitter.h"
#include "text/tokenizer_json.h"
#include "text/utf8.h"

namespace vcap::text {

namespace {

// What an id decodes to.
enum class IdKind : uint8_t { kNone, kNormal, kSpecial };

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// `text` in NFC; `storage` holds the result when it differs from the input.
// REQUIRES: `text` is valid UTF-8.
std::string_view to_nfc(std::string_view text, std::string& storage) {
  // Every code point below U+0300 is NFC-stable and composes with nothing before it, so text
  // whose bytes are all below 0xCC (the lead byte of U+0300) is already in NFC.
  const bool maybe_changes =
      std::any_of(text.begin(), text.end(), [](char c) { return static_cast<uint8_t>(c) >= 0xCC; });
  if (!maybe_changes) return text;
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::unique_ptr<utf8proc_uint8_t, FreeDeleter> owned(mapped);
  // utf8proc only fails on invalid UTF-8 or out of memory; the text is valid, so keep it as is.
  if (length < 0) return text;
  storage.assign(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(length));
  return storage;
}

}  // namespace

struct Tokenizer::Impl {
  bool nfc;
  RegexSplitter splitter;
  AddedTokenMatcher added;
  StringIdMap added_ids;  // added token text -> id
  BpeModel model;
  std::string decoded_bytes;             // bytes of every id, back to back
  std::vector<uint32_t> decoded_offset;  // id -> start in decoded_bytes; one extra at the end
  std::vector<IdKind> kinds;             // id -> what it is

  void encode_plain(std::string_view text, std::vector<int32_t>& ids, BpeScratch& scratch,
                    std::vector<std::string_view>& pieces, std::string& storage) const;
  void build_decode_tables(const std::vector<AddedToken>& added_tokens);
};

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& ids,
                                   BpeScratch& scratch, std::vector<std::string_view>& pieces,
                                   std::string& storage) const {
  if (text.empty()) return;
  const std::string_view normalized = nfc ? to_nfc(text, storage) : text;
  pieces.clear();
  splitter.split(normalized, pieces);
  for (std::string_view piece : pieces) model.encode_piece(piece, ids, scratch);
}

void Tokenizer::Impl::build_decode_tables(const std::vector<AddedToken>& added_tokens) {
  int32_t max_id = -1;
  model.vocab().for_each([&](std::string_view, int32_t id) { max_id = std::max(max_id, id); });
  for (const AddedToken& token : added_tokens) max_id = std::max(max_id, token.id);
  const auto size = static_cast<std::size_t>(max_id + 1);
  // Per id, the token text: added tokens take precedence over the vocabulary (HF's
  // id_to_token order).
  std::vector<std::string_view> texts(size);
  kinds.assign(size, IdKind::kNone);
  model.vocab().for_each([&](std::string_view token, int32_t id) {
    texts[id] = token;
    kinds[id] = IdKind::kNormal;
  });
  for (const AddedToken& token : added_tokens) {
    texts[token.id] = token.content;
    kinds[token.id] = token.special ? IdKind::kSpecial : IdKind::kNormal;
  }
  decoded_offset.resize(size + 1);
  for (std::size_t id = 0; id < size; ++id) {
    decoded_offset[id] = static_cast<uint32_t>(decoded_bytes.size());
    decoded_bytes += table_text_to_bytes(texts[id]);
  }
  decoded_offset[size] = static_cast<uint32_t>(decoded_bytes.size());
}

Result<Tokenizer> Tokenizer::load_from_json_text(std::string_view json_text) {
  Result<TokenizerParts> parts = parse_tokenizer_json(json_text);
  if (!parts.ok()) return parts.status();
  Result<RegexSplitter> splitter =
      RegexSplitter::compile(parts->split_pattern, parts->split_pattern_is_literal);
  if (!splitter.ok()) return splitter.status().with_context("pre_tokenizer.pretokenizers[0]");
  auto impl = std::make_shared<Impl>(Impl{parts->nfc,
                                          std::move(splitter).value(),
                                          AddedTokenMatcher(parts->added_tokens),
                                          StringIdMap(),
                                          std::move(parts->model),
                                          {},
                                          {},
                                          {}});
  for (const AddedToken& token : parts->added_tokens) {
    impl->added_ids.insert_or_assign(token.content, token.id);
  }
  impl->build_decode_tables(parts->added_tokens);
  return Tokenizer(std::move(impl));
}

Result<Tokenizer> Tokenizer::load(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(path, error)) file = path / "tokenizer.json";
  if (!std::filesystem::exists(file, error)) {
    return Status::not_found(file.string() +
                             (file == path ? ": no such file or directory (a tokenizer.json or a "
                                             "model directory that holds one)"
                                           : ": no such file"));
  }
  Result<std::string> text = read_file(file);
  if (!text.ok()) return text.status().with_context(file.string());
  Result<Tokenizer> tokenizer = load_from_json_text(*text);
  if (!tokenizer.ok()) return tokenizer.status().with_context(file.string());
  return tokenizer;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = repair_utf8(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  BpeScratch scratch;
  std::vector<std::string_view> pieces;
  std::string storage;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::optional<AddedTokenMatcher::Match> match = impl_->added.find(text, pos);
    const std::size_t end = match ? match->offset : text.size();
    impl_->encode_plain(text.substr(pos, end - pos), ids, scratch, pieces, storage);
    if (!match) break;
    ids.push_back(match->id);
    pos = match->offset + match->length;
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::string bytes;
  for (const int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= impl.kinds.size()) continue;
    const IdKind kind = impl.kinds[id];
    if (kind == IdKind::kNone || (skip_special_tokens && kind == IdKind::kSpecial)) continue;
    const uint32_t begin = impl.decoded_offset[id];
    bytes.append(impl.decoded_bytes, begin, impl.decoded_offset[id + 1] - begin);
  }
  return repair_utf8(bytes);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const std::optional<int32_t> id = impl_->added_ids.find(token)) return id;
  return impl_->model.token_to_id(token);
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->kinds.size()); }

}  // namespace vcap::text
