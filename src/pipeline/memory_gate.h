// MemoryGate: bounds the host memory that clips hold between decoding and the model.
//
// A decode thread reserves a clip's bytes before decoding it and waits while the reservations
// would go over the capacity. Waiters go in arrival order, so a large clip is not overtaken
// forever by small ones; a clip larger than the whole capacity goes once nothing else is
// reserved, so a run never stalls. A reservation shrinks when its clip is prepared (the decoded
// frames are freed, the model inputs stay) and ends when the model takes the clip or it fails.
// Thread-safe; the gate must outlive its reservations.
#ifndef VCAP_PIPELINE_MEMORY_GATE_H_
#define VCAP_PIPELINE_MEMORY_GATE_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace vcap::pipeline {

class MemoryGate {
 public:
  // Bytes held for one clip; released when destroyed. Move-only.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation() { release(); }

    // Gives back all but `bytes` (no-op when it holds no more than that).
    void shrink_to(uint64_t bytes);
    void release() { shrink_to(0); }
    uint64_t bytes() const { return bytes_; }

   private:
    friend class MemoryGate;
    Reservation(MemoryGate* gate, uint64_t bytes) : gate_(gate), bytes_(bytes) {}
    MemoryGate* gate_ = nullptr;
    uint64_t bytes_ = 0;
  };

  explicit MemoryGate(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}
  MemoryGate(const MemoryGate&) = delete;
  MemoryGate& operator=(const MemoryGate&) = delete;
  // REQUIRES: every reservation has ended (checked: one that outlived it would write freed memory).
  ~MemoryGate();

  // Blocks until `bytes` fit beside what is reserved (or nothing is reserved), in arrival
  // order. After close() it returns at once.
  Reservation reserve(uint64_t bytes);

  // Wakes every waiter and lets all later reserve() calls through: the run is stopping.
  void close();

  uint64_t reserved() const;
  uint64_t peak_reserved() const;  // the most ever reserved at once
  uint64_t waiting() const;        // reserve() calls blocked right now

 private:
  void give_back(uint64_t bytes);

  const uint64_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t reserved_ = 0;
  uint64_t peak_ = 0;
  uint64_t next_ticket_ = 0;  // handed to the next caller of reserve()
  uint64_t serving_ = 0;      // the ticket whose turn it is
  bool closed_ = false;
};

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_MEMORY_GATE_H_
