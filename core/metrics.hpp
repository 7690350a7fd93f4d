#pragma once
// The process-wide metrics registry. Nothing here runs on the query path:
// plugins count in their own per-worker atomics (WorkerLocal) and register a
// collector that turns those counts into families when /metrics is scraped
// (control thread). Families with the same name from several collectors are
// merged; output is Prometheus text format 0.0.4 exactly as CoreDNS 1.12
// prints it (sorted families and series, Go %g numbers).
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dnscore::metrics {

using Family = prometheus::MetricFamily;
using Labels = std::vector<std::pair<std::string, std::string>>;

// Builders for one family (append series with add_* below).
Family counter_family(const std::string& name, const std::string& help);
Family gauge_family(const std::string& name, const std::string& help);
Family histogram_family(const std::string& name, const std::string& help);

void add_counter(Family& f, const Labels& labels, double value);
void add_gauge(Family& f, const Labels& labels, double value);
// `bounds` are the upper bounds without +Inf; `counts` are per-bucket
// (non-cumulative) counts with one extra final entry for +Inf.
void add_histogram(Family& f, const Labels& labels, const std::vector<double>& bounds,
                   const std::vector<uint64_t>& counts, double sum);

class Registry {
public:
    using Collector = std::function<void(std::vector<Family>& out)>;

    static Registry& global();

    // Registers a collector; returns a handle for remove() (a reload drops the
    // old configuration's collectors). Thread-safe.
    uint64_t add(Collector c);
    void remove(uint64_t handle);

    // Runs every collector, merges families by name, sorts. Thread-safe.
    std::vector<Family> collect() const;
    // collect() rendered in the text exposition format.
    std::string render_text() const;

private:
    Registry() = default;
    struct State;
    State& state() const;
};

// Prometheus text format 0.0.4 of already-merged families (CoreDNS's layout).
std::string render_text(const std::vector<Family>& families);

// Content-Type of render_text() output, as client_golang sends it.
inline constexpr const char* kTextContentType =
    "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";

// Merges families by name (first HELP/TYPE wins; series with identical label
// sets are summed, so a zero series from the base families and a plugin's own
// series of the same name add up), drops empty families, sorts label pairs by
// name, series by label values and families by name (client_golang Gather).
std::vector<Family> merge_families(std::vector<Family> in);

// Adds `v` to a single-writer atomic without a locked instruction (the
// per-worker counters: only the owning thread writes, scrapes only load).
inline void bump(std::atomic<uint64_t>& c, uint64_t v = 1) {
    c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}
inline void bump(std::atomic<double>& c, double v) {
    c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}

// Series that exist from process start whatever the Corefile (spec C.7.2),
// owned here so their zero values are always rendered. Any thread may add
// (fetch_add); a plugin may instead register its own series of the same
// name, which merge_families() sums with these.
struct ProcessWide {
    std::atomic<uint64_t> panics_total{0};
    std::atomic<uint64_t> reload_failed_total{0};
    std::atomic<uint64_t> forward_healthcheck_broken_total{0};
    std::atomic<uint64_t> forward_max_concurrent_rejects_total{0};
    std::atomic<uint64_t> health_request_failures_total{0};
    std::atomic<uint64_t> local_localhost_requests_total{0};
    std::atomic<double> hosts_reload_timestamp_seconds{0};

    static constexpr std::array<double, 5> kHealthBuckets{0.00025, 0.0025, 0.025, 0.25, 2.5};
    std::array<std::atomic<uint64_t>, kHealthBuckets.size() + 1> health_duration_counts{};
    std::atomic<double> health_duration_sum{0};
    // Observes one health self-check duration (control thread).
    void observe_health_duration(double seconds);
};
ProcessWide& process_wide();

// The families of ProcessWide plus coredns_build_info and the process_*
// collector (/proc), as the global registry renders them. Exposed for tests.
void collect_base(std::vector<Family>& out);

}  // namespace dnscore::metrics
