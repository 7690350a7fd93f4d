#pragma once
// The reload plugin's families (CoreDNS plugin/reload/metrics.go).
#include "core/metrics.hpp"

namespace dnscore::plugins::reload::metrics {

using namespace dnscore::metrics;

// coredns_reload_failed_total{} exists from process start whatever the
// Corefile: declared with the process-wide families (control thread: inc_any).
inline CounterVec& failed() { return process_wide().reload_failed_total; }

// coredns_reload_version_info{hash="sha512",value=HASH} = 1 for the current
// Corefile's hash only, absent until the first detected change: computed at
// scrape time from the watcher (exported once, by the plugin's setup).
GaugeFunc& version_info();

}  // namespace dnscore::plugins::reload::metrics
