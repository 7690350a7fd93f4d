// forward setup: Corefile snippets -> accepted with the expected options, or
// CoreDNS 1.12's exact error text.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/metrics.hpp"
#include "corefile/loader.hpp"
#include "plugins/forward/forward.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;
using namespace dnscore::plugins::forward;

namespace {

std::string load_error(const std::string& body) { return testing::load_error(".:1053 {\n" + body + "\n}\n"); }

std::vector<const Forward*> forwards(const std::string& body) {
    static std::shared_ptr<ServerSet> keep;
    keep = corefile::load(".:1053 {\n" + body + "\n}\n", "Corefile", {});
    std::vector<const Forward*> out;
    for (auto* p : keep->blocks[0]->chain)
        if (p->name() == "forward") out.push_back(static_cast<const Forward*>(p));
    return out;
}

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text) {
        char tmpl[] = "/tmp/fwd-resolv-XXXXXX";
        int fd = mkstemp(tmpl);
        REQUIRE(fd >= 0);
        ::close(fd);
        path = tmpl;
        std::ofstream(path) << text;
    }
    ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("forward setup: defaults", "[forward][setup]") {
    auto fs = forwards("forward . 10.0.0.1");
    REQUIRE(fs.size() == 1);
    const auto& o = fs[0]->options();
    CHECK(o.from == ".");
    REQUIRE(o.upstreams.size() == 1);
    CHECK(o.upstreams[0].to == "10.0.0.1:53");
    CHECK_FALSE(o.upstreams[0].tls);
    CHECK(o.max_fails == 2);
    CHECK(o.expire == std::chrono::seconds(10));
    CHECK(o.hc_interval == std::chrono::milliseconds(500));
    CHECK(o.hc_domain == ".");
    CHECK(o.hc_recursion_desired);
    CHECK(o.policy == Policy::random);
    CHECK(o.max_concurrent == 0);
    CHECK(o.max_pending == 0);
    CHECK(o.max_pending_per_client == 0);
    CHECK_FALSE(o.force_tcp);
    CHECK_FALSE(o.prefer_udp);
    CHECK_FALSE(o.failfast_all_unhealthy);
}

TEST_CASE("forward setup: TO forms", "[forward][setup]") {
    auto fs = forwards("forward EXAMPLE.org 1.2.3.4:5353 [::1]:53 ::2 dns://10.0.0.2 dns://10.0.0.3:54 "
                       "tls://10.0.0.4 tls://10.0.0.5%dns.example:8853");
    REQUIRE(fs.size() == 1);
    const auto& o = fs[0]->options();
    CHECK(o.from == "example.org.");
    std::vector<std::string> to;
    for (const auto& u : o.upstreams) to.push_back(u.to);
    CHECK(to == std::vector<std::string>{"1.2.3.4:5353", "[::1]:53", "[::2]:53", "10.0.0.2:53", "10.0.0.3:54",
                                         "10.0.0.4:853", "10.0.0.5:8853"});
    CHECK(o.upstreams[5].tls);
    CHECK(o.upstreams[5].servername.empty());
    CHECK(o.upstreams[6].tls);
    CHECK(o.upstreams[6].servername == "dns.example");
}

TEST_CASE("forward setup: options", "[forward][setup]") {
    auto fs = forwards(
        "forward . 10.0.0.1 10.0.0.2 {\n except Foo.com bar.com\n force_tcp\n prefer_udp\n expire 20s\n"
        " max_fails 3\n tls_servername dns.example\n policy round_robin\n"
        " health_check 1s no_rec domain Example.NET\n max_concurrent 100\n next NXDOMAIN servfail\n"
        " failfast_all_unhealthy_upstreams\n}");
    REQUIRE(fs.size() == 1);
    const auto& o = fs[0]->options();
    CHECK(o.except == std::vector<std::string>{"foo.com.", "bar.com."});
    CHECK(o.force_tcp);
    CHECK(o.prefer_udp);
    CHECK(o.expire == std::chrono::seconds(20));
    CHECK(o.max_fails == 3);
    CHECK(o.tls_servername == "dns.example");
    CHECK(o.policy == Policy::round_robin);
    CHECK(o.hc_interval == std::chrono::seconds(1));
    CHECK_FALSE(o.hc_recursion_desired);
    CHECK(o.hc_domain == "example.net.");
    CHECK(o.max_concurrent == 100);
    CHECK(o.max_concurrent_error == "concurrent queries exceeded maximum 100");
    CHECK(o.next_rcodes == std::vector<int>{3, 2});
    CHECK(o.failfast_all_unhealthy);
}

TEST_CASE("forward setup: several lines chain in order", "[forward][setup]") {
    auto fs = forwards("forward example.org 10.0.0.1\n forward . 10.0.0.2");
    REQUIRE(fs.size() == 2);
    CHECK(fs[0]->options().from == "example.org.");
    CHECK(fs[1]->options().from == ".");
}

TEST_CASE("forward setup: resolv.conf files", "[forward][setup]") {
    TempFile f("# comment\nsearch example.org\nnameserver 10.1.1.1\nnameserver   fd00::53  \noptions ndots:5\n"
               "nameserver\n");
    auto fs = forwards("forward . " + f.path);
    REQUIRE(fs.size() == 1);
    std::vector<std::string> to;
    for (const auto& u : fs[0]->options().upstreams) to.push_back(u.to);
    CHECK(to == std::vector<std::string>{"10.1.1.1:53", "[fd00::53]:53"});

    TempFile empty("search example.org\n");
    CHECK(load_error("forward . " + empty.path) == "plugin/forward: no nameservers found");
    // A file without nameservers contributes nothing; others still count.
    CHECK(forwards("forward . " + empty.path + " 10.0.0.9")[0]->options().upstreams.size() == 1);
}

TEST_CASE("forward setup: errors", "[forward][setup]") {
    struct Case {
        std::string body, error;
    };
    const Case cases[] = {
        {"forward", "plugin/forward: Corefile:2 - Error during parsing: Wrong argument count or unexpected line "
                    "ending after 'forward'"},
        {"forward .", "plugin/forward: Corefile:2 - Error during parsing: Wrong argument count or unexpected line "
                      "ending after '.'"},
        {"forward . foo.example", "plugin/forward: not an IP address or file: \"foo.example\""},
        {"forward . /nonexistent/resolv.conf",
         "plugin/forward: not an IP address or file: \"/nonexistent/resolv.conf\""},
        {"forward . https://10.0.0.1",
         "plugin/forward: 'https' is not supported as a destination protocol in forward: https://10.0.0.1:443"},
        {"forward . grpc://10.0.0.1:443",
         "plugin/forward: 'grpc' is not supported as a destination protocol in forward: grpc://10.0.0.1:443"},
        {"forward . 1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9 1.1.1.10 1.1.1.11 "
         "1.1.1.12 1.1.1.13 1.1.1.14 1.1.1.15 1.1.1.16",
         "plugin/forward: more than 15 TOs configured: 16"},
        {"forward . 10.0.0.1 {\n bogus\n}",
         "plugin/forward: Corefile:3 - Error during parsing: unknown property 'bogus'"},
        // Options CoreDNS added after 1.12 are unknown there.
        {"forward . 10.0.0.1 {\n failover SERVFAIL\n}",
         "plugin/forward: Corefile:3 - Error during parsing: unknown property 'failover'"},
        {"forward . 10.0.0.1 {\n max_connect_attempts 3\n}",
         "plugin/forward: Corefile:3 - Error during parsing: unknown property 'max_connect_attempts'"},
        {"forward . 10.0.0.1 {\n max_age 30s\n}",
         "plugin/forward: Corefile:3 - Error during parsing: unknown property 'max_age'"},
        {"forward . 10.0.0.1 {\n read_timeout 1s\n}",
         "plugin/forward: Corefile:3 - Error during parsing: unknown property 'read_timeout'"},
        {"forward . 10.0.0.1 {\n except\n}",
         "plugin/forward: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending "
         "after 'except'"},
        {"forward . 10.0.0.1 {\n max_fails -1\n}",
         "plugin/forward: strconv.ParseUint: parsing \"-1\": invalid syntax"},
        {"forward . 10.0.0.1 {\n max_fails x\n}", "plugin/forward: strconv.ParseUint: parsing \"x\": invalid syntax"},
        {"forward . 10.0.0.1 {\n health_check -1s\n}", "plugin/forward: health_check can't be negative: -1000000000"},
        {"forward . 10.0.0.1 {\n health_check 1\n}", "plugin/forward: time: missing unit in duration \"1\""},
        {"forward . 10.0.0.1 {\n health_check 1s bogus\n}", "plugin/forward: health_check: unknown option bogus"},
        {"forward . 10.0.0.1 {\n health_check 1s domain\n}",
         "plugin/forward: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending "
         "after 'domain'"},
        {"forward . 10.0.0.1 {\n force_tcp yes\n}",
         "plugin/forward: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending "
         "after 'yes'"},
        {"forward . 10.0.0.1 {\n expire -1s\n}", "plugin/forward: expire can't be negative: -1s"},
        {"forward . 10.0.0.1 {\n policy fastest\n}",
         "plugin/forward: Corefile:3 - Error during parsing: unknown policy 'fastest'"},
        {"forward . 10.0.0.1 {\n max_concurrent -5\n}", "plugin/forward: max_concurrent can't be negative: -5"},
        {"forward . 10.0.0.1 {\n max_concurrent many\n}",
         "plugin/forward: strconv.Atoi: parsing \"many\": invalid syntax"},
        {"forward . 10.0.0.1 {\n max_pending -1\n}", "plugin/forward: max_pending can't be negative: -1"},
        {"forward . 10.0.0.1 {\n max_pending_per_client x\n}",
         "plugin/forward: strconv.Atoi: parsing \"x\": invalid syntax"},
        {"forward . 10.0.0.1 {\n max_pending_per_client\n}",
         "plugin/forward: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending "
         "after 'max_pending_per_client'"},
        {"forward . 10.0.0.1 {\n next BOGUS\n}", "plugin/forward: BOGUS is not a valid rcode"},
        {"forward . 10.0.0.1 {\n next\n}",
         "plugin/forward: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending "
         "after 'next'"},
        {"forward . 10.0.0.1 {\n failfast_all_unhealthy_upstreams now\n}",
         "plugin/forward: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending "
         "after 'now'"},
        {"forward . 10.0.0.1 {\n tls a b c d\n}",
         "plugin/forward: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending "
         "after 'd'"},
        {"forward . tls://10.0.0.1%a.example {\n tls_servername b.example\n}",
         "plugin/forward: both forward ('b.example') and proxy level ('a.example') TLS servernames are set for "
         "upstream proxy 'tls://10.0.0.1:853'"},
    };
    for (const auto& c : cases) {
        INFO(c.body);
        CHECK(load_error(c.body) == c.error);
    }
}

TEST_CASE("forward setup: accepted edge cases", "[forward][setup]") {
    CHECK(load_error("forward . 10.0.0.1 {\n max_fails 0\n expire 0s\n health_check 0s\n max_concurrent 0\n}").empty());
    CHECK(load_error("forward . 10.0.0.1 {\n next noerror NXDomain\n}").empty());
    {
        auto fs = forwards("forward . 10.0.0.1 {\n max_pending 5000\n max_pending_per_client 100\n}");
        CHECK(fs[0]->options().max_pending == 5000);
        CHECK(fs[0]->options().max_pending_per_client == 100);
    }
    CHECK(load_error("forward 10.0.0.0/8 10.0.0.1").empty());
    CHECK(forwards("forward 10.0.0.0/8 10.0.0.1")[0]->options().from == "10.in-addr.arpa.");
    // 15 TOs are allowed.
    CHECK(load_error("forward . 1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9 1.1.1.10 "
                     "1.1.1.11 1.1.1.12 1.1.1.13 1.1.1.14 1.1.1.15")
              .empty());
}

TEST_CASE("forward setup: dnscore's own singleflight family shows once forward is configured", "[forward][setup]") {
    // (It is absent from a process without forward: tests/ops_e2e_test.cpp.)
    forwards("forward . 127.0.0.1");
    CHECK(metrics::Registry::global().render_text().find("# TYPE coredns_forward_singleflight_shared_total counter\n") !=
          std::string::npos);
}
