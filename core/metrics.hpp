#pragma once
// The process-wide metrics registry. Nothing here runs on the query path:
// families are declared with core/metrics_vec.hpp (counted per worker) and
// exported as collectors that turn those counts into families when /metrics
// is scraped (control thread). Families with the same name from several
// collectors are merged; output is Prometheus text format 0.0.4 exactly as CoreDNS 1.12
// prints it (sorted families and series, Go %g numbers).
#include <prometheus/metric_family.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/metrics_vec.hpp"

namespace dnscore::metrics {

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

// Families that exist from process start whatever the Corefile: in CoreDNS
// 1.12 each plugin package declares its metrics with promauto at init, in the
// default registry the prometheus plugin serves, so the label-less ones of
// every plugin compiled into node-cache's CoreDNS (its 19 plugins) show from
// the start, used or not. Declared here, not in their plugins, because a
// binary may not link the plugin that counts them (health, reload, forward
// count into these; hosts sets its timestamp when it loads a file, 0 until
// then as in CoreDNS). Plugins outside that set (local, ...)
// are not compiled into node-cache, so none of theirs are here.
struct ProcessWide {
    CounterVec panics_total{"coredns_panics_total", "A metrics that counts the number of panics."};
    CounterVec reload_failed_total{"coredns_reload_failed_total", "Counter of the number of failed reload attempts."};
    CounterVec forward_healthcheck_broken_total{"coredns_forward_healthcheck_broken_total",
                                                "Counter of the number of complete failures of the healthchecks."};
    CounterVec forward_max_concurrent_rejects_total{
        "coredns_forward_max_concurrent_rejects_total",
        "Counter of the number of queries rejected because the concurrent queries were at maximum."};
    CounterVec health_request_failures_total{"coredns_health_request_failures_total",
                                             "The number of times the health check failed."};
    HistogramVec health_request_duration_seconds{"coredns_health_request_duration_seconds",
                                                 "Histogram of the time (in seconds) each request took.",
                                                 {},
                                                 {},
                                                 {0.00025, 0.0025, 0.025, 0.25, 2.5}};
    GaugeVec hosts_reload_timestamp_seconds{"coredns_hosts_reload_timestamp_seconds",
                                            "The timestamp of the last reload of hosts file."};
};
// Never destroyed: workers may count during exit.
ProcessWide& process_wide();

// The families of ProcessWide plus coredns_build_info and the process_*
// collector (/proc), as the global registry renders them. Exposed for tests.
void collect_base(std::vector<Family>& out);

}  // namespace dnscore::metrics
