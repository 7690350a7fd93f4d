#pragma once
// The process-wide metrics registry. Nothing here runs on the query path:
// plugins count in their own per-worker atomics (WorkerLocal) and register a
// collector that turns those counts into families when /metrics is scraped
// (control thread). Families with the same name from several collectors are
// merged; output is Prometheus text format 0.0.4 exactly as CoreDNS 1.12
// prints it (sorted families and series, Go %g numbers).
#include <prometheus/metric_family.h>

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

}  // namespace dnscore::metrics
