#include "pipeline/memory_gate.h"

#include <algorithm>
#include <utility>

#include "base/check.h"

namespace vcap::pipeline {

MemoryGate::Reservation::Reservation(Reservation&& other) noexcept
    : gate_(std::exchange(other.gate_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

MemoryGate::Reservation& MemoryGate::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    release();
    gate_ = std::exchange(other.gate_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void MemoryGate::Reservation::shrink_to(uint64_t bytes) {
  if (gate_ == nullptr || bytes >= bytes_) return;
  gate_->give_back(bytes_ - bytes);
  bytes_ = bytes;
}

MemoryGate::~MemoryGate() {
  VCAP_CHECK(reserved_ == 0, "MemoryGate destroyed while clips still hold reservations");
}

MemoryGate::Reservation MemoryGate::reserve(uint64_t bytes) {
  std::unique_lock lock(mutex_);
  const uint64_t ticket = next_ticket_++;
  changed_.wait(lock, [&] {
    return closed_ || (ticket == serving_ && (reserved_ == 0 || reserved_ + bytes <= capacity_));
  });
  ++serving_;
  reserved_ += bytes;
  peak_ = std::max(peak_, reserved_);
  changed_.notify_all();  // the next ticket may fit too
  return Reservation(this, bytes);
}

void MemoryGate::give_back(uint64_t bytes) {
  std::lock_guard lock(mutex_);
  reserved_ -= bytes;
  changed_.notify_all();
}

void MemoryGate::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  changed_.notify_all();
}

uint64_t MemoryGate::reserved() const {
  std::lock_guard lock(mutex_);
  return reserved_;
}

uint64_t MemoryGate::peak_reserved() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

uint64_t MemoryGate::waiting() const {
  std::lock_guard lock(mutex_);
  return next_ticket_ - serving_;
}

}  // namespace vcap::pipeline
