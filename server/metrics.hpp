#pragma once
// The server's own families (dnscore only: CoreDNS has no TCP connection
// limits, so nothing to match). Exported from process start.
#include <array>
#include <atomic>

#include "core/metrics.hpp"

namespace dnscore::server::metrics {

using namespace dnscore::metrics;

// Why a TCP connection was closed by the server rather than by its client.
enum class TcpDrop : int {
    limit = 0,             // accepted past the connection limit: closed at once
    write_queue_full = 1,  // more than the per-connection queue waited to be sent
    write_timeout = 2,     // a reply made no progress within the write timeout
    handshake_limit = 3,   // tls://: too many TLS handshakes pending on the worker
    memory_budget = 4,     // its queued replies did not fit the memory budget's in-flight share
};

struct Families {
    Families();
    LabelSet reason{{"reason"}, 5, {"limit", "write_queue_full", "write_timeout", "handshake_limit", "memory_budget"}};
    CounterVec tcp_dropped{"dnscore_tcp_connections_dropped_total",
                           "Counter of TCP connections the server closed to protect itself, by reason.",
                           {},
                           {&reason}};
    // Open connections per worker (written by that worker only).
    std::array<std::atomic<long>, kMaxWorkers> tcp_open{};
    GaugeFunc tcp_connections;
    // The process's connection limit (fixed, or derived from the memory budget).
    std::atomic<double> tcp_limit{0};
    GaugeFunc tcp_connections_limit;
};
Families& families();

inline void count_drop(int worker, TcpDrop why) { families().tcp_dropped.inc(worker, {int(why)}); }

}  // namespace dnscore::server::metrics
