// The operational endpoints of the real binary with a Corefile shaped like
// the stock node-local-dns one (four blocks sharing one prometheus address,
// health with lameduck in the first), on loopback only. HTTP listeners use
// port 0; the plugins log the bound address ("Serving /metrics on ...") and
// the test reads it from stdout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/catch.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using Clock = std::chrono::steady_clock;
using testing::http_get;
using testing::served_address;

namespace {

const char* kCorefile = R"(cluster.local:0 {
    errors
    bind 127.0.0.1
    whoami
    prometheus 127.0.0.1:0
    health 127.0.0.2:0 {
        lameduck 3s
    }
    ready 127.0.0.3:0
}
in-addr.arpa:0 {
    errors
    bind 127.0.0.1
    whoami
    prometheus 127.0.0.1:0
}
ip6.arpa:0 {
    errors
    bind 127.0.0.1
    whoami
    prometheus 127.0.0.1:0
}
.:0 {
    errors
    bind 127.0.0.1
    whoami
    prometheus 127.0.0.1:0
}
)";

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

const std::string kServer = "server=\"dns://127.0.0.1:0\"";

}  // namespace

TEST_CASE("health, ready and metrics of a node-local-dns shaped Corefile", "[e2e][ops]") {
    testing::ServerProcess sp(kCorefile);
    REQUIRE(sp.started());
    const uint16_t dns = sp.port();
    const std::string metrics = served_address(sp, "prometheus", "/metrics");
    const std::string health = served_address(sp, "health", "/health");
    const std::string ready = served_address(sp, "ready", "/ready");
    INFO(sp.out());
    REQUIRE(metrics.rfind("127.0.0.1:", 0) == 0);
    REQUIRE(health.rfind("127.0.0.2:", 0) == 0);
    REQUIRE(ready.rfind("127.0.0.3:", 0) == 0);
    // Four blocks name the same prometheus address: one listener.
    const std::string out = sp.out();
    std::regex served("Serving /metrics on " + metrics);
    CHECK(std::distance(std::sregex_iterator(out.begin(), out.end(), served), std::sregex_iterator()) == 4);

    SECTION("endpoints") {
        auto h = http_get(health, "/health");
        CHECK(h.status == 200);
        CHECK(h.body == "OK");
        CHECK(h.headers.find("Content-Type: text/plain; charset=utf-8") != std::string::npos);
        CHECK(http_get(health, "/health?x=1").status == 200);
        auto r = http_get(ready, "/ready");
        CHECK(r.status == 200);
        CHECK(r.body == "OK");
        auto m = http_get(metrics, "/metrics");
        CHECK(m.status == 200);
        CHECK(m.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8; escaping=underscores") !=
              std::string::npos);
        for (const auto& [addr, path] : std::vector<std::pair<std::string, std::string>>{
                 {metrics, "/"}, {metrics, "/metricsx"}, {metrics, "/health"}, {health, "/metrics"}, {ready, "/x"}}) {
            auto nf = http_get(addr, path);
            CHECK(nf.status == 404);
            CHECK(nf.body == "404 page not found\n");
        }
        const std::string& t = m.body;
        // Exactly what CoreDNS 1.12.2 in node-cache exports before any query
        // (less go_*): build info and plugin_enabled from the metrics plugin,
        // the label-less families its compiled-in plugins register at init,
        // process_*. Nothing of plugins node-cache does not compile in. Plus
        // dnscore's own TCP connection families (README "TCP connections") and
        // the memory budget's (README "Memory budget").
        std::set<std::string> families;
        for (std::size_t pos = t.find("# TYPE "); pos != std::string::npos; pos = t.find("# TYPE ", pos + 1))
            families.insert(t.substr(pos + 7, t.find('\n', pos) - pos - 7));
        CHECK(families == std::set<std::string>{
                              "coredns_build_info gauge", "coredns_plugin_enabled gauge", "coredns_panics_total counter",
                              "coredns_health_request_duration_seconds histogram",
                              "coredns_health_request_failures_total counter", "coredns_reload_failed_total counter",
                              "coredns_forward_healthcheck_broken_total counter",
                              "coredns_forward_max_concurrent_rejects_total counter",
                              "coredns_hosts_reload_timestamp_seconds gauge", "process_cpu_seconds_total counter",
                              "process_open_fds gauge", "process_max_fds gauge", "process_virtual_memory_bytes gauge",
                              "process_virtual_memory_max_bytes gauge", "process_resident_memory_bytes gauge",
                              "process_start_time_seconds gauge", "process_network_receive_bytes_total counter",
                              "process_network_transmit_bytes_total counter",
                  "dnscore_tcp_connections gauge", "dnscore_tcp_connections_limit gauge", "dnscore_tcp_connections_dropped_total counter",
                  "dnscore_memory_budget_bytes gauge", "dnscore_memory_budget_cache_bytes gauge",
                  "dnscore_memory_budget_inflight_bytes gauge"});
        for (const char* zone : {"cluster.local.", "in-addr.arpa.", "ip6.arpa.", "."})
            for (const char* plugin : {"errors", "prometheus", "whoami"})
                CHECK(has_line(t, std::string("coredns_plugin_enabled{name=\"") + plugin + "\"," + kServer +
                                      ",view=\"\",zone=\"" + zone + "\"} 1"));
        CHECK(t.find("coredns_plugin_enabled{name=\"health\"") == std::string::npos);
        CHECK(t.find("coredns_build_info{goversion=\"g++") != std::string::npos);
    }

    SECTION("values move with traffic") {
        const std::string before = http_get(metrics, "/metrics").body;
        const std::string a_udp = "coredns_dns_requests_total{family=\"1\",proto=\"udp\"," + kServer +
                                  ",type=\"A\",view=\"\",zone=\"cluster.local.\"}";
        const std::string ptr_tcp = "coredns_dns_requests_total{family=\"1\",proto=\"tcp\"," + kServer +
                                    ",type=\"PTR\",view=\"\",zone=\"in-addr.arpa.\"}";
        const std::string noerror = "coredns_dns_responses_total{plugin=\"whoami\",rcode=\"NOERROR\"," + kServer +
                                    ",view=\"\",zone=\"cluster.local.\"}";
        const std::string dropped_req = "coredns_dns_requests_total{family=\"1\",proto=\"udp\"," + kServer +
                                        ",type=\"A\",view=\"\",zone=\"dropped\"}";
        const std::string dropped_resp = "coredns_dns_responses_total{plugin=\"\",rcode=\"REFUSED\"," + kServer +
                                         ",view=\"\",zone=\"dropped\"}";
        const std::string duration = "coredns_dns_request_duration_seconds_count{" + kServer +
                                     ",view=\"\",zone=\"cluster.local.\"}";
        const std::string resp_size = "coredns_dns_response_size_bytes_count{proto=\"udp\"," + kServer +
                                      ",view=\"\",zone=\"cluster.local.\"}";
        const std::string do_req = "coredns_dns_do_requests_total{" + kServer + ",view=\"\",zone=\"cluster.local.\"}";

        testing::QueryOptions dnssec;
        dnssec.edns = true;
        dnssec.do_bit = true;
        for (int i = 0; i < 7; ++i)
            REQUIRE_FALSE(testing::udp_exchange("127.0.0.1", dns, testing::make_query("a.cluster.local.", "A", dnssec)).empty());
        for (int i = 0; i < 3; ++i)
            REQUIRE_FALSE(
                testing::tcp_exchange("127.0.0.1", dns, testing::make_query("1.0.0.127.in-addr.arpa.", "PTR")).empty());
        testing::QueryOptions chaos;
        chaos.qclass = 3;  // CH: REFUSED before any chain, zone "dropped"
        for (int i = 0; i < 2; ++i) {
            auto reply = testing::udp_exchange("127.0.0.1", dns, testing::make_query("x.cluster.local.", "A", chaos));
            REQUIRE(reply.size() >= 12);
            CHECK((reply[3] & 0x0f) == 5);
        }

        const std::string after = http_get(metrics, "/metrics").body;
        INFO(after);
        CHECK(testing::metric_value(after, a_udp) - testing::metric_value(before, a_udp) == 7);
        CHECK(testing::metric_value(after, ptr_tcp) - testing::metric_value(before, ptr_tcp) == 3);
        CHECK(testing::metric_value(after, noerror) - testing::metric_value(before, noerror) == 7);
        CHECK(testing::metric_value(after, duration) - testing::metric_value(before, duration) == 7);
        CHECK(testing::metric_value(after, resp_size) - testing::metric_value(before, resp_size) == 7);
        CHECK(testing::metric_value(after, do_req) - testing::metric_value(before, do_req) == 7);
        CHECK(testing::metric_value(after, dropped_req) - testing::metric_value(before, dropped_req) == 2);
        CHECK(testing::metric_value(after, dropped_resp) - testing::metric_value(before, dropped_resp) == 2);
        CHECK(after.find("coredns_dns_request_duration_seconds_bucket{" + kServer +
                         ",view=\"\",zone=\"cluster.local.\",le=\"0.00025\"}") != std::string::npos);
        CHECK(after.find("coredns_dns_request_size_bytes_bucket{proto=\"tcp\"," + kServer +
                         ",view=\"\",zone=\"in-addr.arpa.\",le=\"64000\"} ") != std::string::npos);

        // The health self-check runs every second against 127.0.0.2.
        double checks = 0;
        for (int i = 0; i < 80 && checks < 1; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            checks = testing::metric_value(http_get(metrics, "/metrics").body, "coredns_health_request_duration_seconds_count");
        }
        CHECK(checks >= 1);
        CHECK(testing::metric_value(http_get(metrics, "/metrics").body, "coredns_health_request_failures_total") == 0);
    }

    SECTION("SIGTERM with lameduck keeps serving, then exits 0") {
        const auto query = testing::make_query("lameduck.cluster.local.", "A");
        REQUIRE_FALSE(testing::udp_exchange("127.0.0.1", dns, query).empty());
        const auto t0 = Clock::now();
        REQUIRE(::kill(sp.pid(), SIGTERM) == 0);
        // Inside the 3 s window: the log line, DNS and /health answer, /ready is gone.
        bool logged = false;
        for (int i = 0; i < 40 && !logged; ++i) {
            logged = sp.out().find("[INFO] plugin/health: Going into lameduck mode for 3s\n") != std::string::npos;
            if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        CHECK(logged);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        CHECK_FALSE(testing::udp_exchange("127.0.0.1", dns, query, 1000).empty());
        CHECK_FALSE(testing::tcp_exchange("127.0.0.1", dns, query, 1000).empty());
        CHECK(http_get(health, "/health", 1000).status == 200);
        CHECK(http_get(ready, "/ready", 1000).status == 0);
        const bool still_in_window = Clock::now() - t0 < std::chrono::milliseconds(2800);
        CHECK(sp.alive() == true);
        INFO("checks done " << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
                            << " ms after SIGTERM");
        CHECK(still_in_window);
        // Then it stops and exits 0.
        while (sp.alive() && Clock::now() - t0 < std::chrono::seconds(15))
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const auto took = Clock::now() - t0;
        CHECK_FALSE(sp.alive());
        CHECK(sp.stop() == 0);
        CHECK(took >= std::chrono::milliseconds(2900));
        CHECK(testing::udp_exchange("127.0.0.1", dns, query, 300).empty());
    }
}
