// Zone routing (spec B.3 step 8) and listener grouping (A.7), through the loader.
#include "corefile/loader.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;

namespace {
std::string route(const ServerSet& set, size_t listener, const std::string& name, const std::string& type) {
    auto q = testing::make_query(name, type);
    wire::QueryInfo qi;
    REQUIRE(wire::parse_query(q.data(), q.size(), qi) == wire::Verdict::ok);
    const Site* s = set.listeners.at(listener).route(qi);
    return s ? s->zone : "REFUSED";
}
}  // namespace

TEST_CASE("longest zone wins, DS goes to the parent, root is the fallback", "[route]") {
    auto set = corefile::load(
        "example.org:1053 {\n whoami\n}\norg:1053 {\n whoami\n}\n.:1053 {\n whoami\n}\n", "Corefile", {});
    REQUIRE(set->listeners.size() == 1);
    CHECK(set->listeners[0].label == "dns://:1053");
    CHECK(route(*set, 0, "www.Example.ORG.", "A") == "example.org.");
    CHECK(route(*set, 0, "example.org.", "A") == "example.org.");
    CHECK(route(*set, 0, "other.org.", "A") == "org.");
    CHECK(route(*set, 0, "example.com.", "A") == ".");
    CHECK(route(*set, 0, ".", "NS") == ".");
    CHECK(route(*set, 0, "example.org.", "DS") == "org.");
    CHECK(route(*set, 0, "www.example.org.", "DS") == "org.");
}

TEST_CASE("no root zone means REFUSED for names outside", "[route]") {
    auto set = corefile::load("example.org:1053 {\n whoami\n}\n", "Corefile", {});
    CHECK(route(*set, 0, "a.example.org.", "A") == "example.org.");
    CHECK(route(*set, 0, "example.net.", "A") == "REFUSED");
    CHECK(route(*set, 0, ".", "A") == "REFUSED");
}

TEST_CASE("blocks group by address and port", "[route]") {
    auto set = corefile::load(
        "a.:1053 {\n whoami\n}\nb.:1054 {\n whoami\n}\nc.:1053 {\n bind 127.0.0.1\n whoami\n}\n", "Corefile", {});
    REQUIRE(set->listeners.size() == 3);
    CHECK(set->listeners[0].label == "dns://:1053");
    CHECK(set->listeners[1].label == "dns://:1054");
    CHECK(set->listeners[2].label == "dns://127.0.0.1:1053");
    CHECK(set->listeners[0].sites.size() == 1);
}

TEST_CASE("duplicate and overlapping zones are rejected with CoreDNS's text", "[route]") {
    const auto err = [](const std::string& text) { return testing::load_error(text); };
    CHECK(err(".:1053 {\n whoami\n}\n.:1053 {\n whoami\n}\n") == "cannot serve dns://.:1053 - it is already defined");
    CHECK(err(".:1053 {\n whoami\n}\n.:1054 {\n whoami\n}\n").empty());
    CHECK(err(".:1053 {\n bind 127.0.0.1 127.0.0.1\n whoami\n}\n") ==
          "cannot serve dns://.:1053 on 127.0.0.1 - it is already defined");
    CHECK(err(".:1053 {\n whoami\n}\n.:1053 {\n bind 127.0.0.1\n whoami\n}\n") ==
          "cannot serve dns://.:1053 on 127.0.0.1 - zone overlap listener capacity with dns://.:1053");
    CHECK(err(".:1053 {\n bind 127.0.0.1\n whoami\n}\n.:1053 {\n bind 127.0.0.2\n whoami\n}\n").empty());
}
