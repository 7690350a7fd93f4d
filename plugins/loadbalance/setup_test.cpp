// CoreDNS plugin/loadbalance/setup_test.go (TestSetup).
#include <cstdio>
#include <fstream>

#include "plugins/loadbalance/loadbalance.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;
using plugins::loadbalance::LoadBalance;
using plugins::loadbalance::Policy;

namespace {
std::string err(const std::string& body) { return testing::load_error(".:0 {\n" + body + "\n}\n"); }
std::shared_ptr<LoadBalance> load(const std::string& body) {
    return testing::load_plugin<LoadBalance>(".:0 {\n" + body + "\n}\n");
}
struct WeightFile {
    WeightFile(const char* path, const char* content) : path(path) {
        std::ofstream f(path);
        f << content;
    }
    ~WeightFile() { std::remove(path.c_str()); }
    std::string path;
};
}  // namespace

TEST_CASE("loadbalance setup (TestSetup)", "[loadbalance]") {
    WeightFile wf("wfile", "");
    WeightFile wf2("wf", "");
    CHECK(load("loadbalance")->policy() == Policy::round_robin);
    CHECK(load("loadbalance round_robin")->policy() == Policy::round_robin);
    auto lb = load("loadbalance weighted wfile");
    CHECK(lb->policy() == Policy::weighted);
    CHECK(lb->weight_file() == "wfile");
    CHECK(lb->reload() == std::chrono::seconds(30));
    lb = load("loadbalance weighted wf {\n reload 10s\n }");
    CHECK(lb->weight_file() == "wf");
    CHECK(lb->reload() == std::chrono::seconds(10));
    CHECK(load("loadbalance weighted wf {\n reload 0s\n }")->reload().count() == 0);

    CHECK(err("loadbalance fleeb") == "plugin/loadbalance: unknown policy: fleeb");
    CHECK(err("loadbalance round_robin a") ==
          "plugin/loadbalance: Corefile:2 - Error during parsing: unknown property for round_robin");
    CHECK(err("loadbalance weighted") ==
          "plugin/loadbalance: Corefile:2 - Error during parsing: missing weight file argument");
    CHECK(err("loadbalance weighted a b") == "plugin/loadbalance: Corefile:2 - Error during parsing: unexpected argument(s)");
    CHECK(err("loadbalance weighted wfile {\n susu\n }") ==
          "plugin/loadbalance: Corefile:3 - Error during parsing: unknown property 'susu'");
    CHECK(err("loadbalance weighted wfile {\n reload a\n }") ==
          "plugin/loadbalance: Corefile:3 - Error during parsing: invalid reload duration 'a'");
    CHECK(err("loadbalance weighted wfile {\n reload 30s  a\n }") ==
          "plugin/loadbalance: Corefile:3 - Error during parsing: unexpected argument");
    CHECK(err("loadbalance weighted wfile {\n reload\n }") ==
          "plugin/loadbalance: Corefile:3 - Error during parsing: reload duration value is missing");
}

TEST_CASE("loadbalance weighted: what fails CoreDNS's startup fails the load", "[loadbalance]") {
    // Missing file, reload on: a warning at startup, loads.
    CHECK(err("loadbalance weighted /nonexistent/dnscore/weights").empty());
    CHECK(err("loadbalance weighted /nonexistent/dnscore/weights {\n reload 0\n }") ==
          "plugin/loadbalance: weight file open error");
    WeightFile bad("/tmp/dnscore_lb_bad_weights", "192.0.2.1 3\n");
    CHECK(err("loadbalance weighted /tmp/dnscore_lb_bad_weights") ==
          "plugin/loadbalance: missing domain name in weight file /tmp/dnscore_lb_bad_weights");
    // -validate does not read it (CoreDNS reads it at startup only).
    CHECK(testing::validate_error(".:0 {\n loadbalance weighted /tmp/dnscore_lb_bad_weights\n}\n").empty());
}
