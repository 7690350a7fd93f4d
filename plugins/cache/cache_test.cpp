// The cache plugin in a real chain ([cache, fake upstream]) run by the
// server's drive(), with a manual clock: no sockets, no sleeping.
#include "plugins/cache/cache.hpp"

#include <cstring>
#include <functional>

#include "core/config.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using namespace dnscore::plugins::cache;
using testing::Bytes;
using testing::first_ttl;

namespace {

class ManualClock final : public Clock {
public:
    int64_t now = 1000 * kSecond;
    int64_t wall = 1'700'000'000;
    int64_t now_ns() const override { return now; }
    int64_t wall_s() const override { return wall; }
    void advance(int64_t seconds) {
        now += seconds * kSecond;
        wall += seconds;
    }
};

// The plugin below the cache: answers with whatever `reply` builds from the
// request, or fails with SERVFAIL without writing (an unreachable upstream).
class FakeUpstream final : public Plugin {
public:
    std::function<Bytes(const Bytes& req)> reply;
    bool down = false;
    bool shed = false;  // refuses as forward past max_pending (Query::shed)
    int calls = 0;
    std::vector<bool> tcp_calls;
    std::string_view name() const override { return "forward"; }
    Step query(Query& q) override {
        ++calls;
        tcp_calls.push_back(q.tcp());
        if (shed) {
            q.fail(wire::kServFail, "plugin/forward: pending upstream queries exceeded maximum 3", name());
            q.shed = true;
            return Step::done;
        }
        if (down || !reply) {
            q.fail(wire::kServFail, "plugin/forward: no healthy upstream", name());
            return Step::done;
        }
        Bytes r = reply(Bytes(q.req, q.req + q.req_len));
        REQUIRE(q.write_reply(r.data(), r.size(), name()));
        return Step::done;
    }
};

struct Harness {
    ManualClock clock;
    std::shared_ptr<Cache> cache;
    std::shared_ptr<FakeUpstream> upstream = std::make_shared<FakeUpstream>();
    Block block;
    Site site;
    testing::ChainHarness chain{site};
    std::string last_error;

    explicit Harness(Config cfg = {}) {
        auto stores = std::make_shared<Stores>(cfg.pcap, cfg.ncap);
        cache = std::make_shared<Cache>(std::move(cfg), stores, clock);
        block.plugins = {cache, upstream};
        block.chain = {cache.get(), upstream.get()};
        site.block = &block;
        site.zone = ".";
        site.zone_wire[0] = 0;
        site.zone_wire_len = 1;
        site.server = "dns://:53";
    }

    // Sends one query through the chain; returns what the client receives.
    Bytes ask(const Bytes& req, bool tcp = false) {
        testing::TestQuery t(req);
        t.tcp(tcp);
        Bytes reply = chain.run(t).reply;
        last_error = t.q.error;
        return reply;
    }
    Bytes ask(const std::string& name, const std::string& type, const testing::QueryOptions& o = {}) {
        return ask(testing::make_query(name, type, o));
    }
};

std::vector<uint32_t> all_ttls(const Bytes& m) {
    std::vector<uint32_t> out;
    wire::for_each_rr(m.data(), m.size(), [&](const wire::RR& rr) {
        if (rr.type != wire::kTypeOPT) out.push_back(rr.ttl);
        return true;
    });
    return out;
}
bool has_flag(const Bytes& m, uint16_t f) { return wire::flags(m.data()) & f; }

auto answer_a(uint32_t ttl) {
    return [ttl](const Bytes& req) {
        return testing::make_reply(req, 0, {"example.org. " + std::to_string(ttl) + " IN A 192.0.2.1"},
                                   {"example.org. 7200 IN NS ns.example.org."},
                                   {"ns.example.org. 50 IN A 192.0.2.53"});
    };
}

}  // namespace

TEST_CASE("a miss is forwarded and re-TTLed, the hit comes from the store", "[cache]") {
    Harness h;
    h.upstream->reply = answer_a(300);
    const Bytes miss = h.ask("example.org.", "A");
    REQUIRE(miss.size() > 12);
    CHECK(h.upstream->calls == 1);
    CHECK_FALSE(has_flag(miss, wire::kAA));
    // Every record leaves with the one computed TTL (min over the message: 50).
    CHECK(all_ttls(miss) == std::vector<uint32_t>{50, 50, 50});

    h.clock.advance(10);
    const Bytes hit = h.ask("example.org.", "A", {.id = 0x4242});
    CHECK(h.upstream->calls == 1);
    CHECK(wire::id(hit.data()) == 0x4242);
    CHECK(has_flag(hit, wire::kAA));
    CHECK(has_flag(hit, wire::kQR));
    CHECK(has_flag(hit, wire::kRA));
    CHECK(has_flag(hit, wire::kRD));
    CHECK(all_ttls(hit) == std::vector<uint32_t>{40, 40, 40});
    CHECK(testing::section(hit, 1) == std::vector<std::string>{"example.org.\t40\tIN\tA\t192.0.2.1"});

    // Whole seconds, truncated: 9.9 s later it still shows 40 - 9 = 31.
    h.clock.now += 9 * kSecond + 900'000'000;
    CHECK(first_ttl(h.ask("example.org.", "A")) == 31);

    // Expired (remaining <= 0 without serve_stale): a miss again.
    h.clock.advance(31);
    h.ask("example.org.", "A");
    CHECK(h.upstream->calls == 2);
    const auto t = h.cache->totals();
    CHECK(t.requests == 4);
    CHECK(t.hits_success == 2);
    CHECK(t.misses == 2);
}

TEST_CASE("the hit echoes the question as the client wrote it", "[cache]") {
    Harness h;
    h.upstream->reply = answer_a(300);
    h.ask("example.org.", "A");
    const Bytes hit = h.ask("ExAmPlE.oRg.", "A", {.rd = false});
    REQUIRE(h.upstream->calls == 1);
    CHECK(std::memcmp(hit.data() + 12, "\x07" "ExAmPlE\x03oRg", 12) == 0);
    CHECK_FALSE(has_flag(hit, wire::kRD));
    // A class other than IN shares the entry (1.12 keys have no class) and
    // the class is echoed as asked.
    const Bytes ch = h.ask("example.org.", "A", {.qclass = 3});
    CHECK(h.upstream->calls == 1);
    CHECK(wire::rd16(ch.data() + 12 + 13 + 2) == 3);
}

TEST_CASE("a NOTIFY answered from the cache carries no RD or CD (SetReply)", "[cache]") {
    Harness h;
    h.upstream->reply = answer_a(300);
    h.ask("example.org.", "A");
    Bytes notify = testing::make_query("example.org.", "A", {.rd = true, .cd = true});
    notify[2] = uint8_t((notify[2] & 0x87) | (4 << 3));
    // CD is part of the key: fill the CD entry first with a QUERY.
    h.ask("example.org.", "A", {.rd = true, .cd = true});
    REQUIRE(h.upstream->calls == 2);
    const Bytes hit = h.ask(notify);
    REQUIRE(h.upstream->calls == 2);
    REQUIRE(hit.size() > 12);
    CHECK(wire::opcode(hit.data()) == 4);
    CHECK(has_flag(hit, wire::kAA));
    CHECK_FALSE(has_flag(hit, wire::kRD));
    CHECK_FALSE(has_flag(hit, wire::kCD));
    // The same entry asked with QUERY keeps them.
    const Bytes query = h.ask("example.org.", "A", {.rd = true, .cd = true});
    CHECK(has_flag(query, wire::kRD));
    CHECK(has_flag(query, wire::kCD));
}

TEST_CASE("a 0x20 re-spelling of a cached name over UDP 512: TC iff records dropped, parseable", "[cache]") {
    // 40 A records whose owners are compressed against the question (as
    // ldns and most servers write them): 16 bytes each, so the whole reply
    // is over 512 and some records must go on UDP.
    Harness h;
    constexpr int kRecords = 40;
    h.upstream->reply = [](const Bytes& req) {
        std::vector<std::string> rrs;
        for (int i = 0; i < kRecords; ++i) rrs.push_back("www.example.org. 300 IN A 192.0.2." + std::to_string(i));
        return testing::make_reply(req, 0, rrs);
    };
    const Bytes full = h.ask(testing::make_query("www.example.org.", "A"), /*tcp=*/true);
    REQUIRE(wire::ancount(full.data()) == kRecords);
    REQUIRE(full.size() > 512);
    for (const char* spelling : {"WWW.EXAMPLE.ORG.", "wWw.ExAmPlE.oRg.", "www.example.org."}) {
        INFO(spelling);
        const Bytes r = h.ask(testing::make_query(spelling, "A"));
        CHECK(h.upstream->calls == 1);
        REQUIRE(r.size() >= 12);
        CHECK(r.size() <= 512);
        const unsigned an = wire::ancount(r.data());
        CHECK(an > 0);
        CHECK(has_flag(r, wire::kTC) == (an < kRecords));
        // ldns reads it, every record is there as counted, the question as asked.
        CHECK_FALSE(testing::to_text(r).empty());
        CHECK(testing::section(r, 1).size() == an);
        CHECK(std::memcmp(r.data() + 12 + 1, spelling, 3) == 0);
        // The compression as cached: every owner is a pointer to the question.
        CHECK(an == (512 - (12 + 17 + 4)) / 16);
    }
}

TEST_CASE("a reply whose question name reads through the header is not stored", "[cache]") {
    // 03 www 07 example C0 0B: "www.example." only by way of ARCOUNT's low
    // byte; once cached, a different header would change the name.
    Harness h;
    h.upstream->reply = [](const Bytes& req) {
        Bytes r(req.begin(), req.begin() + 12);
        wire::wr16(r.data() + 2, 0x8180);
        wire::set_rr_counts(r.data(), 1, 0, 0);
        r.insert(r.end(), {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0xC0, 11, 0, 1, 0, 1});
        r.insert(r.end(), {0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1});
        return r;
    };
    h.ask("www.example.", "A");
    h.ask("www.example.", "A");
    CHECK(h.upstream->calls == 2);
    CHECK(h.cache->totals().hits_success == 0);
}

TEST_CASE("TTL clamps: minimum 5, maximum 3600, cache TTL and MINTTL", "[cache]") {
    SECTION("defaults") {
        Harness h;
        h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 0 IN A 192.0.2.1"}); };
        CHECK(first_ttl(h.ask("example.org.", "A")) == 5);
        h.clock.advance(4);
        CHECK(first_ttl(h.ask("example.org.", "A")) == 1);
        CHECK(h.upstream->calls == 1);
    }
    SECTION("above 3600 is capped even when the configured maximum is higher") {
        Config c;
        c.pttl_s = 7200;
        Harness h(c);
        h.upstream->reply = [](const Bytes& req) {
            return testing::make_reply(req, 0, {"example.org. 86400 IN A 192.0.2.1"});
        };
        CHECK(first_ttl(h.ask("example.org.", "A")) == 3600);
    }
    SECTION("cache 30 and success MINTTL") {
        Config c;
        c.pttl_s = 30;
        c.nttl_s = 30;
        Harness h(c);
        h.upstream->reply = answer_a(300);
        CHECK(first_ttl(h.ask("example.org.", "A")) == 30);
        Config m;
        m.minpttl_s = 100;
        Harness h2(m);
        h2.upstream->reply = answer_a(300);  // min over the message is 50 -> raised to 100
        CHECK(first_ttl(h2.ask("example.org.", "A")) == 100);
    }
    SECTION("keepttl shows the stored duration") {
        Config c;
        c.keepttl = true;
        Harness h(c);
        h.upstream->reply = answer_a(300);
        h.ask("example.org.", "A");
        h.clock.advance(20);
        CHECK(first_ttl(h.ask("example.org.", "A")) == 50);
    }
}

TEST_CASE("denial: NXDOMAIN and NODATA with SOA are cached, without SOA they are not", "[cache]") {
    Config c;
    c.nttl_s = 5;  // node-local-dns: denial 9984 5
    Harness h(c);
    h.upstream->reply = [](const Bytes& req) {
        return testing::make_reply(req, 3, {}, {"org. 900 IN SOA a.org. b.org. 1 2 3 4 600"});
    };
    const Bytes nx = h.ask("nope.org.", "A");
    CHECK(wire::rcode(nx.data()) == 3);
    CHECK(first_ttl(nx, 2) == 5);
    h.clock.advance(2);
    const Bytes hit = h.ask("nope.org.", "A");
    CHECK(h.upstream->calls == 1);
    CHECK(wire::rcode(hit.data()) == 3);
    CHECK(has_flag(hit, wire::kAA));
    CHECK(first_ttl(hit, 2) == 3);
    CHECK(h.cache->totals().hits_denial == 1);

    // NXDOMAIN without SOA: "other error", passed through, never stored.
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 3, {}); };
    h.ask("bare.org.", "A");
    h.ask("bare.org.", "A");
    CHECK(h.upstream->calls == 3);

    // NODATA (NOERROR + SOA) goes to the denial cache.
    h.upstream->reply = [](const Bytes& req) {
        return testing::make_reply(req, 0, {}, {"org. 900 IN SOA a.org. b.org. 1 2 3 4 600"});
    };
    h.ask("nodata.org.", "AAAA");
    h.ask("nodata.org.", "AAAA");
    CHECK(h.upstream->calls == 4);
    CHECK(h.cache->stores().denial.size() == 2);
    CHECK(h.cache->stores().success.size() == 0);
}

TEST_CASE("a NOERROR with only a CNAME is a success entry; delegations live 5 s", "[cache]") {
    Harness h;
    h.upstream->reply = [](const Bytes& req) {
        return testing::make_reply(req, 0, {"www.example.org. 600 IN CNAME gone.example.net."});
    };
    CHECK(first_ttl(h.ask("www.example.org.", "A")) == 600);
    h.ask("www.example.org.", "A");
    CHECK(h.upstream->calls == 1);
    CHECK(h.cache->stores().success.size() == 1);

    h.upstream->reply = [](const Bytes& req) {
        return testing::make_reply(req, 0, {}, {"sub.example.org. 86400 IN NS ns1.sub.example.org."});
    };
    CHECK(first_ttl(h.ask("x.sub.example.org.", "A"), 2) == 5);
    h.clock.advance(4);
    h.ask("x.sub.example.org.", "A");
    CHECK(h.upstream->calls == 2);
    h.clock.advance(1);
    h.ask("x.sub.example.org.", "A");
    CHECK(h.upstream->calls == 3);
}

TEST_CASE("SERVFAIL replies are cached for the servfail duration", "[cache]") {
    SECTION("default 5s") {
        Harness h;
        h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 2, {}); };
        h.ask("fail.org.", "A");
        h.clock.advance(4);
        const Bytes hit = h.ask("fail.org.", "A");
        CHECK(wire::rcode(hit.data()) == 2);
        CHECK(h.upstream->calls == 1);
        h.clock.advance(1);
        h.ask("fail.org.", "A");
        CHECK(h.upstream->calls == 2);
    }
    SECTION("servfail 0 disables it") {
        Config c;
        c.failttl_ns = 0;
        Harness h(c);
        h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 2, {}); };
        h.ask("fail.org.", "A");
        h.ask("fail.org.", "A");
        CHECK(h.upstream->calls == 2);
    }
    SECTION("an unwritten SERVFAIL (upstream down) is never stored") {
        Harness h;
        h.upstream->down = true;
        h.ask("down.org.", "A");
        h.ask("down.org.", "A");
        CHECK(h.upstream->calls == 2);
        CHECK(h.cache->stores().denial.size() == 0);
    }
}

TEST_CASE("DO and CD partition the key, AD does not; AD rules", "[cache]") {
    Harness h;
    h.upstream->reply = [](const Bytes& req) {
        Bytes r = testing::make_reply(req, 0, {"example.org. 300 IN A 192.0.2.1"});
        wire::set_flag(r.data(), wire::kAD, true);
        return r;
    };
    const Bytes plain = h.ask("example.org.", "A");
    CHECK_FALSE(has_flag(plain, wire::kAD));  // client sent neither DO nor AD
    h.ask("example.org.", "A", {.ad = true});
    CHECK(h.upstream->calls == 1);
    CHECK(has_flag(h.ask("example.org.", "A", {.ad = true}), wire::kAD));  // stored AD, client asked AD
    CHECK_FALSE(has_flag(h.ask("example.org.", "A"), wire::kAD));
    h.ask("example.org.", "A", {.edns = true, .do_bit = true});
    CHECK(h.upstream->calls == 2);
    const Bytes cd = h.ask("example.org.", "A", {.cd = true});
    CHECK(h.upstream->calls == 3);
    h.ask("example.org.", "A", {.cd = true});
    CHECK(h.upstream->calls == 3);
    CHECK(has_flag(h.ask("example.org.", "A", {.cd = true}), wire::kCD));
}

TEST_CASE("upstream OPT is stripped, the client's EDNS is applied by the finisher", "[cache]") {
    Harness h;
    h.upstream->reply = [](const Bytes& req) {
        Bytes r = testing::make_reply(req, 0, {"example.org. 300 IN A 192.0.2.1"});
        // OPT: root owner, type 41, size 1232, ttl 0, NSID option "up".
        const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 6, 0, 3, 0, 2, 'u', 'p'};
        r.insert(r.end(), opt, opt + sizeof opt);
        wire::wr16(r.data() + 10, uint16_t(wire::arcount(r.data()) + 1));
        return r;
    };
    const Bytes noedns = h.ask("example.org.", "A");
    CHECK(wire::arcount(noedns.data()) == 0);
    const Bytes withedns = h.ask("example.org.", "A", {.edns = true, .udp_size = 1400});
    REQUIRE(wire::arcount(withedns.data()) == 1);
    wire::QueryInfo qi;
    // The OPT the client gets is its own: size 1400, no NSID.
    wire::for_each_rr(withedns.data(), withedns.size(), [&](const wire::RR& rr) {
        if (rr.type == wire::kTypeOPT) {
            CHECK(rr.klass == 1400);
            CHECK(rr.rdlen == 0);
        }
        return true;
    });
    (void)qi;
}

TEST_CASE("truncated, mismatched and zone-external replies are not stored", "[cache]") {
    SECTION("TC") {
        Harness h;
        h.upstream->reply = [](const Bytes& req) {
            Bytes r = testing::make_reply(req, 0, {"example.org. 300 IN A 192.0.2.1"});
            wire::set_flag(r.data(), wire::kTC, true);
            return r;
        };
        CHECK(first_ttl(h.ask("example.org.", "A")) == 300);
        h.ask("example.org.", "A");
        CHECK(h.upstream->calls == 2);
    }
    SECTION("a reply for another name is dropped and counted") {
        Harness h;
        h.upstream->reply = [](const Bytes&) {
            return testing::make_reply(testing::make_query("other.org.", "A"), 0, {"other.org. 300 IN A 192.0.2.1"});
        };
        h.ask("example.org.", "A");
        h.ask("example.org.", "A");
        CHECK(h.upstream->calls == 2);
        CHECK(h.cache->totals().drops == 2);
    }
    SECTION("names outside the cache zones pass through untouched") {
        Config c;
        c.zones = {"example.org."};
        Harness h(c);
        h.upstream->reply = [](const Bytes& req) {
            return testing::make_reply(req, 0, {"example.net. 300 IN A 192.0.2.1", "example.net. 7 IN A 192.0.2.2"});
        };
        const Bytes r = h.ask("example.net.", "A");
        CHECK(all_ttls(r) == std::vector<uint32_t>{300, 7});
        h.ask("example.net.", "A");
        CHECK(h.upstream->calls == 2);
        CHECK(h.cache->totals().requests == 0);
    }
    SECTION("disable success for a zone") {
        Config c;
        c.pexcept = {"example.org."};
        Harness h(c);
        h.upstream->reply = answer_a(300);
        h.ask("example.org.", "A");
        h.ask("example.org.", "A");
        CHECK(h.upstream->calls == 2);
    }
}

TEST_CASE("prefetch refreshes popular entries near expiry in the background", "[cache]") {
    Config c;
    c.prefetch = 2;
    c.percentage = 50;
    Harness h(c);
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.1"}); };
    h.ask("example.org.", "A");  // stored with 10 s
    h.ask("example.org.", "A");  // hit 1, 10 s left
    h.clock.advance(4);
    h.ask("example.org.", "A");  // hit 2, 6 s left > 5: no prefetch yet
    CHECK(h.upstream->calls == 1);
    h.clock.advance(1);
    const Bytes r = h.ask("example.org.", "A");  // hit 3, 5 s left <= ceil(50% of 10)
    CHECK(first_ttl(r) == 5);                    // the client still gets the cached item
    CHECK(h.upstream->calls == 2);
    CHECK(h.upstream->tcp_calls.back());  // the refresh is presented as TCP
    CHECK(h.cache->totals().prefetch == 1);
    // The refreshed entry is fresh: 10 s again, and it kept the hit count.
    CHECK(first_ttl(h.ask("example.org.", "A")) == 10);
    CHECK(h.upstream->calls == 2);
}

TEST_CASE("serve_stale immediate serves expired entries with TTL 0 and refreshes", "[cache]") {
    Config c;
    c.stale_up_to_ns = 60 * kSecond;
    Harness h(c);
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.1"}); };
    h.ask("example.org.", "A");
    h.upstream->down = true;
    h.clock.advance(30);
    const Bytes stale = h.ask("example.org.", "A");
    REQUIRE(stale.size() > 12);
    CHECK(wire::rcode(stale.data()) == 0);
    CHECK(first_ttl(stale) == 0);
    CHECK(h.upstream->calls == 2);  // the background refresh tried
    CHECK(h.cache->totals().served_stale == 1);
    CHECK(h.cache->totals().prefetch == 1);
    // EDNS clients learn that the answer is stale: EDE 3 in their OPT.
    const Bytes ede = h.ask("example.org.", "A", {.edns = true, .udp_size = 1232});
    REQUIRE(wire::arcount(ede.data()) == 1);
    bool found = false;
    wire::for_each_rr(ede.data(), ede.size(), [&](const wire::RR& rr) {
        if (rr.type == wire::kTypeOPT) {
            CHECK(rr.klass == 1232);
            REQUIRE(rr.rdlen == 6);
            const uint8_t* o = ede.data() + rr.rdata();
            found = wire::rd16(o) == 15 && wire::rd16(o + 4) == 3;
        }
        return true;
    });
    CHECK(found);
    CHECK(h.upstream->calls == 3);
    // Beyond DURATION the entry is unusable.
    h.clock.advance(50);
    const Bytes gone = h.ask("example.org.", "A");
    CHECK(wire::rcode(gone.data()) == 2);
    // The upstream comes back: the next stale hit's refresh stores fresh data.
    h.upstream->down = false;
    h.clock.advance(-40);
    h.ask("example.org.", "A");
    CHECK(first_ttl(h.ask("example.org.", "A")) == 10);
}

TEST_CASE("serve_stale verify asks the upstream first", "[cache]") {
    Config c;
    c.stale_up_to_ns = 3600 * kSecond;
    c.verify_stale = true;
    Harness h(c);
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.1"}); };
    h.ask("example.org.", "A");
    h.clock.advance(20);
    CHECK(first_ttl(h.ask("example.org.", "A")) == 10);  // refreshed answer
    CHECK(h.upstream->calls == 2);
    h.clock.advance(20);
    h.upstream->down = true;
    const Bytes stale = h.ask("example.org.", "A");
    REQUIRE(stale.size() > 12);
    CHECK(wire::rcode(stale.data()) == 0);
    CHECK(first_ttl(stale) == 0);
    CHECK(h.last_error.empty());
    CHECK(h.cache->totals().served_stale == 1);
    // A SERVFAIL reply during verification is discarded, not stored.
    h.upstream->down = false;
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 2, {}); };
    CHECK(wire::rcode(h.ask("example.org.", "A").data()) == 0);
    CHECK(h.cache->stores().denial.size() == 0);
}

TEST_CASE("typify and minimal_ttl follow CoreDNS 1.12", "[cache]") {
    const Bytes q = testing::make_query("example.org.", "A");
    auto ty = [](const Bytes& m) { return typify(m.data(), m.size(), 1'700'000'000); };
    CHECK(ty(testing::make_reply(q, 0, {"example.org. 1 IN A 192.0.2.1"})) == ReplyType::no_error);
    CHECK(ty(testing::make_reply(q, 0, {})) == ReplyType::no_error);
    CHECK(ty(testing::make_reply(q, 3, {})) == ReplyType::other_error);
    CHECK(ty(testing::make_reply(q, 3, {"example.org. 1 IN CNAME x.org."}, {"org. 1 IN SOA a. b. 1 2 3 4 5"})) ==
          ReplyType::name_error);
    CHECK(ty(testing::make_reply(q, 5, {})) == ReplyType::other_error);
    CHECK(ty(testing::make_reply(q, 4, {})) == ReplyType::server_error);
    const Bytes axfr = testing::make_query("example.org.", "AXFR");
    CHECK(ty(testing::make_reply(axfr, 0, {"example.org. 1 IN A 192.0.2.1"})) == ReplyType::meta);
    const Bytes empty = testing::make_reply(q, 0, {});
    CHECK(minimal_ttl(empty.data(), empty.size(), ReplyType::no_error) == 5);
    const Bytes big = testing::make_reply(q, 0, {"example.org. 99999 IN A 192.0.2.1"});
    CHECK(minimal_ttl(big.data(), big.size(), ReplyType::no_error) == 3600);
}

TEST_CASE("stores are shared by identical configurations and released when unused", "[cache]") {
    auto a = shared_stores("cfg-A", 100, 100);
    auto b = shared_stores("cfg-A", 100, 100);
    auto c = shared_stores("cfg-B", 100, 100);
    CHECK(a.get() == b.get());
    CHECK(a.get() != c.get());
    Stores* old = a.get();
    a.reset();
    b.reset();
    auto d = shared_stores("cfg-A", 100, 100);
    CHECK(d.use_count() == 1);
    (void)old;
}

// ---- RFC 8767 stale mode (beyond CoreDNS; the client-response timer needs a
// worker loop and is covered by tests/e2e/stale_rfc8767.sh) ----

namespace {
bool has_ede(const Bytes& m, uint16_t code) {
    bool found = false;
    wire::for_each_rr(m.data(), m.size(), [&](const wire::RR& rr) {
        if (rr.type == wire::kTypeOPT && rr.rdlen >= 6) {
            const uint8_t* o = m.data() + rr.rdata();
            found = wire::rd16(o) == 15 && wire::rd16(o + 4) == code;
        }
        return true;
    });
    return found;
}
}  // namespace

TEST_CASE("serve_stale_rfc8767: an expired entry asks the upstream first and takes its fresh answer",
          "[cache][rfc8767]") {
    Config c;
    c.rfc_max_stale_ns = 3600 * kSecond;
    Harness h(c);
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.1"}); };
    h.ask("example.org.", "A");
    h.clock.advance(5);
    CHECK(first_ttl(h.ask("example.org.", "A")) == 5);  // fresh hit, no upstream
    CHECK(h.upstream->calls == 1);
    h.clock.advance(20);
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.2"}); };
    const Bytes fresh = h.ask("example.org.", "A", {.edns = true, .udp_size = 1232});
    CHECK(h.upstream->calls == 2);
    CHECK(first_ttl(fresh) == 10);
    CHECK_FALSE(has_ede(fresh, 3));
    CHECK(h.cache->totals().stale_outcomes[plugins::cache::metrics::kStaleRefreshed] == 1);
    CHECK(h.cache->totals().served_stale == 0);
    // Stored: the next one is a hit.
    CHECK(first_ttl(h.ask("example.org.", "A")) == 10);
    CHECK(h.upstream->calls == 2);
}

TEST_CASE("serve_stale_rfc8767: upstream failure answers stale with TTL 30 and EDE 3, then waits the recheck time",
          "[cache][rfc8767]") {
    Config c;
    c.rfc_max_stale_ns = 600 * kSecond;
    c.rfc_recheck_ns = 30 * kSecond;
    Harness h(c);
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.1"}); };
    h.ask("example.org.", "A");
    h.upstream->down = true;
    h.clock.advance(20);
    const Bytes stale = h.ask("example.org.", "A", {.edns = true, .udp_size = 1232});
    REQUIRE(stale.size() > 12);
    CHECK(wire::rcode(stale.data()) == 0);
    CHECK(first_ttl(stale) == 30);
    CHECK(has_ede(stale, 3));
    CHECK(h.last_error.empty());
    CHECK(h.upstream->calls == 2);
    CHECK(h.cache->totals().stale_outcomes[plugins::cache::metrics::kStaleUpstreamFailed] == 1);
    // Within the failure-recheck time: stale at once, the upstream is not asked.
    h.clock.advance(10);
    CHECK(first_ttl(h.ask("example.org.", "A")) == 30);
    CHECK(h.upstream->calls == 2);
    CHECK(h.cache->totals().stale_outcomes[plugins::cache::metrics::kStaleRecheck] == 1);
    // The failure SERVFAIL was not stored over the entry.
    CHECK(h.cache->stores().denial.size() == 0);
    // After it the upstream is asked again; back up: fresh data.
    h.clock.advance(25);
    h.upstream->down = false;
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.2"}); };
    const Bytes back = h.ask("example.org.", "A");
    CHECK(h.upstream->calls == 3);
    CHECK(first_ttl(back) == 10);
    CHECK(h.cache->totals().served_stale == 2);
}

TEST_CASE("serve_stale_rfc8767: a SERVFAIL reply is a failure; past max stale the entry is gone", "[cache][rfc8767]") {
    Config c;
    c.rfc_max_stale_ns = 60 * kSecond;
    Harness h(c);
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.1"}); };
    h.ask("example.org.", "A");
    h.clock.advance(20);
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 2, {}); };
    const Bytes stale = h.ask("example.org.", "A");
    CHECK(wire::rcode(stale.data()) == 0);
    CHECK(first_ttl(stale) == 30);
    CHECK(h.cache->stores().denial.size() == 0);
    // 10 s TTL + 60 s max stale: at 80 s past storing nothing is served.
    h.clock.advance(60);
    h.upstream->down = true;
    CHECK(wire::rcode(h.ask("example.org.", "A").data()) == 2);
}

TEST_CASE("a query shed below (forward past max_pending) gets the expired entry instead of SERVFAIL", "[cache][shed]") {
    Harness h;  // no serve_stale
    h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.1"}); };
    h.ask("example.org.", "A");
    h.clock.advance(30);
    // Only shedding answers stale: an upstream that fails is SERVFAIL, as CoreDNS.
    h.upstream->down = true;
    CHECK(wire::rcode(h.ask("example.org.", "A").data()) == wire::kServFail);
    CHECK(h.cache->totals().served_stale == 0);
    h.upstream->down = false;
    h.upstream->shed = true;
    const Bytes stale = h.ask("example.org.", "A", {.edns = true, .udp_size = 1232});
    REQUIRE(stale.size() > 12);
    CHECK(wire::rcode(stale.data()) == wire::kNoError);
    CHECK(wire::ancount(stale.data()) == 1);
    CHECK(first_ttl(stale) == 0);  // as serve_stale answers
    CHECK(has_ede(stale, 3));     // and says it is stale
    CHECK(h.last_error.empty());  // the error is not logged: the client got an answer
    CHECK(h.cache->totals().served_stale == 1);
    CHECK(h.cache->totals().shed_stale == 1);
    // The stale answer is not stored again as fresh: once the upstream
    // takes queries again, the next one asks it.
    h.upstream->shed = false;
    const int calls = h.upstream->calls;
    CHECK(first_ttl(h.ask("example.org.", "A")) == 10);
    CHECK(h.upstream->calls == calls + 1);
    // A name with no entry: SERVFAIL, counted as nothing served.
    h.upstream->shed = true;
    CHECK(wire::rcode(h.ask("other.example.org.", "A").data()) == wire::kServFail);
    CHECK(h.cache->totals().shed_stale == 1);
    // Expired for an hour or more (serve_stale's default DURATION): SERVFAIL.
    h.clock.advance(3600);  // 3,590 s past expiry: still served
    CHECK(wire::rcode(h.ask("example.org.", "A").data()) == wire::kNoError);
    CHECK(h.cache->totals().shed_stale == 2);
    h.clock.advance(10);
    CHECK(wire::rcode(h.ask("example.org.", "A").data()) == wire::kServFail);
    CHECK(h.cache->totals().shed_stale == 2);
}

TEST_CASE("a shed query keeps to the configured stale window; verify mode counts a shed refresh", "[cache][shed]") {
    {
        Config c;
        c.stale_up_to_ns = 60 * kSecond;  // serve_stale 1m: also the window for shed queries
        c.verify_stale = true;
        Harness h(c);
        h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.1"}); };
        h.ask("example.org.", "A");
        h.upstream->shed = true;
        h.clock.advance(30);
        const Bytes stale = h.ask("example.org.", "A");  // verify: asked below, shed, stale served
        REQUIRE(stale.size() > 12);
        CHECK(wire::rcode(stale.data()) == wire::kNoError);
        CHECK(first_ttl(stale) == 0);
        CHECK(h.cache->totals().served_stale == 1);
        CHECK(h.cache->totals().shed_stale == 1);
        h.clock.advance(60);  // 80 s past expiry: outside the window
        CHECK(wire::rcode(h.ask("example.org.", "A").data()) == wire::kServFail);
        CHECK(h.cache->totals().shed_stale == 1);
    }
    {
        Config c;
        c.keepttl = true;
        Harness h(c);
        h.upstream->reply = [](const Bytes& req) { return testing::make_reply(req, 0, {"example.org. 10 IN A 192.0.2.1"}); };
        h.ask("example.org.", "A");
        h.upstream->shed = true;
        h.clock.advance(30);
        CHECK(first_ttl(h.ask("example.org.", "A")) == 10);  // keepttl: the stored TTL, as serve_stale
    }
}
