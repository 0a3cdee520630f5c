// Large per-clip host buffers (a 10 s clip's resized frames: 34 MB; its bf16 pixel values:
// 68 MB) are fresh memory every clip: glibc maps them anew, and the kernel then takes one page
// fault per 4 KiB page on first touch (17000 for 68 MB, about as long as writing the values).
// Advised before that first touch, the kernel backs them with transparent huge pages where it
// can (a fault per 2 MiB). It is only advice: where THP is off, nothing changes.
#ifndef VCAP_BASE_HUGE_PAGES_H_
#define VCAP_BASE_HUGE_PAGES_H_

#include <cstddef>
#include <vector>

namespace vcap {

// madvise(MADV_HUGEPAGE) on the 2 MiB-aligned part of [data, data + bytes).
void advise_huge_pages(void* data, size_t bytes);

// v.reserve(count), then the advice on the new capacity. Best on an empty vector: pages that
// its elements already touched stay as they are (the advice does them no harm).
template <class T>
void reserve_on_huge_pages(std::vector<T>& v, size_t count) {
  v.reserve(count);
  advise_huge_pages(v.data(), v.capacity() * sizeof(T));
}

}  // namespace vcap

#endif  // VCAP_BASE_HUGE_PAGES_H_
