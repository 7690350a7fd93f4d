// The real binary with `cache` in front of `forward` to a UDP upstream run by
// this test: miss vs hit TTLs, AA on hits, upstream query counts, 0x20 case,
// denial caching, and the node-local-dns spelling of the cache block.

#include <atomic>
#include <cstring>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using testing::Bytes;
using testing::first_ttl;

namespace {

// The upstream: names starting with "nx" get NXDOMAIN with an SOA,
// everything else an A record with TTL 300.
struct Upstream {
    testing::FakeUpstream fake;
    Upstream() {
        REQUIRE(fake.port() != 0);
        fake.set_responder([](const Bytes& req) -> Bytes {
            wire::QueryInfo qi;
            if (wire::parse_query(req.data(), req.size(), qi) != wire::Verdict::ok) return {};
            if (qi.qtype == wire::kTypeNS) return {};  // forward health probes: not answered
            char text[1024];
            const std::string name(text, wire::name_to_text(qi.name, qi.name_len, text, sizeof text));
            if (name.rfind("nx", 0) == 0)
                return testing::make_reply(req, 3, {}, {"example.org. 900 IN SOA a.example.org. b.example.org. 1 2 3 4 600"});
            return testing::make_reply(req, 0, {name + " 300 IN A 192.0.2.7"});
        });
    }
    uint16_t port() const { return fake.port(); }
    // Queries other than health probes.
    int queries() const { return fake.udp_queries() + fake.tcp_queries() - fake.probes(); }
};

bool aa(const Bytes& m) { return wire::flags(m.data()) & wire::kAA; }

}  // namespace

TEST_CASE("cache 30 in front of forward", "[cache][e2e]") {
    Upstream up;
    testing::ServerProcess srv(".:0 {\n bind 127.0.0.1\n cache 30\n forward . 127.0.0.1:" +
                               std::to_string(up.port()) + "\n}\n");
    REQUIRE(srv.started());
    const uint16_t port = srv.port();

    const Bytes miss = testing::udp_exchange("127.0.0.1", port, testing::make_query("www.example.org.", "A"));
    REQUIRE(miss.size() > 12);
    CHECK(wire::rcode(miss.data()) == 0);
    CHECK_FALSE(aa(miss));
    CHECK(first_ttl(miss) == 30);  // 300 capped by `cache 30`, also on the miss
    CHECK(up.queries() == 1);

    const Bytes hit = testing::udp_exchange("127.0.0.1", port, testing::make_query("www.example.org.", "A", {.id = 77}));
    REQUIRE(hit.size() > 12);
    CHECK(wire::id(hit.data()) == 77);
    CHECK(aa(hit));
    CHECK(first_ttl(hit) <= 30);
    CHECK(first_ttl(hit) >= 28);
    CHECK(testing::section(hit, 1).size() == 1);
    CHECK(up.queries() == 1);

    // Another case of the same name: a hit, with the question as asked.
    const Bytes mixed = testing::udp_exchange("127.0.0.1", port, testing::make_query("WwW.ExAmple.ORG.", "A"));
    REQUIRE(mixed.size() > 12);
    CHECK(std::memcmp(mixed.data() + 12, "\x03WwW\x07" "ExAmple\x03ORG", 16) == 0);
    CHECK(up.queries() == 1);

    // EDNS client: the finisher attaches the client's OPT to the cached reply.
    const Bytes edns = testing::udp_exchange("127.0.0.1", port,
                                             testing::make_query("www.example.org.", "A", {.edns = true}));
    REQUIRE(edns.size() > 12);
    CHECK(wire::arcount(edns.data()) == 1);
    CHECK(up.queries() == 1);

    // Over TCP the same entry answers.
    const Bytes tcp = testing::tcp_exchange("127.0.0.1", port, testing::make_query("www.example.org.", "A"));
    REQUIRE(tcp.size() > 12);
    CHECK(aa(tcp));
    CHECK(up.queries() == 1);

    // Another type is another key.
    testing::udp_exchange("127.0.0.1", port, testing::make_query("www.example.org.", "AAAA"));
    CHECK(up.queries() == 2);
}

TEST_CASE("node-local-dns cache block: success 9984 30, denial 9984 5", "[cache][e2e]") {
    Upstream up;
    testing::ServerProcess srv(".:0 {\n    errors\n    cache {\n            success 9984 30\n"
                               "            denial 9984 5\n    }\n    bind 127.0.0.1\n"
                               "    forward . 127.0.0.1:" + std::to_string(up.port()) + "\n    }\n");
    REQUIRE(srv.started());
    const uint16_t port = srv.port();
    const Bytes nx = testing::udp_exchange("127.0.0.1", port, testing::make_query("nx.example.org.", "A"));
    REQUIRE(nx.size() > 12);
    CHECK(wire::rcode(nx.data()) == 3);
    CHECK(first_ttl(nx, 2) == 5);
    const Bytes nx2 = testing::udp_exchange("127.0.0.1", port, testing::make_query("nx.example.org.", "A"));
    REQUIRE(nx2.size() > 12);
    CHECK(wire::rcode(nx2.data()) == 3);
    CHECK(aa(nx2));
    CHECK(first_ttl(nx2, 2) <= 5);
    CHECK(up.queries() == 1);

    const Bytes a = testing::udp_exchange("127.0.0.1", port, testing::make_query("ok.example.org.", "A"));
    REQUIRE(a.size() > 12);
    CHECK(first_ttl(a) == 30);
    testing::udp_exchange("127.0.0.1", port, testing::make_query("ok.example.org.", "A"));
    CHECK(up.queries() == 2);
}

TEST_CASE("an upstream reply whose question reads through the header: SERVFAIL, never cached", "[cache][e2e]") {
    // 03 www 07 example C0 0B: the name is only "www.example." by way of
    // ARCOUNT's low byte. Forward treats it as a reply it cannot read (as
    // for any unparsable reply: SERVFAIL once the deadline passes), so the
    // cache never sees it; once the upstream is fixed, the next query goes
    // to it again.
    testing::FakeUpstream fake;
    REQUIRE(fake.port() != 0);
    std::atomic<bool> broken{true};
    std::atomic<int> asked{0};
    fake.set_responder([&](const Bytes& req) -> Bytes {
        wire::QueryInfo qi;
        if (wire::parse_query(req.data(), req.size(), qi) != wire::Verdict::ok) return {};
        if (qi.qtype == wire::kTypeNS) return {};  // health probes
        ++asked;
        if (!broken) return testing::make_reply(req, 0, {"www.example. 300 IN A 192.0.2.9"});
        Bytes r(req.begin(), req.begin() + 12);
        wire::wr16(r.data() + 2, 0x8180);
        wire::set_rr_counts(r.data(), 1, 0, 0);
        r.insert(r.end(), {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0xC0, 11, 0, 1, 0, 1});
        r.insert(r.end(), {0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1});
        return r;
    });
    testing::ServerProcess srv(".:0 {\n bind 127.0.0.1\n errors\n cache 30\n forward . 127.0.0.1:" +
                               std::to_string(fake.port()) + "\n}\n");
    REQUIRE(srv.started());
    const uint16_t port = srv.port();

    const Bytes bad = testing::udp_exchange("127.0.0.1", port, testing::make_query("www.example.", "A"), 9000);
    REQUIRE(bad.size() >= 12);
    CHECK(wire::rcode(bad.data()) == wire::kServFail);
    CHECK(wire::ancount(bad.data()) == 0);
    INFO(srv.out());
    CHECK(srv.out().find("[ERROR] plugin/errors: 2 www.example. A: ") != std::string::npos);

    broken = false;
    const int before = asked.load();
    const Bytes good = testing::udp_exchange("127.0.0.1", port, testing::make_query("www.example.", "A"));
    REQUIRE(good.size() > 12);
    CHECK(wire::rcode(good.data()) == 0);
    CHECK(asked.load() == before + 1);  // not answered from the cache
    CHECK(testing::section(good, 1) == std::vector<std::string>{"www.example.\t30\tIN\tA\t192.0.2.9"});
}
