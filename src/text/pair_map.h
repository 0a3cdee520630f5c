// PairMap: an open-addressing hash map from a pair of token ids to the merge it forms.
//
// The BPE merge loop looks up every adjacent pair of every piece; a flat table with linear
// probing does that without pointer chasing or allocation, which std::unordered_map cannot.
#ifndef VCAP_TEXT_PAIR_MAP_H_
#define VCAP_TEXT_PAIR_MAP_H_

#include <cstdint>
#include <vector>

namespace vcap::text {

struct MergeRule {
  int32_t rank;       // position in the merge list; lower merges first
  int32_t merged_id;  // id of the joined token
};

class PairMap {
 public:
  // Inserts or replaces the rule of (left, right). REQUIRES: 0 <= left, right < 2^31.
  void insert_or_assign(int32_t left, int32_t right, MergeRule rule);

  // The rule of (left, right), or nullptr.
  const MergeRule* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = make_key(left, right);
    for (std::size_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return &slot.rule;
      if (slot.key == kEmpty) return nullptr;
    }
  }

  std::size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key;
    MergeRule rule;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // no pair of valid ids has this key

  static uint64_t make_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  std::size_t slot_of(uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }
  void grow();

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  int shift_ = 64;
  std::size_t size_ = 0;
};

}  // namespace vcap::text

#endif  // VCAP_TEXT_PAIR_MAP_H_
