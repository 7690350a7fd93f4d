#pragma once
// The hosts plugin's families (CoreDNS plugin/hosts/metrics.go). Process-wide
// as in CoreDNS (promauto at init): coredns_hosts_entries{hostsfile} is set
// by every instance for its file; coredns_hosts_reload_timestamp_seconds is
// declared with the families present from process start (core/metrics.hpp).
#include "core/metrics.hpp"

namespace dnscore::plugins::hosts::metrics {

using namespace dnscore::metrics;

// Distinct hosts files (label values); past it samples are dropped and
// counted in dnscore_metrics_overflow_total.
constexpr size_t kMaxFiles = 64;

struct Families {
    LabelSet file{{"hostsfile"}, kMaxFiles};
    GaugeVec entries{"coredns_hosts_entries", "The combined number of entries in hosts and Corefile.", {}, {&file}};
};

// Exported on first use; never destroyed.
Families& families();

inline GaugeVec& reload_timestamp() { return process_wide().hosts_reload_timestamp_seconds; }

}  // namespace dnscore::plugins::hosts::metrics
