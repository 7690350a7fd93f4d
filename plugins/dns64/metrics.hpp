#pragma once
// The dns64 plugin's family (CoreDNS plugin/dns64/metrics.go).
#include "core/metrics.hpp"
#include "core/metrics_vec.hpp"

namespace dnscore::plugins::dns64::metrics {

using namespace dnscore::metrics;

// Distinct `server` labels (listeners); past it samples are dropped and
// counted in dnscore_metrics_overflow_total.
constexpr size_t kMaxServers = 256;

struct Families {
    LabelSet server{{"server"}, kMaxServers};
    CounterVec translated{"coredns_dns64_requests_translated_total", "Counter of DNS requests translated by dns64.",
                          {}, {&server}};
};

// Created and exported at first use (static initialisation of dns64.cpp:
// the family exists from process start, as CoreDNS's promauto).
Families& families();

}  // namespace dnscore::plugins::dns64::metrics
