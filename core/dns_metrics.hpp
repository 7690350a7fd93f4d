#pragma once
// The core DNS metrics of CoreDNS's plugin/metrics/vars (spec C.7.1):
// coredns_dns_{requests,responses,do_requests}_total, the duration and size
// histograms, and coredns_plugin_enabled, declared once below and counted
// through core/metrics_vec.hpp by a (server, zone) label slot, without
// allocation or locks on the query path. Slots live for the whole process,
// so counters survive reloads as Go's do.
#include <cstddef>
#include <string>
#include <string_view>

#include "core/metrics_vec.hpp"

namespace dnscore {
struct Query;
struct Listener;
struct ServerSet;
}  // namespace dnscore

namespace dnscore::metrics::dns {

constexpr int kMaxSlots = 4096;   // distinct (server, zone) pairs per process
constexpr int kPluginNames = 64;  // distinct `plugin` label values (0 = "")
constexpr int kRcodeNames = 32;   // 24 named rcodes + other values seen ("RCODE<n>")

// CoreDNS plugin/metrics/vars. Past a bound (kMaxSlots, kPluginNames,
// kRcodeNames) samples are dropped and counted (core/metrics_vec.hpp).
struct Families {
    Families();
    LabelSet server_zone{{"server", "zone"}, kMaxSlots};
    LabelSet proto;     // udp, tcp
    LabelSet family;    // 1, 2
    LabelSet type;      // vars.monitorType, then "other"
    LabelSet rcode;     // miekg/dns names of 0..23, then RCODE<n> as seen
    LabelSet plugin;    // "" (the server wrote it), then writers as seen
    LabelSet enabled{{"server", "zone", "name"}, kMaxSlots};

    CounterVec requests{"coredns_dns_requests_total", "Counter of DNS requests made per zone, protocol and family.",
                        {{"view", ""}}, {&server_zone, &proto, &family, &type}};
    CounterVec do_requests{"coredns_dns_do_requests_total", "Counter of DNS requests with DO bit set per zone.",
                           {{"view", ""}}, {&server_zone}};
    CounterVec responses{"coredns_dns_responses_total", "Counter of response status codes.", {{"view", ""}},
                         {&server_zone, &rcode, &plugin}};
    HistogramVec duration{"coredns_dns_request_duration_seconds",
                          "Histogram of the time (in seconds) each request took per zone.",
                          {{"view", ""}},
                          {&server_zone},
                          HistogramVec::exponential(0.00025, 2, 16)};
    HistogramVec request_size{"coredns_dns_request_size_bytes",
                              "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
                              {{"view", ""}},
                              {&server_zone, &proto},
                              {0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000}};
    HistogramVec response_size{"coredns_dns_response_size_bytes",
                               "Size of the returned response in bytes.",
                               {{"view", ""}},
                               {&server_zone, &proto},
                               {0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000}};
    GaugeVec plugin_enabled{"coredns_plugin_enabled",
                            "A metric that indicates whether a plugin is enabled on per server and zone basis.",
                            {{"view", ""}}, {&enabled}};
};
// Process lifetime (never destroyed: workers may count during exit).
Families& families();

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
