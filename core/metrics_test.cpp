// The exposition text must match client_golang's byte for byte.
#include "core/metrics.hpp"

#include <atomic>
#include <set>

#include "tests/support/catch.hpp"

using namespace dnscore::metrics;

TEST_CASE("counter and gauge families render sorted with HELP and TYPE", "[metrics]") {
    auto req = counter_family("coredns_dns_requests_total", "Counter of DNS requests made per zone, protocol and family.");
    add_counter(req, {{"zone", "."}, {"server", "dns://:53"}, {"type", "A"}}, 3);
    add_counter(req, {{"zone", "."}, {"server", "dns://:53"}, {"type", "AAAA"}}, 1000000);
    add_counter(req, {{"zone", "."}, {"server", "dns://:53"}, {"type", "A"}}, 2);  // merges with the first
    auto panics = counter_family("coredns_panics_total", "A metrics that counts the number of panics.");
    add_counter(panics, {}, 0);
    auto enabled = gauge_family("coredns_plugin_enabled", "A metric that indicates whether a plugin is enabled on per server and zone basis.");
    add_gauge(enabled, {{"name", "whoami"}, {"server", "dns://:53"}, {"zone", "b."}, {"view", ""}}, 1);
    add_gauge(enabled, {{"name", "errors"}, {"server", "dns://:53"}, {"zone", "a."}, {"view", ""}}, 1);
    auto empty = counter_family("coredns_empty_total", "Never used.");

    const auto text = render_text(merge_families({panics, req, enabled, empty}));
    CHECK(text ==
          "# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n"
          "# TYPE coredns_dns_requests_total counter\n"
          "coredns_dns_requests_total{server=\"dns://:53\",type=\"A\",zone=\".\"} 5\n"
          "coredns_dns_requests_total{server=\"dns://:53\",type=\"AAAA\",zone=\".\"} 1e+06\n"
          "# HELP coredns_panics_total A metrics that counts the number of panics.\n"
          "# TYPE coredns_panics_total counter\n"
          "coredns_panics_total 0\n"
          "# HELP coredns_plugin_enabled A metric that indicates whether a plugin is enabled on per server and zone basis.\n"
          "# TYPE coredns_plugin_enabled gauge\n"
          "coredns_plugin_enabled{name=\"errors\",server=\"dns://:53\",view=\"\",zone=\"a.\"} 1\n"
          "coredns_plugin_enabled{name=\"whoami\",server=\"dns://:53\",view=\"\",zone=\"b.\"} 1\n");
}

TEST_CASE("histograms are cumulative and end with +Inf, _sum, _count", "[metrics]") {
    auto h = histogram_family("coredns_health_request_duration_seconds", "Histogram of the time (in seconds) each request took.");
    add_histogram(h, {}, {0.00025, 0.0025, 0.025, 0.25, 2.5}, {1, 2, 0, 0, 0, 1}, 3.0015);
    auto sized = histogram_family("coredns_dns_response_size_bytes", "Size of the returned response in bytes.");
    add_histogram(sized, {{"zone", "."}, {"proto", "udp"}}, {0, 100}, {0, 4, 1}, 520);
    const auto text = render_text(merge_families({h, sized}));
    CHECK(text ==
          "# HELP coredns_dns_response_size_bytes Size of the returned response in bytes.\n"
          "# TYPE coredns_dns_response_size_bytes histogram\n"
          "coredns_dns_response_size_bytes_bucket{proto=\"udp\",zone=\".\",le=\"0\"} 0\n"
          "coredns_dns_response_size_bytes_bucket{proto=\"udp\",zone=\".\",le=\"100\"} 4\n"
          "coredns_dns_response_size_bytes_bucket{proto=\"udp\",zone=\".\",le=\"+Inf\"} 5\n"
          "coredns_dns_response_size_bytes_sum{proto=\"udp\",zone=\".\"} 520\n"
          "coredns_dns_response_size_bytes_count{proto=\"udp\",zone=\".\"} 5\n"
          "# HELP coredns_health_request_duration_seconds Histogram of the time (in seconds) each request took.\n"
          "# TYPE coredns_health_request_duration_seconds histogram\n"
          "coredns_health_request_duration_seconds_bucket{le=\"0.00025\"} 1\n"
          "coredns_health_request_duration_seconds_bucket{le=\"0.0025\"} 3\n"
          "coredns_health_request_duration_seconds_bucket{le=\"0.025\"} 3\n"
          "coredns_health_request_duration_seconds_bucket{le=\"0.25\"} 3\n"
          "coredns_health_request_duration_seconds_bucket{le=\"2.5\"} 3\n"
          "coredns_health_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
          "coredns_health_request_duration_seconds_sum 3.0015\n"
          "coredns_health_request_duration_seconds_count 4\n");
}

TEST_CASE("label values and help text are escaped as expfmt does", "[metrics]") {
    auto f = gauge_family("x_info", "a \\ b\nc \"q\"");
    add_gauge(f, {{"v", "a\"b\\c\nd"}}, 0.5);
    CHECK(render_text(merge_families({f})) ==
          "# HELP x_info a \\\\ b\\nc \"q\"\n"
          "# TYPE x_info gauge\n"
          "x_info{v=\"a\\\"b\\\\c\\nd\"} 0.5\n");
}

TEST_CASE("same family from two collectors merges; first HELP/TYPE kept", "[metrics]") {
    auto& reg = Registry::global();
    const auto a = reg.add([](std::vector<Family>& out) {
        auto f = counter_family("coredns_reload_failed_total", "Counter of the number of failed reload attempts.");
        add_counter(f, {}, 2);
        out.push_back(f);
        auto g = counter_family("test_merge_total", "first help");
        add_counter(g, {{"k", "b"}}, 1);
        out.push_back(g);
    });
    const auto b = reg.add([](std::vector<Family>& out) {
        auto g = counter_family("test_merge_total", "second help");
        add_counter(g, {{"k", "a"}}, 7);
        out.push_back(g);
    });
    const auto text = reg.render_text();
    CHECK(text.find("# HELP test_merge_total first help\n# TYPE test_merge_total counter\n"
                    "test_merge_total{k=\"a\"} 7\ntest_merge_total{k=\"b\"} 1\n") != std::string::npos);
    CHECK(text.find("second help") == std::string::npos);
    // Base zero series + the collector's series of the same name add up.
    CHECK(text.find("coredns_reload_failed_total 2\n") != std::string::npos);
    reg.remove(a);
    reg.remove(b);
    CHECK(reg.render_text().find("test_merge_total") == std::string::npos);
}

TEST_CASE("base families exist from the start", "[metrics]") {
    const auto text = Registry::global().render_text();
    for (const char* s : {"coredns_panics_total 0\n", "coredns_hosts_reload_timestamp_seconds 0\n",
                          "coredns_health_request_failures_total 0\n",
                          "coredns_health_request_duration_seconds_bucket{le=\"2.5\"} 0\n",
                          "coredns_reload_failed_total 0\n",
                          "coredns_forward_healthcheck_broken_total 0\n",
                          "coredns_forward_max_concurrent_rejects_total 0\n",
                          "# TYPE process_cpu_seconds_total counter\n", "# TYPE process_open_fds gauge\n",
                          "# TYPE process_max_fds gauge\n", "# TYPE process_virtual_memory_bytes gauge\n",
                          "# TYPE process_virtual_memory_max_bytes gauge\n",
                          "# TYPE process_resident_memory_bytes gauge\n",
                          "# TYPE process_start_time_seconds gauge\n", "coredns_build_info{goversion=\"g++"})
        CHECK(text.find(s) != std::string::npos);
    // Exactly the label-less families of node-cache's 19 plugins (CoreDNS
    // registers them with promauto at init), build info and process_*: no
    // plugin outside that set (coredns_local_localhost_requests_total).
    std::vector<Family> fams;
    collect_base(fams);
    std::set<std::string> names;
    for (const auto& f : fams) names.insert(f.name);
    CHECK(names == std::set<std::string>{
                       "coredns_build_info", "coredns_forward_healthcheck_broken_total",
                       "coredns_forward_max_concurrent_rejects_total", "coredns_health_request_duration_seconds",
                       "coredns_health_request_failures_total", "coredns_hosts_reload_timestamp_seconds",
                       "coredns_panics_total", "coredns_reload_failed_total", "process_cpu_seconds_total",
                       "process_max_fds", "process_network_receive_bytes_total",
                       "process_network_transmit_bytes_total", "process_open_fds", "process_resident_memory_bytes",
                       "process_start_time_seconds", "process_virtual_memory_bytes",
                       "process_virtual_memory_max_bytes"});
    CHECK(text.find("coredns_local_") == std::string::npos);
    process_wide().health_request_duration_seconds.observe_any(0.001);
    process_wide().panics_total.inc_any();
    const auto after = Registry::global().render_text();
    CHECK(after.find("coredns_health_request_duration_seconds_bucket{le=\"0.00025\"} 0\n"
                     "coredns_health_request_duration_seconds_bucket{le=\"0.0025\"} 1\n") != std::string::npos);
    CHECK(after.find("coredns_panics_total 1\n") != std::string::npos);
}

TEST_CASE("process metrics read /proc", "[metrics]") {
    std::vector<Family> fams;
    collect_base(fams);
    auto value = [&](const std::string& name) {
        for (const auto& f : fams)
            if (f.name == name) return f.metric.at(0).gauge.value + f.metric.at(0).counter.value;
        return -1.0;
    };
    CHECK(value("process_open_fds") >= 3);
    CHECK(value("process_max_fds") > 0);
    CHECK(value("process_resident_memory_bytes") > 1e5);
    CHECK(value("process_virtual_memory_bytes") > value("process_resident_memory_bytes"));
    CHECK(value("process_start_time_seconds") > 1.6e9);
    CHECK(value("process_cpu_seconds_total") >= 0);
}
