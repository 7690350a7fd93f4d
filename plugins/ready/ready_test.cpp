#include "plugins/ready/ready.hpp"

#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;

namespace {
class Loading final : public Plugin {
public:
    Loading(const char* n, bool r) : name_(n), ready_(r) {}
    std::string_view name() const override { return name_; }
    Step query(Query&) override { return Step::next; }
    bool ready() const override { return ready_; }
    const char* name_;
    bool ready_;
};
}  // namespace

TEST_CASE("ready syntax and errors", "[ready]") {
    CHECK(testing::validate_error(".:0 {\n ready\n whoami\n}\n").empty());
    CHECK(testing::validate_error(".:0 {\n ready :8181 {\n monitor continuously\n }\n whoami\n}\n").empty());
    CHECK(testing::validate_error(".:0 {\n ready a:1 b:2\n}\n") ==
          "plugin/ready: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'b:2'");
    CHECK(testing::validate_error(".:0 {\n ready\n ready\n}\n") == "plugin/ready: this plugin can only be used once per Server Block");
    CHECK(testing::validate_error(".:0 {\n ready {\n monitor sometimes\n }\n}\n") ==
          "plugin/ready: Corefile:3 - Error during parsing: monitor type 'sometimes' not supported");
    CHECK(testing::validate_error(".:0 {\n ready {\n bogus\n }\n}\n") ==
          "plugin/ready: Corefile:3 - Error during parsing: unknown property 'bogus'");
    CHECK(testing::validate_error(".:0 {\n ready nohost\n}\n") == "plugin/ready: address nohost: missing port in address");
}

TEST_CASE("not_ready lists the plugins that are not ready, sorted", "[ready]") {
    Block a, b;
    a.plugins = {std::make_shared<Loading>("zeta", false), std::make_shared<Loading>("ok", true)};
    b.plugins = {std::make_shared<Loading>("alpha", false), std::make_shared<Loading>("zeta", false)};
    CHECK(plugins::not_ready({&a, &b}) == std::vector<std::string>{"alpha", "zeta"});
    Block c;
    c.plugins = {std::make_shared<Loading>("ok", true)};
    CHECK(plugins::not_ready({&c}).empty());
}
