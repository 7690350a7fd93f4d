#include "plugins/whoami/whoami.hpp"

#include "corefile/loader.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/test_query.hpp"

using namespace dnscore;

namespace {
testing::TestQuery exchange(const std::string& name, const std::string& type, const char* ip, uint16_t port,
                            bool tcp, const testing::QueryOptions& o = {}) {
    testing::TestQuery t(name, type, o);
    t.tcp(tcp).client(ip, port);
    return t;
}
}  // namespace

TEST_CASE("whoami answers with the client's address and port", "[whoami]") {
    plugins::Whoami w;
    SECTION("IPv4 over UDP, question case kept") {
        auto e = exchange("Example.ORG.", "A", "192.0.2.7", 53001, false);
        REQUIRE(w.query(e.q) == Step::done);
        REQUIRE(e.q.written);
        auto r = e.reply();
        CHECK((wire::flags(r.data()) & wire::kAA));
        CHECK((wire::flags(r.data()) & wire::kQR));
        CHECK_FALSE((wire::flags(r.data()) & wire::kRA));
        CHECK(wire::rcode(r.data()) == 0);
        CHECK(wire::ancount(r.data()) == 0);
        auto add = testing::section(r, 3);
        REQUIRE(add.size() == 2);
        CHECK(add[0] == "Example.ORG.\t0\tIN\tA\t192.0.2.7");
        CHECK(add[1] == "_udp.Example.ORG.\t0\tIN\tSRV\t0 0 53001 .");
    }
    SECTION("IPv6 over TCP") {
        auto e = exchange("example.org.", "AAAA", "2001:db8::1", 4242, true);
        REQUIRE(w.query(e.q) == Step::done);
        auto add = testing::section(e.reply(), 3);
        REQUIRE(add.size() == 2);
        CHECK(add[0] == "example.org.\t0\tIN\tAAAA\t2001:db8::1");
        CHECK(add[1] == "_tcp.example.org.\t0\tIN\tSRV\t0 0 4242 .");
    }
    SECTION("v4-mapped clients count as IPv4; root name") {
        auto e = exchange(".", "NS", "::ffff:10.1.2.3", 99, false);
        REQUIRE(w.query(e.q) == Step::done);
        auto add = testing::section(e.reply(), 3);
        REQUIRE(add.size() == 2);
        CHECK(add[0] == ".\t0\tIN\tA\t10.1.2.3");
        CHECK(add[1] == "_udp.\t0\tIN\tSRV\t0 0 99 .");
    }
    SECTION("the class is echoed") {
        testing::QueryOptions o;
        o.qclass = 3;
        auto e = exchange("id.server.", "TXT", "127.0.0.1", 5, false, o);
        REQUIRE(w.query(e.q) == Step::done);
        auto add = testing::section(e.reply(), 3);
        REQUIRE(add.size() == 2);
        CHECK(add[0] == "id.server.\t0\tCH\tA\t127.0.0.1");
    }
}

TEST_CASE("whoami setup", "[whoami]") {
    CHECK_NOTHROW(corefile::load(".:1053 {\n whoami\n}\n", "Corefile", {}));
    try {
        corefile::load(".:1053 {\n whoami foo\n}\n", "Corefile", {});
        FAIL("accepted an argument");
    } catch (const std::exception& e) {
        CHECK(std::string(e.what()) ==
              "plugin/whoami: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'foo'");
    }
    auto set = corefile::load(".:1053 {\n whoami\n whoami\n}\n", "Corefile", {});
    CHECK(set->blocks[0]->chain.size() == 1);
}
