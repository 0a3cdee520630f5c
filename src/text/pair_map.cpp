#include "text/pair_map.h"

#include <bit>
#include <utility>

namespace vcap::text {

void PairMap::grow() {
  const std::size_t capacity = slots_.empty() ? 1024 : slots_.size() * 2;
  std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(capacity, Slot{kEmpty, {}}));
  mask_ = capacity - 1;
  shift_ = 64 - std::countr_zero(capacity);
  for (const Slot& slot : old) {
    if (slot.key == kEmpty) continue;
    std::size_t i = slot_of(slot.key);
    while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
}

void PairMap::insert_or_assign(int32_t left, int32_t right, MergeRule rule) {
  // Keep the load factor at most 1/2 so probe sequences stay short.
  if (2 * (size_ + 1) > slots_.size()) grow();
  const uint64_t key = make_key(left, right);
  std::size_t i = slot_of(key);
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
  if (slots_[i].key == kEmpty) ++size_;
  slots_[i] = Slot{key, rule};
}

}  // namespace vcap::text
