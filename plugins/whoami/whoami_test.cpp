#include "plugins/whoami/whoami.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "corefile/loader.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;

namespace {
struct Exchange {
    testing::Bytes req;
    uint8_t resp[4096];
    Query q;
    Exchange(const std::string& name, const std::string& type, const char* ip, uint16_t port, bool tcp,
             const testing::QueryOptions& o = {}) {
        req = testing::make_query(name, type, o);
        q.req = req.data();
        q.req_len = req.size();
        REQUIRE(wire::parse_query(q.req, q.req_len, q.info) == wire::Verdict::ok);
        q.resp = resp;
        q.resp_cap = sizeof resp;
        q.proto = tcp ? Proto::tcp : Proto::udp;
        if (std::strchr(ip, ':')) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&q.client.addr);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(port);
            inet_pton(AF_INET6, ip, &a->sin6_addr);
            q.client.len = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&q.client.addr);
            a->sin_family = AF_INET;
            a->sin_port = htons(port);
            inet_pton(AF_INET, ip, &a->sin_addr);
            q.client.len = sizeof *a;
        }
    }
    testing::Bytes reply() const { return testing::Bytes(q.resp, q.resp + q.resp_len); }
};
}  // namespace

TEST_CASE("whoami answers with the client's address and port", "[whoami]") {
    plugins::Whoami w;
    SECTION("IPv4 over UDP, question case kept") {
        Exchange e("Example.ORG.", "A", "192.0.2.7", 53001, false);
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
        Exchange e("example.org.", "AAAA", "2001:db8::1", 4242, true);
        REQUIRE(w.query(e.q) == Step::done);
        auto add = testing::section(e.reply(), 3);
        REQUIRE(add.size() == 2);
        CHECK(add[0] == "example.org.\t0\tIN\tAAAA\t2001:db8::1");
        CHECK(add[1] == "_tcp.example.org.\t0\tIN\tSRV\t0 0 4242 .");
    }
    SECTION("v4-mapped clients count as IPv4; root name") {
        Exchange e(".", "NS", "::ffff:10.1.2.3", 99, false);
        REQUIRE(w.query(e.q) == Step::done);
        auto add = testing::section(e.reply(), 3);
        REQUIRE(add.size() == 2);
        CHECK(add[0] == ".\t0\tIN\tA\t10.1.2.3");
        CHECK(add[1] == "_udp.\t0\tIN\tSRV\t0 0 99 .");
    }
    SECTION("the class is echoed") {
        testing::QueryOptions o;
        o.qclass = 3;
        Exchange e("id.server.", "TXT", "127.0.0.1", 5, false, o);
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
