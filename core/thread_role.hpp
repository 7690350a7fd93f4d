#pragma once
// Marks a plugin's background thread (dnstap's writer, trace's reporter):
// work that is off the query path by design and may allocate. The allocation
// test (tests/support/alloc_counter) counts every other thread of the server.
namespace dnscore {

inline thread_local bool t_background_thread = false;

}  // namespace dnscore
