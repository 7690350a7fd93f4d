#pragma once
// trace's family. CoreDNS 1.12 has none (zipkin-go logs "backlog too long,
// disposing N spans"); dnscore also counts what it drops.
#include "core/metrics.hpp"

namespace dnscore::plugins::trace::metrics {

using namespace dnscore::metrics;

// dnscore_trace_spans_dropped_total: spans not sent: a worker's ring full,
// or disposed from a full backlog while the collector was unreachable.
// Exported by the first trace setup.
CounterVec& dropped();
void export_families_once();

}  // namespace dnscore::plugins::trace::metrics
