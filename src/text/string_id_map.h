// StringIdMap: an open-addressing hash map from token strings to ids.
//
// All keys live in one contiguous arena, so building the 151k-entry Qwen2 vocabulary costs a
// few large allocations instead of one per entry, and lookups by std::string_view allocate
// nothing.
#ifndef VCAP_TEXT_STRING_ID_MAP_H_
#define VCAP_TEXT_STRING_ID_MAP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vcap::text {

class StringIdMap {
 public:
  // Inserts `key` with `id`, or replaces the id of an existing key. REQUIRES: id >= 0 and the
  // arena stays under 4 GiB.
  void insert_or_assign(std::string_view key, int32_t id);

  std::optional<int32_t> find(std::string_view key) const;

  std::size_t size() const { return size_; }

  // Calls fn(key, id) for every entry, in no particular order.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& slot : slots_) {
      if (slot.id >= 0) fn(key_of(slot), slot.id);
    }
  }

 private:
  struct Slot {
    uint32_t offset;  // into arena_
    uint32_t length;
    int32_t id;  // -1: empty slot
  };
  std::string_view key_of(const Slot& slot) const {
    return std::string_view(arena_).substr(slot.offset, slot.length);
  }
  std::size_t probe_start(std::string_view key) const;
  void grow();

  std::string arena_;
  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace vcap::text

#endif  // VCAP_TEXT_STRING_ID_MAP_H_
