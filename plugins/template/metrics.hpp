#pragma once
// The template plugin's families (CoreDNS plugin/template/metrics.go):
// process lifetime, as CoreDNS's global vectors.
#include "core/metrics.hpp"

namespace dnscore::plugins::tmpl::metrics {

using namespace dnscore::metrics;

// Distinct label tuples per family; past it samples are dropped and counted
// in dnscore_metrics_overflow_total.
constexpr size_t kMaxMatchSeries = 4096;
constexpr size_t kMaxFailureSeries = 1024;

struct Families {
    LabelSet match{{"server", "zone", "view", "class", "type"}, kMaxMatchSeries};
    LabelSet failure{{"server", "zone", "view", "class", "type", "section", "template"}, kMaxFailureSeries};
    LabelSet rr_failure{{"server", "zone", "view", "class", "type", "section", "template"}, kMaxFailureSeries};
    CounterVec matches{"coredns_template_matches_total", "Counter of template regex matches.", {}, {&match}};
    CounterVec template_failures{"coredns_template_template_failures_total", "Counter of go template failures.", {},
                                 {&failure}};
    CounterVec rr_failures{"coredns_template_rr_failures_total", "Counter of mis-templated RRs.", {}, {&rr_failure}};
};

// Created on first use; exported with the first template setup.
Families& families();

}  // namespace dnscore::plugins::tmpl::metrics
