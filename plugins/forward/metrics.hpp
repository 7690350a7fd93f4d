#pragma once
// The forward plugin's families (CoreDNS plugin/forward/metrics.go and
// plugin/pkg/proxy/metrics.go), declared once; counted through
// core/metrics_vec.hpp. Process lifetime: series outlive reloads, as
// CoreDNS's global vectors do.
#include "core/metrics.hpp"

namespace dnscore::plugins::forward::metrics {

using namespace dnscore::metrics;

// Distinct upstream addresses (`to`) per process; past it samples are
// dropped and counted in dnscore_metrics_overflow_total.
constexpr size_t kMaxTo = 1024;

struct Families {
    Families();
    LabelSet to{{"to"}, kMaxTo};
    LabelSet rcode;  // miekg/dns names of 0..23
    LabelSet proto{{"proto"}, 3, {"udp", "tcp", "tcp-tls"}};

    HistogramVec request_duration{"coredns_proxy_request_duration_seconds",
                                  "Histogram of the time each request took.",
                                  {{"proxy_name", "forward"}},
                                  {&to, &rcode},
                                  HistogramVec::exponential(0.00025, 2, 16)};
    CounterVec healthcheck_failures{"coredns_proxy_healthcheck_failures_total",
                                    "Counter of the number of failed healthchecks.", {{"proxy_name", "forward"}}, {&to}};
    CounterVec conn_cache_hits{"coredns_proxy_conn_cache_hits_total",
                               "Counter of connection cache hits per upstream and protocol.",
                               {{"proxy_name", "forward"}}, {&to, &proto}};
    CounterVec conn_cache_misses{"coredns_proxy_conn_cache_misses_total",
                                 "Counter of connection cache misses per upstream and protocol.",
                                 {{"proxy_name", "forward"}}, {&to, &proto}};
    LabelSet shed_reason{{"reason"}, 4, {"max_pending", "max_pending_per_client", "worker_limit", "background"}};
    CounterVec shed{"dnscore_forward_shed_total",
                    "Counter of queries answered SERVFAIL at once because a bound on in-flight work was reached "
                    "(dnscore).",
                    {}, {&shed_reason}};
    CounterVec singleflight_shared{
        "coredns_forward_singleflight_shared_total",
        "Counter of queries answered by an identical upstream query already in flight (dnscore)."};
    CounterVec tls_resumed{"dnscore_forward_tls_resumed_total",
                           "Counter of TLS connections to an upstream that resumed an earlier session (dnscore).",
                           {}, {&to}};
};
// Created and exported on first use; forward.cpp uses it at static
// initialisation so the families exist from process start (C.7.2).
Families& families();
enum ShedReason { kShedMaxPending = 0, kShedPerClient = 1, kShedWorkerLimit = 2, kShedBackground = 3 };
// Exports dnscore's own families (singleflight_shared, shed) from the first forward
// setup on; idempotent.
void export_own_families();

// These two exist even in a binary without forward: declared with the
// process-wide families.
inline CounterVec& healthcheck_broken() { return process_wide().forward_healthcheck_broken_total; }
inline CounterVec& max_concurrent_rejects() { return process_wide().forward_max_concurrent_rejects_total; }

}  // namespace dnscore::plugins::forward::metrics
