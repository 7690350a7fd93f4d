// CoreDNS plugin/hosts/setup_test.go (TestHostsParse, TestHostsInlineParse)
// and the setup errors with their texts.
#include <sys/stat.h>

#include "plugins/hosts/hosts.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/stdout_capture.hpp"

using namespace dnscore;
using plugins::hosts::Hosts;

namespace {
std::shared_ptr<Hosts> load(const std::string& body, const std::string& zones = ".") {
    return testing::load_plugin<Hosts>(zones + ":0 {\n" + body + "\n}\n");
}
std::string err(const std::string& body) { return testing::load_error(".:0 {\n" + body + "\n}\n"); }
}  // namespace

TEST_CASE("hosts setup: path, zones, fallthrough (TestHostsParse)", "[hosts]") {
    auto h = load("hosts");
    CHECK(h->config().path == "/etc/hosts");
    CHECK(h->config().origins == std::vector<std::string>{"."});
    CHECK(h->config().fall.empty());
    CHECK(load("hosts /tmp")->config().path == "/tmp");
    h = load("hosts /etc/hosts miek.nl.");
    CHECK(h->config().origins == std::vector<std::string>{"miek.nl."});
    h = load("hosts /etc/hosts miek.nl. pun.gent.");
    CHECK(h->config().origins == std::vector<std::string>{"miek.nl.", "pun.gent."});
    h = load("hosts {\n fallthrough\n}");
    CHECK(h->config().path == "/etc/hosts");
    CHECK(h->config().fall == std::vector<std::string>{"."});
    CHECK(load("hosts /tmp {\n fallthrough\n}")->config().path == "/tmp");
    h = load("hosts /etc/hosts miek.nl. {\n fallthrough\n}");
    CHECK(h->config().origins == std::vector<std::string>{"miek.nl."});
    h = load("hosts /etc/hosts miek.nl 10.0.0.9/8 {\n fallthrough\n}");
    CHECK(h->config().origins == std::vector<std::string>{"miek.nl.", "10.in-addr.arpa."});
    CHECK(h->config().fall == std::vector<std::string>{"."});
    h = load("hosts {\n fallthrough a.example. 10.0.0.0/8\n}");
    CHECK(h->config().fall == std::vector<std::string>{"a.example.", "10.in-addr.arpa."});
    // The block's zones by default.
    CHECK(load("hosts", "example.org")->config().origins == std::vector<std::string>{"example.org."});
    CHECK(err("hosts /etc/hosts {\n fallthrough\n}\nhosts /etc/hosts {\n fallthrough\n}") ==
          "plugin/hosts: this plugin can only be used once per Server Block");
}

TEST_CASE("hosts setup: inline entries (TestHostsInlineParse)", "[hosts]") {
    auto h = load("hosts highly_unlikely_to_exist_hosts_file example.org {\n 10.0.0.1 example.org\n fallthrough\n}");
    REQUIRE(h);
    CHECK(h->config().fall == std::vector<std::string>{"."});
    REQUIRE(h->inline_map().addrs.size() == 1);
    CHECK(h->inline_map().addrs[0].second.size() == 1);
    h = load("hosts highly_unlikely_to_exist_hosts_file example.org {\n 10.0.0.1 example.org\n}");
    CHECK(h->config().fall.empty());
    CHECK(h->config().inline_lines == std::vector<std::string>{"10.0.0.1 example.org"});
    CHECK(err("hosts highly_unlikely_to_exist_hosts_file example.org {\n fallthrough\n 10.0.0.1 example.org\n}") ==
          "plugin/hosts: Corefile:4 - Error during parsing: unknown property '10.0.0.1'");
}

TEST_CASE("hosts setup: options and their errors", "[hosts]") {
    auto h = load("hosts /nonexistent {\n ttl 60\n reload 0\n no_reverse\n}");
    CHECK(h->config().options.ttl == 60);
    CHECK(h->config().options.reload.count() == 0);
    CHECK_FALSE(h->config().options.auto_reverse);
    h = load("hosts /nonexistent");
    CHECK(h->config().options.ttl == 3600);
    CHECK(h->config().options.reload == std::chrono::seconds(5));
    CHECK(h->config().options.auto_reverse);
    CHECK(load("hosts /nonexistent {\n reload 1m30s\n}")->config().options.reload == std::chrono::seconds(90));

    const std::string pre = "plugin/hosts: Corefile:3 - Error during parsing: ";
    CHECK(err("hosts /nonexistent {\n ttl\n}") == pre + "ttl needs a time in second");
    CHECK(err("hosts /nonexistent {\n ttl abc\n}") == pre + "ttl needs a number of second");
    CHECK(err("hosts /nonexistent {\n ttl 0\n}") == pre + "ttl provided is invalid");
    CHECK(err("hosts /nonexistent {\n ttl 65536\n}") == pre + "ttl provided is invalid");
    CHECK(err("hosts /nonexistent {\n ttl -1\n}") == pre + "ttl provided is invalid");
    CHECK(err("hosts /nonexistent {\n reload\n}") == pre + "reload needs a duration (zero seconds to disable)");
    CHECK(err("hosts /nonexistent {\n reload 1s 2s\n}") == pre + "reload needs a duration (zero seconds to disable)");
    CHECK(err("hosts /nonexistent {\n reload abc\n}") == pre + "invalid duration for reload 'abc'");
    CHECK(err("hosts /nonexistent {\n reload -1s\n}") == pre + "invalid negative duration for reload '-1s'");
    CHECK(err("hosts /nonexistent {\n fallthrough\n bogus\n}") ==
          "plugin/hosts: Corefile:4 - Error during parsing: unknown property 'bogus'");
    // A path that cannot be stat'ed for another reason than not existing.
    CHECK(err("hosts /etc/hosts/sub") ==
          "plugin/hosts: Corefile:2 - Error during parsing: unable to access hosts file '/etc/hosts/sub': stat "
          "/etc/hosts/sub: not a directory");
}

TEST_CASE("hosts setup: warnings for a missing file or a directory", "[hosts]") {
    testing::StdoutCapture cap;
    load("hosts /nonexistent/dnscore/hosts");
    load("hosts /tmp");
    const std::string out = cap.text();
    CHECK(out.find("[WARNING] plugin/hosts: File does not exist: /nonexistent/dnscore/hosts\n") != std::string::npos);
    CHECK(out.find("[WARNING] plugin/hosts: Hosts file \"/tmp\" is a directory\n") != std::string::npos);
}

TEST_CASE("hosts setup registers startup and shutdown hooks, not under -validate", "[hosts]") {
    auto set = corefile::load(".:0 {\n hosts /nonexistent\n}\n", "Corefile", {});
    CHECK(set->on_startup.size() == 1);
    CHECK(set->on_shutdown.size() == 1);
    CHECK(testing::validate_error(".:0 {\n hosts /nonexistent {\n  10.0.0.1 a.example\n }\n}\n").empty());
}
