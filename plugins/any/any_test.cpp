// CoreDNS plugin/any: any_test.go and setup_test.go, plus the reply's bytes.
#include "plugins/any/any.hpp"

#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/test_query.hpp"

using namespace dnscore;

TEST_CASE("any answers ANY with the RFC 8482 HINFO", "[any]") {
    plugins::Any a;
    testing::TestQuery t("Example.ORG.", "ANY");
    REQUIRE(a.query(t.q) == Step::done);
    REQUIRE(t.q.written);
    const auto r = t.reply();
    CHECK(wire::rcode(r.data()) == wire::kNoError);
    CHECK_FALSE((wire::flags(r.data()) & wire::kAA));
    CHECK((wire::flags(r.data()) & wire::kRD));
    const auto ans = testing::section(r, 1);
    REQUIRE(ans.size() == 1);
    CHECK(ans[0] == "Example.ORG.\t8482\tIN\tHINFO\t\"ANY obsoleted\" \"See RFC 8482\"");
    CHECK(testing::section(r, 2).empty());
    CHECK(testing::section(r, 3).empty());
}

TEST_CASE("any passes every other type to the next plugin", "[any]") {
    plugins::Any a;
    for (const char* type : {"A", "AAAA", "MX", "TXT", "CNAME"}) {
        testing::TestQuery t("example.org.", type);
        CHECK(a.query(t.q) == Step::next);
        CHECK_FALSE(t.q.written);
    }
}

TEST_CASE("any in a chain: ANY answered, the rest reaches whoami", "[any]") {
    testing::ChainHarness h(".:0 {\n any\n whoami\n}\n");
    auto any = h.run(testing::TestQuery("example.org.", "ANY"));
    REQUIRE_FALSE(any.reply.empty());
    CHECK(testing::section(any.reply, 1).size() == 1);
    CHECK(testing::section(any.reply, 3).empty());
    auto a = h.run(testing::TestQuery("example.org.", "A"));
    CHECK(testing::section(a.reply, 3).size() == 2);  // whoami's records
}

TEST_CASE("any setup", "[any]") {
    CHECK(testing::load_error(".:0 {\n any\n}\n").empty());
    auto set = corefile::load(".:0 {\n any\n any\n}\n", "Corefile", {});
    CHECK(set->blocks[0]->chain.size() == 1);
    CHECK(testing::find_plugin<plugins::Any>(*set) != nullptr);
    // CoreDNS's setup reads no token, so arguments are ignored.
    CHECK(testing::load_error(".:0 {\n any foo\n}\n").empty());
}
