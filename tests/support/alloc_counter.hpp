#pragma once
// Counts global operator new calls, for tests that check a path allocates
// nothing. The counting operator new lives in alloc_counter.cpp; a test
// executable opts in by listing that file among its sources (meson:
// 'alloc_counter': true on a unit test), since the global operator new may be
// replaced once per executable.
namespace dnscore::testing::allocs {

// Counting is off until start(); stop() freezes the count.
void start();
void stop();
// Allocations counted since the program started (off periods excluded).
long count();
// Allocations made on the calling thread are never counted (the test's own
// driver thread, an in-process upstream).
void ignore_this_thread();

}  // namespace dnscore::testing::allocs
