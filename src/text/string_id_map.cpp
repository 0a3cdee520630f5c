#include "text/string_id_map.h"

#include <utility>

namespace vcap::text {
namespace {

// FNV-1a, 64 bit: short keys (most tokens are under 8 bytes) make a simple byte loop fastest.
uint64_t hash_bytes(std::string_view key) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (char c : key) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

}  // namespace

std::size_t StringIdMap::probe_start(std::string_view key) const {
  return static_cast<std::size_t>(hash_bytes(key)) & (slots_.size() - 1);
}

void StringIdMap::grow() {
  const std::size_t capacity = slots_.empty() ? 1024 : slots_.size() * 2;
  std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(capacity, Slot{0, 0, -1}));
  for (const Slot& slot : old) {
    if (slot.id < 0) continue;
    std::size_t i = probe_start(key_of(slot));
    while (slots_[i].id >= 0) i = (i + 1) & (capacity - 1);
    slots_[i] = slot;
  }
}

void StringIdMap::insert_or_assign(std::string_view key, int32_t id) {
  // Keep the load factor at most 1/2 so probe sequences stay short.
  if (2 * (size_ + 1) > slots_.size()) grow();
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = probe_start(key);
  while (slots_[i].id >= 0) {
    if (key_of(slots_[i]) == key) {
      slots_[i].id = id;
      return;
    }
    i = (i + 1) & mask;
  }
  slots_[i] = Slot{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), id};
  arena_.append(key);
  ++size_;
}

std::optional<int32_t> StringIdMap::find(std::string_view key) const {
  if (slots_.empty()) return std::nullopt;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = probe_start(key); slots_[i].id >= 0; i = (i + 1) & mask) {
    if (key_of(slots_[i]) == key) return slots_[i].id;
  }
  return std::nullopt;
}

}  // namespace vcap::text
