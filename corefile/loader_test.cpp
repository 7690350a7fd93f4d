#include "corefile/loader.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "corefile/directives.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;
using testing::load_error;

namespace {
std::vector<std::string> chain_names(const Block& b) {
    std::vector<std::string> out;
    for (auto* p : b.chain) out.emplace_back(p->name());
    return out;
}
}  // namespace

TEST_CASE("the chain follows the directive table, not the Corefile", "[loader]") {
    auto set = corefile::load(".:1053 {\n whoami\n log\n errors\n}\n", "Corefile", {});
    REQUIRE(set->blocks.size() == 1);
    CHECK(chain_names(*set->blocks[0]) == std::vector<std::string>{"errors", "log", "whoami"});
}

TEST_CASE("an empty Corefile falls back to CoreDNS's default", "[loader]") {
    corefile::LoadOptions o;
    o.dns_port = "1053";
    for (const char* text : {"", "# only a comment\n", "(snip) {\n whoami\n}\n"}) {
        auto set = corefile::load(text, "Corefile", o);
        REQUIRE(set->blocks.size() == 1);
        CHECK(set->blocks[0]->keys == std::vector<std::string>{"dns://.:1053"});
        CHECK(chain_names(*set->blocks[0]) == std::vector<std::string>{"log", "whoami"});
    }
    CHECK(corefile::default_corefile("53") == ".:53 {\nwhoami\nlog\n}\n");
}

TEST_CASE("keys are normalised and every key shares the block's plugins", "[loader]") {
    auto set = corefile::load("Example.ORG:1053 10.0.0.0/15:1053 {\n whoami\n}\n", "Corefile", {});
    REQUIRE(set->blocks.size() == 1);
    CHECK(set->blocks[0]->keys ==
          std::vector<std::string>{"dns://example.org.:1053", "dns://0.10.in-addr.arpa.:1053",
                                   "dns://1.10.in-addr.arpa.:1053"});
    REQUIRE(set->listeners.size() == 1);
    CHECK(set->listeners[0].sites.size() == 3);
    for (const auto& s : set->listeners[0].sites) CHECK(s.block == set->blocks[0].get());
}

TEST_CASE("loader errors carry CoreDNS's wording", "[loader]") {
    CHECK(load_error(".:1053 {\n foo\n}\n") == "Corefile:2 - Error during parsing: Unknown directive 'foo'");
    CHECK(load_error(":53 {\n whoami\n}\n") == "error inspecting server blocks: zone is not a valid domain name: ");
    CHECK(load_error("quic://.:853 {\n whoami\n}\n") == "quic: tls.Config not set");
    CHECK(load_error("https3://.:443 {\n whoami\n}\n").rfind("error inspecting server blocks: transport 'https3'", 0) ==
          0);
    CHECK(load_error(".:1053 {\n whoami extra\n}\n") ==
          "plugin/whoami: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'extra'");
}

TEST_CASE("grpc:// and quic:// keys load their module only when asked, and fail at the key without it", "[loader]") {
    const std::string text = ".:1053 {\n whoami\n}\n\ngrpc://.:0 {\n whoami\n}\n";
    // Tests and fuzzers check configurations without loading anything.
    CHECK(load_error(text).empty());
    ::setenv("DNSCORE_MODULE_DIR", "/nonexistent-dnscore-modules", 1);
    corefile::LoadOptions o;
    o.load_transport_modules = true;
    CHECK(load_error(text, o) ==
          "Corefile:5 - Error during setup: grpc:// is served by a module that could not be loaded: dnscore-grpc.so not "
          "found (looked for /nonexistent-dnscore-modules/dnscore-grpc.so; set DNSCORE_MODULE_DIR to its directory)");
    // No module needed: nothing is looked for.
    CHECK(load_error(".:1053 {\n whoami\n}\n", o).empty());
    ::unsetenv("DNSCORE_MODULE_DIR");
}

TEST_CASE("read_corefile: explicit missing file is fatal, implicit one falls back", "[loader]") {
    try {
        corefile::read_corefile("/nonexistent/Corefile", "53");
        FAIL("no error");
    } catch (const std::exception& e) {
        CHECK(std::string(e.what()) ==
              "loading Caddyfile via flag: open /nonexistent/Corefile: no such file or directory");
    }
    const std::string path = "/tmp/dnscore_loader_test_Corefile";
    {
        std::ofstream f(path);
        f << "example.org:1053 {\n whoami\n}\n";
    }
    auto src = corefile::read_corefile(path, "53");
    CHECK(src.file == path);
    CHECK(src.text == "example.org:1053 {\n whoami\n}\n");
    std::remove(path.c_str());
}

TEST_CASE("the directive table is in CoreDNS order", "[loader]") {
    // plugin.cfg positions of the directives dnscore ships (CoreDNS 1.12).
    const std::vector<std::string> coredns = {
        "root", "metadata", "geoip", "cancel", "tls", "timeouts", "multisocket", "reload", "nsid",
        "bufsize", "bind", "debug", "trace", "ready", "health", "pprof", "prometheus", "errors",
        "log", "dnstap", "local", "dns64", "acl", "any", "chaos", "loadbalance", "tsig", "cache",
        "rewrite", "header", "dnssec", "autopath", "minimal", "template", "transfer", "hosts",
        "route53", "azure", "clouddns", "k8s_external", "kubernetes", "file", "auto", "secondary",
        "etcd", "loop", "forward", "grpc", "erratic", "whoami", "on", "sign", "view"};
    size_t last = 0;
    for (const auto& name : corefile::directive_names()) {
        auto it = std::find(coredns.begin(), coredns.end(), name);
        REQUIRE(it != coredns.end());
        const size_t pos = size_t(it - coredns.begin());
        CHECK(pos >= last);
        last = pos;
    }
}
