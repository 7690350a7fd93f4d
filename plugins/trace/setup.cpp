// trace setup: CoreDNS 1.12 plugin/trace/setup.go traceParse.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "corefile/setup.hpp"
#include "parser/dispenser.hpp"
#include "parser/gostd.hpp"
#include "plugins/trace/metrics.hpp"
#include "plugins/trace/trace.hpp"

namespace dnscore::plugins::trace {

namespace metrics {
CounterVec& dropped() {
    static CounterVec* c = new CounterVec(  // never destroyed: workers may count during exit
        "dnscore_trace_spans_dropped_total",
        "Counter of trace spans dropped: queue full, or disposed from a full backlog (dnscore).");
    return *c;
}
void export_families_once() {
    static const bool done = (export_families({&dropped()}), true);
    (void)done;
}
}  // namespace metrics

namespace {

using parser::ConfigError;

// strconv.ParseBool.
bool parse_bool(const std::string& s) {
    for (const char* t : {"1", "t", "T", "TRUE", "true", "True"})
        if (s == t) return true;
    for (const char* f : {"0", "f", "F", "FALSE", "false", "False"})
        if (s == f) return false;
    throw std::invalid_argument("strconv.ParseBool: parsing " + gostd::quote(s) + ": invalid syntax");
}

// strconv.ParseFloat(s, 64) for the rate (decimal forms).
double parse_float(const std::string& s) {
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(s, &used);
    } catch (...) {
        used = 0;
    }
    if (used != s.size() || s.empty() || std::isspace(static_cast<unsigned char>(s[0])))
        throw std::invalid_argument("strconv.ParseFloat: parsing " + gostd::quote(s) + ": invalid syntax");
    return v;
}

void normalize_endpoint(const std::string& type, std::string ep, Config& c) {
    if (type != "zipkin" && type != "datadog")
        throw std::invalid_argument("tracing endpoint type '" + type + "' is not supported");
    if (type == "datadog")
        throw std::invalid_argument(
            "tracing endpoint type 'datadog' is not supported by dnscore (no Datadog agent client); use zipkin");
    if (ep.empty()) ep = "localhost:9411";
    if (ep.find("http") == std::string::npos) ep = "http://" + ep + "/api/v2/spans";
    if (ep.rfind("http://", 0) != 0)
        throw std::invalid_argument("zipkin endpoint '" + ep +
                                    "' is not supported by dnscore: only http:// URLs (no https)");
    c.endpoint_type = type;
    c.endpoint = ep;
}

int atoi_checked(const std::string& s) { return int(gostd::atoi(s)); }

}  // namespace

Config parse_trace(parser::Dispenser& d) {
    Config c;
    while (d.next()) {
        const auto args = d.remaining_args();
        switch (args.size()) {
            case 0: normalize_endpoint("zipkin", "", c); break;
            case 1: normalize_endpoint("zipkin", args[0], c); break;
            case 2: {
                std::string type = args[0];
                std::transform(type.begin(), type.end(), type.begin(),
                               [](unsigned char ch) { return char(std::tolower(ch)); });
                normalize_endpoint(type, args[1], c);
                break;
            }
            default: throw d.arg_err();
        }
        while (d.next_block()) {
            const std::string v = d.val();
            if (v == "every") {
                const auto a = d.remaining_args();
                if (a.size() != 1) throw d.arg_err();
                c.every = gostd::parse_uint(a[0], 64);
            } else if (v == "service") {
                const auto a = d.remaining_args();
                if (a.size() != 1) throw d.arg_err();
                c.service_name = a[0];
            } else if (v == "client_server") {
                const auto a = d.remaining_args();
                if (a.size() > 1) throw d.arg_err();
                c.client_server = a.empty() ? true : parse_bool(a[0]);
            } else if (v == "datadog_analytics_rate") {
                const auto a = d.remaining_args();
                if (a.size() > 1) throw d.arg_err();
                c.datadog_analytics_rate = a.empty() ? 0 : parse_float(a[0]);
                if (c.datadog_analytics_rate > 1 || c.datadog_analytics_rate < 0) {
                    char buf[64];
                    snprintf(buf, sizeof buf, "%f", c.datadog_analytics_rate);
                    throw std::invalid_argument(std::string("datadog analytics rate must be between 0 and 1, '") +
                                                buf + "' is not supported");
                }
            } else if (v == "zipkin_max_backlog_size") {
                const auto a = d.remaining_args();
                if (a.size() != 1) throw d.arg_err();
                c.max_backlog = atoi_checked(a[0]);
            } else if (v == "zipkin_max_batch_size") {
                const auto a = d.remaining_args();
                if (a.size() != 1) throw d.arg_err();
                c.max_batch_size = atoi_checked(a[0]);
            } else if (v == "zipkin_max_batch_interval") {
                const auto a = d.remaining_args();
                if (a.size() != 1) throw d.arg_err();
                c.max_batch_interval = gostd::parse_duration(a[0]);
            }
            // CoreDNS ignores any other property.
        }
    }
    return c;
}

}  // namespace dnscore::plugins::trace

namespace dnscore::plugins {

void setup_trace(corefile::SetupContext& c) {
    using namespace trace;
    Config cfg = parse_trace(c.d);
    if (c.block.has_bind && !c.block.bind_hosts.empty()) {
        cfg.local_host = c.block.bind_hosts[0];
        cfg.local_port = c.block.ports.empty() ? "" : c.block.ports[0];
    }
    metrics::export_families_once();
    auto p = std::make_shared<Trace>(std::move(cfg));
    c.add_plugin(p);
    std::weak_ptr<Trace> weak = p;
    c.set.on_startup.push_back([weak](Host&) {
        if (auto t = weak.lock()) t->start();
    });
    c.set.on_shutdown.push_back([weak](Host&) {
        if (auto t = weak.lock()) t->stop();
    });
}

}  // namespace dnscore::plugins
