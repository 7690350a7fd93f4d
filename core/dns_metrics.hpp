#pragma once
// The core DNS metrics of CoreDNS's plugin/metrics/vars (spec C.7.1):
// coredns_dns_{requests,responses,do_requests}_total, the duration and size
// histograms, and coredns_plugin_enabled. Counted per worker into fixed
// arrays indexed by a (server, zone) label slot, without allocation or locks
// on the query path; summed and rendered when /metrics is scraped. Slots
// live for the whole process, so counters survive reloads as Go's do.
#include <cstddef>
#include <string>
#include <string_view>

namespace dnscore {
struct Query;
struct Listener;
struct ServerSet;
}  // namespace dnscore

namespace dnscore::metrics::dns {

constexpr int kMaxSlots = 4096;   // distinct (server, zone) pairs per process
constexpr int kPluginNames = 64;  // distinct `plugin` label values (0 = "")

// The slot of one (server, zone) label pair, created on first use. Takes a
// lock and may allocate: setup, control thread or a worker's first sight of
// a label pair only. Returns -1 when kMaxSlots are in use.
int slot(std::string_view server, std::string_view zone);

// Counts one exchange on the calling worker (index `worker`): requests,
// DO requests, request/response sizes, duration, response by rcode and
// writer. `resp_size` is 0 when the server wrote the reply.
void report(int worker, int slot, const Query& q, int rcode, std::string_view plugin, size_t resp_size,
            double seconds);

// Server side (spec B.3): a reply that never entered a chain (REFUSED for
// no zone / class / empty chain), zone label "dropped", plugin "". Called by
// Worker::handle with the reply already built in q.resp.
void report_dropped(const Query& q, const Listener* listener, size_t resp_size);

// coredns_plugin_enabled{server,zone,view,name} = 1 for every plugin of
// every chain in `set` (kept for the process lifetime, like Go's gauge vec).
void mark_enabled(const ServerSet& set);

// The `type` label of a query type (spec C.7.1, CoreDNS 1.12: SVCB is "other").
std::string_view type_label(unsigned qtype);

// Registers the collector with the global registry (idempotent).
void ensure_registered();

}  // namespace dnscore::metrics::dns
