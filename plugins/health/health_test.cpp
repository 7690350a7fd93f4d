#include "plugins/health/health.hpp"

#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;

namespace {
plugins::HealthConfig parse(const std::string& block) {
    auto d = testing::dispenser("health", block);
    return plugins::parse_health(d);
}
}  // namespace

TEST_CASE("health syntax", "[health]") {
    auto c = parse("health\n");
    CHECK(c.address == ":8080");
    CHECK(c.lameduck.count() == 0);
    c = parse("health 127.0.0.1:18080 {\n lameduck 5s\n}\n");
    CHECK(c.address == "127.0.0.1:18080");
    CHECK(c.lameduck == std::chrono::seconds(5));
    c = parse("health :1 {\n lameduck 1s\n}\nhealth :2\n");  // the last one wins
    CHECK(c.address == ":2");
    CHECK(c.lameduck.count() == 0);
}

TEST_CASE("health errors follow CoreDNS", "[health]") {
    CHECK(testing::validate_error(".:0 {\n health a:1 b:2\n}\n") ==
          "plugin/health: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'b:2'");
    CHECK(testing::validate_error(".:0 {\n health localhost\n}\n") == "plugin/health: address localhost: missing port in address");
    CHECK(testing::validate_error(".:0 {\n health {\n lameduck\n }\n}\n") ==
          "plugin/health: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after 'lameduck'");
    CHECK(testing::validate_error(".:0 {\n health {\n lameduck 5s 6s\n }\n}\n") ==
          "plugin/health: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after '6s'");
    CHECK(testing::validate_error(".:0 {\n health {\n lameduck aa\n }\n}\n") ==
          "plugin/health: Corefile:3 - Error during parsing: unable to parse lameduck duration value: 'aa' : time: invalid duration \"aa\"");
    CHECK(testing::validate_error(".:0 {\n health {\n bogus\n }\n}\n") ==
          "plugin/health: Corefile:3 - Error during parsing: unknown property 'bogus'");
}
