#include "pipeline/memory_gate.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace vcap::pipeline {
namespace {

// A thread reserving `bytes` of `gate` into `into`, returned once that call waits in the gate
// (it has taken its turn, after the calls already waiting).
std::thread reserve_blocked(MemoryGate& gate, uint64_t bytes, MemoryGate::Reservation& into) {
  const uint64_t waiting = gate.waiting();
  std::thread thread([&gate, bytes, &into] { into = gate.reserve(bytes); });
  while (gate.waiting() == waiting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return thread;
}

TEST(MemoryGate, ReservationsWithinCapacityGoAtOnceAndEndWithTheirOwners) {
  MemoryGate gate(10);
  {
    MemoryGate::Reservation a = gate.reserve(4);
    MemoryGate::Reservation b = gate.reserve(6);
    EXPECT_EQ(gate.reserved(), 10u);
    MemoryGate::Reservation moved = std::move(a);
    EXPECT_EQ(a.bytes(), 0u);
    EXPECT_EQ(moved.bytes(), 4u);
    b.shrink_to(2);
    EXPECT_EQ(gate.reserved(), 6u);
    b.shrink_to(5);  // never grows
    EXPECT_EQ(b.bytes(), 2u);
  }
  EXPECT_EQ(gate.reserved(), 0u);
  EXPECT_EQ(gate.peak_reserved(), 10u);
}

TEST(MemoryGate, AReservationOverCapacityWaitsUntilEnoughIsGivenBack) {
  MemoryGate gate(10);
  MemoryGate::Reservation held = gate.reserve(8);
  MemoryGate::Reservation late;
  std::thread waiter = reserve_blocked(gate, 5, late);
  EXPECT_EQ(gate.reserved(), 8u);
  held.shrink_to(5);  // 5 + 5 fits
  waiter.join();
  EXPECT_EQ(late.bytes(), 5u);
  EXPECT_EQ(gate.reserved(), 10u);
  EXPECT_EQ(gate.peak_reserved(), 10u);
}

TEST(MemoryGate, AClipLargerThanTheCapacityGoesAloneOnceNothingElseIsHeld) {
  MemoryGate gate(10);
  MemoryGate::Reservation held = gate.reserve(3);
  MemoryGate::Reservation huge;
  std::thread waiter = reserve_blocked(gate, 25, huge);
  held.release();
  waiter.join();
  EXPECT_EQ(gate.reserved(), 25u);
  huge.release();
  EXPECT_EQ(gate.reserve(30).bytes(), 30u);  // nothing held: goes at once
}

TEST(MemoryGate, WaitersGoInArrivalOrderSoSmallClipsCannotStarveALargeOne) {
  MemoryGate gate(10);
  MemoryGate::Reservation held = gate.reserve(10);
  MemoryGate::Reservation large;
  MemoryGate::Reservation small;
  std::thread large_waiter = reserve_blocked(gate, 8, large);
  std::thread small_waiter = reserve_blocked(gate, 3, small);
  held.shrink_to(5);  // the small one would fit now, the large one not: both wait
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(gate.waiting(), 2u);
  held.release();  // the large one goes; 8 + 3 is over: the small one waits for it
  large_waiter.join();
  EXPECT_EQ(large.bytes(), 8u);
  EXPECT_EQ(gate.waiting(), 1u);
  large.release();
  small_waiter.join();
  EXPECT_EQ(small.bytes(), 3u);
  EXPECT_EQ(gate.peak_reserved(), 10u);
}

TEST(MemoryGate, CloseLetsEveryWaiterThrough) {
  MemoryGate gate(1);
  MemoryGate::Reservation held = gate.reserve(1);
  MemoryGate::Reservation late;
  std::thread waiter = reserve_blocked(gate, 5, late);
  gate.close();
  waiter.join();
  EXPECT_EQ(late.bytes(), 5u);
  EXPECT_EQ(gate.reserve(7).bytes(), 7u);
}

}  // namespace
}  // namespace vcap::pipeline
