#pragma once
// dnstap's family. CoreDNS 1.12 has none (it only logs "Dropped dnstap
// messages: N" every second); dnscore also counts the drops.
#include "core/metrics.hpp"

namespace dnscore::plugins::dnstap::metrics {

using namespace dnscore::metrics;

// dnscore_dnstap_dropped_total: messages not delivered (a worker's ring
// full, no connection to the sink, a failed write). Exported by the first
// dnstap setup, so a scrape without dnstap has exactly CoreDNS's families.
CounterVec& dropped();
void export_families_once();

}  // namespace dnscore::plugins::dnstap::metrics
