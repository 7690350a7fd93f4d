#pragma once
// The health plugin's families (CoreDNS plugin/health/metrics.go). They exist
// from process start whatever the Corefile, so they are declared once with
// the process-wide families (core/metrics.hpp); these name them here.
#include "core/metrics.hpp"

namespace dnscore::plugins::health_metrics {

// coredns_health_request_duration_seconds{} (control thread: observe_any).
inline metrics::HistogramVec& request_duration() { return metrics::process_wide().health_request_duration_seconds; }
// coredns_health_request_failures_total{} (control thread: inc_any).
inline metrics::CounterVec& request_failures() { return metrics::process_wide().health_request_failures_total; }

}  // namespace dnscore::plugins::health_metrics
