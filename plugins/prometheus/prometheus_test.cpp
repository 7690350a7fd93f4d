#include "plugins/prometheus/prometheus.hpp"

#include "corefile/loader.hpp"
#include "core/metrics.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;

namespace {

// Runs `name`/`type` from 127.0.0.1:5353 through a block's chain with the
// real chain runner.
struct Harness {
    testing::ChainHarness chain;
    explicit Harness(const std::string& corefile) : chain(corefile) {}

    testing::TestQuery run(const std::string& name, const std::string& type, bool tcp,
                           const testing::QueryOptions& o = {}) {
        testing::TestQuery t(name, type, o);
        t.tcp(tcp).client("127.0.0.1", 5353);
        REQUIRE_FALSE(chain.run(t).async);  // synchronous chains only
        return t;
    }
};

bool has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

}  // namespace

TEST_CASE("prometheus setup errors follow CoreDNS", "[prometheus]") {
    CHECK(testing::validate_error(".:0 {\n prometheus\n whoami\n}\n").empty());
    CHECK(testing::validate_error(".:0 {\n prometheus :9253 {\n runtime_metrics\n }\n whoami\n}\n").empty());
    CHECK(testing::validate_error(".:0 {\n prometheus a:1 b:2\n}\n") ==
          "plugin/prometheus: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'b:2'");
    CHECK(testing::validate_error(".:0 {\n prometheus localhost\n}\n") ==
          "plugin/prometheus: address localhost: missing port in address");
    CHECK(testing::validate_error(".:0 {\n prometheus\n prometheus :1\n}\n") ==
          "plugin/prometheus: this plugin can only be used once per Server Block");
    CHECK(testing::validate_error(".:0 {\n prometheus :1 {\n bogus\n }\n}\n") ==
          "plugin/prometheus: Corefile:3 - Error during parsing: unknown option: bogus");
}

TEST_CASE("zone label is the longest block zone containing the name", "[prometheus]") {
    plugins::Prometheus p({"example.org.", "sub.example.org."});
    auto zone_of = [&](const std::string& name) {
        auto req = testing::make_query(name, "A");
        wire::QueryInfo info;
        REQUIRE(wire::parse_query(req.data(), req.size(), info) == wire::Verdict::ok);
        return p.zones()[p.zone_index(info)];
    };
    CHECK(zone_of("a.sub.example.org.") == "sub.example.org.");
    CHECK(zone_of("SUB.example.org.") == "sub.example.org.");
    CHECK(zone_of("x.example.org.") == "example.org.");
    CHECK(zone_of("example.com.") == ".");
    CHECK(zone_of(".") == ".");
}

TEST_CASE("exchanges are counted with CoreDNS's labels", "[prometheus]") {
    Harness h("promtest.example:0 sub.promtest.example:0 {\n prometheus 127.0.0.1:0\n whoami\n}\n");
    h.run("a.sub.promtest.example.", "A", false);
    h.run("b.sub.promtest.example.", "A", false);
    testing::QueryOptions dnssec;
    dnssec.edns = true;
    dnssec.do_bit = true;
    h.run("promtest.example.", "SVCB", true, dnssec);
    const std::string text = metrics::Registry::global().render_text();
    INFO(text);
    CHECK(has(text, "coredns_dns_requests_total{family=\"1\",proto=\"udp\",server=\"dns://:0\",type=\"A\",view=\"\",zone=\"sub.promtest.example.\"} 2"));
    CHECK(has(text, "coredns_dns_requests_total{family=\"1\",proto=\"tcp\",server=\"dns://:0\",type=\"other\",view=\"\",zone=\"promtest.example.\"} 1"));
    CHECK(has(text, "coredns_dns_do_requests_total{server=\"dns://:0\",view=\"\",zone=\"promtest.example.\"} 1"));
    CHECK(has(text, "coredns_dns_responses_total{plugin=\"whoami\",rcode=\"NOERROR\",server=\"dns://:0\",view=\"\",zone=\"sub.promtest.example.\"} 2"));
    CHECK(has(text, "coredns_dns_request_duration_seconds_count{server=\"dns://:0\",view=\"\",zone=\"sub.promtest.example.\"} 2"));
    CHECK(has(text, "coredns_dns_request_duration_seconds_bucket{server=\"dns://:0\",view=\"\",zone=\"sub.promtest.example.\",le=\"8.192\"} 2"));
    CHECK(has(text, "coredns_dns_request_size_bytes_bucket{proto=\"udp\",server=\"dns://:0\",view=\"\",zone=\"sub.promtest.example.\",le=\"0\"} 0"));
    CHECK(has(text, "coredns_dns_request_size_bytes_bucket{proto=\"udp\",server=\"dns://:0\",view=\"\",zone=\"sub.promtest.example.\",le=\"100\"} 2"));
    CHECK(has(text, "coredns_dns_response_size_bytes_count{proto=\"tcp\",server=\"dns://:0\",view=\"\",zone=\"promtest.example.\"} 1"));
}

TEST_CASE("a reply the server writes is counted with plugin \"\" and size 0", "[prometheus]") {
    // The chain falls off the end after prometheus: SERVFAIL written by the server.
    Harness h("srvfail.example:0 {\n prometheus 127.0.0.1:0\n}\n");
    auto t = h.run("srvfail.example.", "AAAA", false);
    CHECK_FALSE(t.q.written);
    const std::string text = metrics::Registry::global().render_text();
    INFO(text);
    CHECK(has(text, "coredns_dns_responses_total{plugin=\"\",rcode=\"SERVFAIL\",server=\"dns://:0\",view=\"\",zone=\"srvfail.example.\"} 1"));
    CHECK(has(text, "coredns_dns_response_size_bytes_bucket{proto=\"udp\",server=\"dns://:0\",view=\"\",zone=\"srvfail.example.\",le=\"0\"} 1"));
}

TEST_CASE("-validate sets up prometheus, health and ready without any hook that opens a socket", "[prometheus]") {
    corefile::LoadOptions o;
    o.validate_only = true;
    auto set = corefile::load(".:0 {\n prometheus 127.0.0.1:0\n health 127.0.0.1:0\n ready 127.0.0.1:0\n whoami\n}\n",
                              "Corefile", o);
    CHECK(set->on_startup.empty());
    CHECK(set->on_shutdown.empty());
    CHECK(set->on_final_shutdown.empty());
    auto running = corefile::load(".:0 {\n prometheus 127.0.0.1:0\n health 127.0.0.1:0\n ready 127.0.0.1:0\n whoami\n}\n",
                                  "Corefile", {});
    CHECK(running->on_startup.size() >= 3);
}

TEST_CASE("plugin label: replies written below a cache count as cache, as CoreDNS's call-stack label does",
          "[prometheus]") {
    // CoreDNS names the first plugin on the WriteMsg call stack: cache's
    // ResponseWriter wraps everything below it, log's recorder is no plugin.
    Harness h("labelcache.example:0 {\n prometheus 127.0.0.1:0\n errors\n log\n cache 30 labelcache.example\n whoami\n}\n"
              "labelpass.example:0 {\n prometheus 127.0.0.1:0\n log\n cache 30 other.example\n whoami\n}\n"
              "labelnone.example:0 {\n prometheus 127.0.0.1:0\n whoami\n}\n"
              "labelfail.example:0 {\n prometheus 127.0.0.1:0\n cache 30\n}\n");
    auto miss = h.run("labelcache.example.", "A", false);  // whoami answers the miss
    CHECK(miss.q.written);
    auto hit = h.run("labelcache.example.", "A", false);
    CHECK(hit.q.written);
    h.run("labelpass.example.", "A", false);   // the cache's zones do not hold the name: no wrapper
    h.run("labelnone.example.", "A", false);   // no cache at all
    auto fail = h.run("labelfail.example.", "A", false);  // miss, nothing below writes: the server does
    CHECK_FALSE(fail.q.written);
    const std::string text = metrics::Registry::global().render_text();
    INFO(text);
    auto resp = [](const std::string& plugin, const std::string& rcode, const std::string& zone) {
        return "coredns_dns_responses_total{plugin=\"" + plugin + "\",rcode=\"" + rcode +
               "\",server=\"dns://:0\",view=\"\",zone=\"" + zone + "\"}";
    };
    CHECK(has(text, resp("cache", "NOERROR", "labelcache.example.") + " 2"));
    CHECK(text.find(resp("whoami", "NOERROR", "labelcache.example.")) == std::string::npos);
    CHECK(has(text, resp("whoami", "NOERROR", "labelpass.example.") + " 1"));
    CHECK(has(text, resp("whoami", "NOERROR", "labelnone.example.") + " 1"));
    CHECK(has(text, resp("", "SERVFAIL", "labelfail.example.") + " 1"));
}
