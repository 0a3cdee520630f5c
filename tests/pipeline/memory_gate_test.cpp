#include "pipeline/memory_gate.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace vcap::pipeline {
namespace {

// Spins until `gate` has `count` blocked reserve() calls (each thread has taken its turn).
void wait_for_waiters(const MemoryGate& gate, uint64_t count) {
  while (gate.waiting() < count) std::this_thread::sleep_for(std::chrono::milliseconds(1));
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
  std::thread waiter([&] { late = gate.reserve(5); });
  wait_for_waiters(gate, 1);
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
  std::thread waiter([&] { huge = gate.reserve(25); });
  wait_for_waiters(gate, 1);
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
  std::thread large_waiter([&] { large = gate.reserve(8); });
  wait_for_waiters(gate, 1);
  std::thread small_waiter([&] { small = gate.reserve(3); });
  wait_for_waiters(gate, 2);
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
  std::thread waiter([&] { EXPECT_EQ(gate.reserve(5).bytes(), 5u); });
  wait_for_waiters(gate, 1);
  gate.close();
  waiter.join();
  EXPECT_EQ(gate.reserve(7).bytes(), 7u);
}

}  // namespace
}  // namespace vcap::pipeline
