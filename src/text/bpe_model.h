// The byte-level BPE model (spec/QWEN2VL.md §4.4 steps 4-6): a vocabulary of byte-level token
// strings and a ranked list of merges, applied to one pre-tokenizer piece at a time.
//
// Encoding a piece starts from one symbol per byte (the token of that byte's table character)
// and repeatedly merges the adjacent pair of lowest rank, leftmost first, until no adjacent pair
// has a rank. A min-heap of candidate pairs over a linked list of symbols makes this
// O(n log n) in the piece length, so long runs (a page of "=====") stay fast.
//
// Thread safety: immutable after create(); encode_piece() may run concurrently as long as each
// thread passes its own BpeScratch.
#ifndef VCAP_TEXT_BPE_MODEL_H_
#define VCAP_TEXT_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "text/pair_map.h"
#include "text/string_id_map.h"

namespace vcap::text {

// Working memory of encode_piece(), reused across pieces to avoid allocations.
struct BpeScratch {
  struct Symbol {
    int32_t id;
    int32_t prev;  // index of the previous live symbol, -1 at the start
    int32_t next;  // index of the next live symbol, -1 at the end
  };
  struct Candidate {
    int32_t rank;
    int32_t left;  // index of the left symbol
    int32_t left_id;
    int32_t right_id;
    int32_t merged_id;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

// One merge rule as written in tokenizer.json: the two token strings it joins.
using MergeStrings = std::pair<std::string_view, std::string_view>;

class BpeModel {
 public:
  // Builds the model. `vocab` maps byte-level token strings to ids (every id in [0, 2^31)).
  // `merges` are in rank order (rank = index); a pair listed twice keeps its last rank, as in HF.
  // Fails when a merge names a token absent from the vocabulary, when the joined token is
  // absent, or when one of the 256 single-byte tokens is missing (every byte must be encodable).
  // With `ignore_merges`, a piece that is itself a vocabulary token is emitted whole.
  static Result<BpeModel> create(StringIdMap vocab, std::span<const MergeStrings> merges,
                                 bool ignore_merges);

  // Appends the ids of `piece` (raw UTF-8 bytes of one pre-tokenizer piece) to `ids`.
  void encode_piece(std::string_view piece, std::vector<int32_t>& ids, BpeScratch& scratch) const;

  // The id of a vocabulary token string (table characters, e.g. "Ġthe").
  std::optional<int32_t> token_to_id(std::string_view token) const { return vocab_.find(token); }

  // Every (token string, id) of the vocabulary, in no particular order.
  const StringIdMap& vocab() const { return vocab_; }

 private:
  BpeModel() = default;
  void merge_symbols(BpeScratch& scratch) const;
  void push_candidate(BpeScratch& scratch, int32_t left) const;

  StringIdMap vocab_;
  PairMap merges_;                       // (left id, right id) -> (rank, merged id)
  std::array<int32_t, 256> byte_ids_{};  // id of the single-byte token of each byte value
  bool ignore_merges_ = false;
};

}  // namespace vcap::text

#endif  // VCAP_TEXT_BPE_MODEL_H_
