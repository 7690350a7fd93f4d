#pragma once
// The cache plugin's families (CoreDNS plugin/cache/metrics.go), declared
// once; counted through core/metrics_vec.hpp. One set per cache instance:
// the `zones` label is the instance's and the series go with the instance
// (exported by setup, removed with the instance on reload).
#include <string>
#include <vector>

#include "core/metrics.hpp"

namespace dnscore::plugins::cache::metrics {

using namespace dnscore::metrics;

// Distinct `server` labels (listeners) per instance; past it samples are
// dropped and counted in dnscore_metrics_overflow_total.
constexpr size_t kMaxServers = 256;
enum Type { kDenial = 0, kSuccess = 1 };  // index in `type`
// RFC 8767 mode (beyond CoreDNS), index in `outcome`: how an expired entry's
// query ended.
enum StaleOutcome {
    kStaleClientTimeout = 0,  // the upstream did not answer within the client-response timer: stale
    kStaleUpstreamFailed = 1, // the upstream failed (SERVFAIL, REFUSED, no upstream): stale
    kStaleRecheck = 2,        // within the failure-recheck time: stale without asking
    kStaleRefreshed = 3,      // the upstream answered in time: fresh
};

struct Families {
    // `entries` emits (server, type) -> store size at scrape time, `bytes`
    // what the store charges to the memory budget.
    Families(const std::string& zones, GaugeFunc::Fn entries, GaugeFunc::Fn bytes = {});
    std::vector<const Metric*> all() const;

    Labels base;  // view="", zones=ZONES
    GaugeFunc::Fn entries_fn;
    GaugeFunc::Fn bytes_fn;
    LabelSet server{{"server"}, kMaxServers};
    LabelSet type{{"type"}, 2, {"denial", "success"}};

    GaugeFunc entries{"coredns_cache_entries", "The number of elements in the cache.", base, {"server", "type"},
                      entries_fn};
    // dnscore's own: bytes held against the process memory budget.
    GaugeFunc bytes{"dnscore_cache_bytes", "Bytes the cache holds against the memory budget.", base,
                    {"server", "type"}, bytes_fn};
    CounterVec requests{"coredns_cache_requests_total", "The count of cache requests.", base, {&server}};
    CounterVec hits{"coredns_cache_hits_total", "The count of cache hits.", base, {&server, &type}};
    CounterVec misses{"coredns_cache_misses_total",
                      "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.", base,
                      {&server}};
    CounterVec prefetch{"coredns_cache_prefetch_total", "The number of times the cache has prefetched a cached item.",
                        base, {&server}};
    CounterVec drops{"coredns_cache_drops_total",
                     "The number responses that are not cached, because the reply is malformed.", base, {&server}};
    CounterVec served_stale{"coredns_cache_served_stale_total",
                            "The number of requests served from stale cache entries.", base, {&server}};
    CounterVec evictions{"coredns_cache_evictions_total", "The count of cache evictions.", base, {&server, &type}};
    // dnscore's own: queries a bound on in-flight work below refused
    // (forward's max_pending) that got an expired entry instead of SERVFAIL.
    CounterVec shed_stale{"dnscore_cache_shed_stale_total",
                          "Queries refused by a bound on in-flight work below the cache and answered from an "
                          "expired entry instead of SERVFAIL.",
                          base, {&server}};
    // Exported only by caches with the RFC 8767 mode on (not in all()).
    LabelSet outcome{{"outcome"}, 4, {"client_timeout", "upstream_failed", "recheck", "refreshed"}};
    CounterVec stale_outcomes{"dnscore_cache_rfc8767_total",
                              "Queries for expired entries in the RFC 8767 stale mode, by outcome.", base,
                              {&server, &outcome}};
};

inline Families::Families(const std::string& zones, GaugeFunc::Fn entries, GaugeFunc::Fn bytes)
    : base{{"view", ""}, {"zones", zones}}, entries_fn(std::move(entries)), bytes_fn(std::move(bytes)) {}

inline std::vector<const Metric*> Families::all() const {
    if (bytes_fn)
        return {&entries, &bytes, &requests, &hits, &misses, &prefetch, &drops, &served_stale, &evictions, &shed_stale};
    return {&entries, &requests, &hits, &misses, &prefetch, &drops, &served_stale, &evictions, &shed_stale};
}

}  // namespace dnscore::plugins::cache::metrics
