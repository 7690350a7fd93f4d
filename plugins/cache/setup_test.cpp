// `cache` setup: defaults, the node-local-dns spellings, and CoreDNS 1.12's
// exact error texts.
#include <memory>

#include "corefile/loader.hpp"
#include "plugins/cache/cache.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;
using plugins::cache::Cache;
using plugins::cache::Config;
using plugins::cache::kSecond;

namespace {
std::string err(const std::string& body) { return testing::load_error("example.org:1053 {\n" + body + "\n}\n"); }

Config config_of(const std::string& text) {
    auto set = corefile::load(text, "Corefile", {});
    for (auto* p : set->blocks.at(0)->chain)
        if (auto* c = dynamic_cast<Cache*>(p)) return c->config();
    FAIL("no cache plugin in the chain");
    return {};
}
Config cfg(const std::string& body) { return config_of("example.org:1053 {\n" + body + "\n}\n"); }
}  // namespace

TEST_CASE("cache defaults and the node-local-dns spellings", "[cache][setup]") {
    const Config d = cfg("cache");
    CHECK(d.zones == std::vector<std::string>{"example.org."});
    CHECK(d.pcap == 10000);
    CHECK(d.ncap == 10000);
    CHECK(d.pttl_s == 3600);
    CHECK(d.nttl_s == 1800);
    CHECK(d.minpttl_s == 5);
    CHECK(d.minnttl_s == 5);
    CHECK(d.failttl_ns == 5 * kSecond);
    CHECK(d.prefetch == 0);
    CHECK(d.stale_up_to_ns == 0);
    CHECK_FALSE(d.keepttl);

    const Config thirty = cfg("cache 30");
    CHECK(thirty.pttl_s == 30);
    CHECK(thirty.nttl_s == 30);

    // node-local-dns's cluster block, spelled over lines with odd indentation.
    const Config nl = config_of(
        "cluster.local:53 {\n    errors\n    cache {\n            success 9984 30\n            denial 9984 5\n    }\n}\n");
    CHECK(nl.zones == std::vector<std::string>{"cluster.local."});
    CHECK(nl.pcap == 9984);
    CHECK(nl.pttl_s == 30);
    CHECK(nl.ncap == 9984);
    CHECK(nl.nttl_s == 5);
    CHECK(nl.minpttl_s == 5);
}

TEST_CASE("cache options", "[cache][setup]") {
    CHECK(cfg("cache abc").zones == std::vector<std::string>{"abc."});
    CHECK(cfg("cache 10 Example.ORG other.org").zones == std::vector<std::string>{"example.org.", "other.org."});
    const Config c = cfg(
        "cache {\n success 100 200 10\n denial 50 60 0\n prefetch 3 2m 20%\n serve_stale 10m VERIFY\n"
        " servfail 1m\n disable denial Sub.Example.org\n disable success\n keepttl\n}");
    CHECK(c.pcap == 100);
    CHECK(c.pttl_s == 200);
    CHECK(c.minpttl_s == 10);
    CHECK(c.ncap == 50);
    CHECK(c.nttl_s == 60);
    CHECK(c.minnttl_s == 0);
    CHECK(c.prefetch == 3);
    CHECK(c.prefetch_window_ns == 120 * kSecond);
    CHECK(c.percentage == 20);
    CHECK(c.stale_up_to_ns == 600 * kSecond);
    CHECK(c.verify_stale);
    CHECK(c.failttl_ns == 60 * kSecond);
    CHECK(c.nexcept == std::vector<std::string>{"sub.example.org."});
    CHECK(c.pexcept == std::vector<std::string>{"."});
    CHECK(c.keepttl);
    const Config s = cfg("cache {\n serve_stale\n prefetch 1\n}");
    CHECK(s.stale_up_to_ns == 3600 * kSecond);
    CHECK_FALSE(s.verify_stale);
    CHECK(s.prefetch == 1);
    CHECK(s.prefetch_window_ns == 60 * kSecond);
    CHECK(s.percentage == 10);
    CHECK(cfg("cache {\n success -3\n}").pcap == -3);
}

TEST_CASE("cache setup errors carry CoreDNS's texts", "[cache][setup]") {
    const std::string A = "plugin/cache: Corefile:";
    CHECK(err("cache 0") == "plugin/cache: cache TTL can not be zero or negative: 0");
    CHECK(err("cache -1") == "plugin/cache: cache TTL can not be zero or negative: -1");
    CHECK(err("cache\ncache") == "plugin/cache: this plugin can only be used once per Server Block");
    CHECK(err("cache {\n success\n}") ==
          A + "3 - Error during parsing: Wrong argument count or unexpected line ending after 'success'");
    CHECK(err("cache {\n success abc\n}") == "plugin/cache: strconv.Atoi: parsing \"abc\": invalid syntax");
    CHECK(err("cache {\n success 10 0\n}") == "plugin/cache: cache TTL can not be zero or negative: 0");
    CHECK(err("cache {\n denial 10 20 -1\n}") == "plugin/cache: cache min TTL can not be negative: -1");
    CHECK(err("cache {\n prefetch\n}") ==
          A + "3 - Error during parsing: Wrong argument count or unexpected line ending after 'prefetch'");
    CHECK(err("cache {\n prefetch 1 1m 10% x\n}") ==
          A + "3 - Error during parsing: Wrong argument count or unexpected line ending after 'x'");
    CHECK(err("cache {\n prefetch -1\n}") == "plugin/cache: prefetch amount should be positive: -1");
    CHECK(err("cache {\n prefetch 1 abc\n}") == "plugin/cache: time: invalid duration \"abc\"");
    CHECK(err("cache {\n prefetch 1 1m 10C\n}") ==
          "plugin/cache: last character of percentage should be `%`, but is: 'C'");
    CHECK(err("cache {\n prefetch 1 1m 5%\n}") == "plugin/cache: percentage should fall in range [10, 90]: 5");
    CHECK(err("cache {\n prefetch 1 1m 91%\n}") == "plugin/cache: percentage should fall in range [10, 90]: 91");
    CHECK(err("cache {\n serve_stale 1h verify x\n}") ==
          A + "3 - Error during parsing: Wrong argument count or unexpected line ending after 'x'");
    CHECK(err("cache {\n serve_stale -1h\n}") == "plugin/cache: invalid negative duration for serve_stale");
    CHECK(err("cache {\n serve_stale 1h Later\n}") == "plugin/cache: invalid value for serve_stale refresh mode: later");
    CHECK(err("cache {\n servfail\n}") ==
          A + "3 - Error during parsing: Wrong argument count or unexpected line ending after 'servfail'");
    CHECK(err("cache {\n servfail 6m\n}") ==
          "plugin/cache: caching SERVFAIL responses over 5 minutes is not permitted");
    CHECK(err("cache {\n servfail -1s\n}") == "plugin/cache: invalid negative ttl for servfail");
    CHECK(err("cache {\n disable\n}") ==
          A + "3 - Error during parsing: Wrong argument count or unexpected line ending after 'disable'");
    CHECK(err("cache {\n disable both\n}") ==
          "plugin/cache: cache type for disable must be \"success\" or \"denial\"");
    CHECK(err("cache {\n keepttl 1\n}") ==
          A + "3 - Error during parsing: Wrong argument count or unexpected line ending after '1'");
    CHECK(err("cache {\n bogus\n}") ==
          A + "3 - Error during parsing: Wrong argument count or unexpected line ending after 'bogus'");
}

TEST_CASE("serve_stale_rfc8767: defaults, arguments and errors (extension)", "[cache][setup][rfc8767]") {
    const Config d = cfg("cache {\n serve_stale_rfc8767\n}");
    CHECK(d.rfc_max_stale_ns == 86400 * kSecond);
    CHECK(d.rfc_client_timeout_ns == 1800 * 1'000'000LL);
    CHECK(d.rfc_recheck_ns == 30 * kSecond);
    CHECK(d.stale_up_to_ns == 0);
    const Config a = cfg("cache {\n serve_stale_rfc8767 2h 500ms 10s\n}");
    CHECK(a.rfc_max_stale_ns == 7200 * kSecond);
    CHECK(a.rfc_client_timeout_ns == 500 * 1'000'000LL);
    CHECK(a.rfc_recheck_ns == 10 * kSecond);
    CHECK(cfg("cache").rfc_max_stale_ns == 0);
    CHECK_THAT(err("cache {\n serve_stale_rfc8767 1h 0s\n}"),
               Catch::Contains("serve_stale_rfc8767 client timeout must be positive: 0s"));
    CHECK_THAT(err("cache {\n serve_stale_rfc8767 1h 1s 1s 1s\n}"), Catch::Contains("Wrong argument count"));
    CHECK_THAT(err("cache {\n serve_stale\n serve_stale_rfc8767\n}"),
               Catch::Contains("serve_stale and serve_stale_rfc8767 cannot be used together"));
}
