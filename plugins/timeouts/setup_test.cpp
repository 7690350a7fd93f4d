// CoreDNS plugin/timeouts timeouts_test.go, with the full error texts, and
// how the values reach the listeners.
#include <chrono>

#include "corefile/loader.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;
using namespace std::chrono_literals;

namespace {
std::string err(const std::string& body) { return testing::load_error(".:1053 {\n" + body + "\n}\n"); }
const std::string P = "plugin/timeouts: Corefile:";
const std::string PP = "plugin/timeouts: plugin/timeouts: Corefile:";
}  // namespace

TEST_CASE("timeouts setup accepts CoreDNS's cases", "[timeouts][setup]") {
    auto set = corefile::load(".:1053 {\n timeouts {\n  read 30s\n }\n}\n", "Corefile", {});
    CHECK(set->blocks[0]->read_timeout == 30s);
    CHECK(set->blocks[0]->write_timeout == 0s);
    set = corefile::load(".:1053 {\n timeouts {\n  read 1m\n  write 2m\n }\n}\n", "Corefile", {});
    CHECK(set->blocks[0]->read_timeout == 1min);
    CHECK(set->blocks[0]->write_timeout == 2min);
    set = corefile::load(".:1053 {\n  timeouts {\n  idle 1h\n }\n}\n", "Corefile", {});
    CHECK(set->blocks[0]->idle_timeout == 1h);
    // Bare integers are seconds (durations.NewDurationFromArg).
    set = corefile::load(".:1053 {\n timeouts {\n  read 10\n  write 20\n  idle 60\n }\n}\n", "Corefile", {});
    CHECK(set->blocks[0]->read_timeout == 10s);
    CHECK(set->blocks[0]->write_timeout == 20s);
    CHECK(set->blocks[0]->idle_timeout == 60s);
    // The bounds are inclusive.
    CHECK(err("timeouts {\n read 1s\n write 24h\n}").empty());
}

TEST_CASE("timeouts setup errors carry CoreDNS's texts", "[timeouts][setup]") {
    CHECK(err("timeouts") == PP + "2 - Error during parsing: timeouts block with no timeouts specified");
    CHECK(err("timeouts {\n}") == PP + "3 - Error during parsing: timeouts block with no timeouts specified");
    CHECK(err("timeouts {\n read 10s\n giraffe 30s\n}") ==
          P + "4 - Error during parsing: unknown option: 'giraffe'");
    CHECK(err("timeouts {\n read 10s 20s\n write 30s\n}") ==
          P + "3 - Error during parsing: Wrong argument count or unexpected line ending after '20s'");
    CHECK(err("timeouts {\n write snake\n}") == P + "3 - Error during parsing: failed to parse duration 'snake'");
    CHECK(err("timeouts {\n idle 0s\n}") ==
          P + "3 - Error during parsing: timeout provided '0s' needs to be between 1 second and 24 hours");
    CHECK(err("timeouts {\n read 48h\n}") ==
          P + "3 - Error during parsing: timeout provided '48h0m0s' needs to be between 1 second and 24 hours");
    CHECK(err("timeouts {\n read 500ms\n}") ==
          P + "3 - Error during parsing: timeout provided '500ms' needs to be between 1 second and 24 hours");
    CHECK(err("timeouts extra {\n read 5s\n}") ==
          PP + "2 - Error during parsing: Wrong argument count or unexpected line ending after 'extra'");
    CHECK(testing::validate_error(".:1053 {\n timeouts {\n  idle 25h\n }\n}\n") ==
          P + "3 - Error during parsing: timeout provided '25h0m0s' needs to be between 1 second and 24 hours");
}

TEST_CASE("timeouts reach the listeners the block is on", "[timeouts]") {
    auto set = corefile::load(
        "a.:1053 {\n timeouts {\n  idle 2s\n }\n}\n"
        "b.:1053 {\n timeouts {\n  read 7s\n }\n}\n"
        "c.:1054 {\n}\n",
        "Corefile", {});
    REQUIRE(set->listeners.size() == 2);
    for (const auto& l : set->listeners) {
        if (l.port == "1053") {
            // Both blocks share the listener; each set value wins (dnsserver.NewServer).
            CHECK(l.idle_timeout == 2s);
            CHECK(l.read_timeout == 7s);
            CHECK(l.write_timeout == 5s);
        } else {
            CHECK(l.read_timeout == 3s);
            CHECK(l.idle_timeout == 10s);
            CHECK(l.write_timeout == 5s);
        }
    }
}
