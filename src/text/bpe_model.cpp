#include "text/bpe_model.h"

#include <algorithm>
#include <functional>

#include "text/byte_level.h"

namespace vcap::text {
namespace {

// Heap order: lowest rank first, then leftmost (symbol indices grow left to right, and a merged
// symbol keeps the index of its left part, so index order is text order).
bool later(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
}

// Built by appends: GCC 12 at -O3 flags `"\"" + std::string(s)` with a false -Wrestrict.
std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  out.append(s);
  out.push_back('"');
  return out;
}

}  // namespace

Result<BpeModel> BpeModel::create(StringIdMap vocab, std::span<const MergeStrings> merges,
                                  bool ignore_merges) {
  BpeModel model;
  model.ignore_merges_ = ignore_merges;
  for (int b = 0; b < 256; ++b) {
    const std::optional<int32_t> id =
        vocab.find(bytes_to_table_text(std::string(1, static_cast<char>(b))));
    if (!id) {
      return Status::unsupported("model.vocab has no token for byte " + std::to_string(b) +
                                 " (a byte-level BPE vocabulary needs all 256)");
    }
    model.byte_ids_[b] = *id;
  }
  std::string joined;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const std::optional<int32_t> left_id = vocab.find(left);
    const std::optional<int32_t> right_id = vocab.find(right);
    joined.assign(left).append(right);
    const std::optional<int32_t> merged_id = vocab.find(joined);
    if (!left_id || !right_id || !merged_id) {
      const std::string_view missing = !left_id ? left : !right_id ? right : joined;
      return Status::invalid_argument("model.merges[" + std::to_string(rank) + "] uses " +
                                      quoted(missing) + ", which is not in model.vocab");
    }
    model.merges_.insert_or_assign(*left_id, *right_id,
                                   MergeRule{static_cast<int32_t>(rank), *merged_id});
  }
  model.vocab_ = std::move(vocab);
  return model;
}

void BpeModel::push_candidate(BpeScratch& scratch, int32_t left) const {
  const int32_t right = scratch.symbols[left].next;
  if (right < 0) return;
  const int32_t left_id = scratch.symbols[left].id;
  const int32_t right_id = scratch.symbols[right].id;
  const MergeRule* rule = merges_.find(left_id, right_id);
  if (rule == nullptr) return;
  scratch.heap.push_back({rule->rank, left, left_id, right_id, rule->merged_id});
  std::push_heap(scratch.heap.begin(), scratch.heap.end(), later);
}

void BpeModel::merge_symbols(BpeScratch& scratch) const {
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  heap.clear();
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_candidate(scratch, i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const BpeScratch::Candidate top = heap.back();
    heap.pop_back();
    // A candidate is stale when either side has been merged away or changed since it was
    // pushed; the pair it stood for no longer exists at that place.
    // A merged-away symbol gets id -1, so candidates that start on it are stale too.
    BpeScratch::Symbol& left = symbols[top.left];
    if (left.id != top.left_id || left.next < 0) continue;
    BpeScratch::Symbol& right = symbols[left.next];
    if (right.id != top.right_id) continue;
    left.id = top.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.id = -1;
    if (left.prev >= 0) push_candidate(scratch, left.prev);
    push_candidate(scratch, top.left);
  }
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>& ids,
                            BpeScratch& scratch) const {
  if (piece.size() == 1) {
    ids.push_back(byte_ids_[static_cast<uint8_t>(piece[0])]);
    return;
  }
  if (ignore_merges_) {
    if (const std::optional<int32_t> whole = vocab_.find(bytes_to_table_text(piece))) {
      ids.push_back(*whole);
      return;
    }
  }
  auto& symbols = scratch.symbols;
  symbols.clear();
  const auto n = static_cast<int32_t>(piece.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({byte_ids_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1});
  }
  merge_symbols(scratch);
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

}  // namespace vcap::text
