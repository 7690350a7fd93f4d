// The real binary with the answer-shaping plugins of issue 12 that this
// branch adds: `hosts` with inline entries and fallthrough to `forward` (a
// fake upstream run by this test), `loadbalance` over a multi-A upstream
// answer, `any`; over UDP and TCP, with and without `cache` in front.
#include <unistd.h>

#include <cstdio>
#include <set>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using testing::Bytes;

namespace {

// multi.example. gets four A records behind a CNAME; anything else one A.
struct Upstream {
    testing::FakeUpstream fake;
    Upstream() {
        REQUIRE(fake.port() != 0);
        fake.set_responder([](const Bytes& req) -> Bytes {
            wire::QueryInfo qi;
            if (wire::parse_query(req.data(), req.size(), qi) != wire::Verdict::ok) return {};
            if (qi.qtype == wire::kTypeNS) return {};  // health probes
            char text[1024];
            const std::string name(text, wire::name_to_text(qi.name, qi.name_len, text, sizeof text));
            if (name == "multi.example.")
                return testing::make_reply(req, 0,
                                           {"multi.example. 300 IN CNAME pool.example.", "pool.example. 300 IN A 192.0.2.1",
                                            "pool.example. 300 IN A 192.0.2.2", "pool.example. 300 IN A 192.0.2.3",
                                            "pool.example. 300 IN A 192.0.2.4"});
            return testing::make_reply(req, 0, {name + " 300 IN A 198.51.100.9"});
        });
    }
    int queries() const { return fake.udp_queries() + fake.tcp_queries() - fake.probes(); }
};

// Records of a section without their TTL ("owner\tIN\tTYPE\tRDATA"):
// behind `cache 30` TTLs are capped and count down.
std::vector<std::string> records(const Bytes& msg, int which) {
    std::vector<std::string> out;
    for (auto line : testing::section(msg, which)) {
        const size_t a = line.find('\t');
        const size_t b = line.find('\t', a + 1);
        out.push_back(line.substr(0, a) + line.substr(b));
    }
    return out;
}

Bytes ask(uint16_t port, bool tcp, const std::string& name, const std::string& type) {
    const Bytes q = testing::make_query(name, type);
    return tcp ? testing::tcp_exchange("127.0.0.1", port, q) : testing::udp_exchange("127.0.0.1", port, q);
}

void check_all(uint16_t port, bool tcp, Upstream& up, bool cached) {
    INFO((tcp ? "TCP" : "UDP"));
    // hosts: inline entry, authoritative.
    Bytes r = ask(port, tcp, "web.internal.", "A");
    REQUIRE(r.size() > 12);
    CHECK(wire::rcode(r.data()) == 0);
    CHECK((wire::flags(r.data()) & wire::kAA));
    CHECK(records(r, 1) == std::vector<std::string>{"web.internal.\tIN\tA\t10.1.0.5"});
    // hosts' TTL, or at most cache's 30.
    if (cached) CHECK(testing::first_ttl(r) <= 30);
    else CHECK(testing::first_ttl(r) == 3600);
    // hosts: PTR for it.
    r = ask(port, tcp, "5.0.1.10.in-addr.arpa.", "PTR");
    CHECK(records(r, 1) == std::vector<std::string>{"5.0.1.10.in-addr.arpa.\tIN\tPTR\tweb.internal."});
    // hosts: NODATA for a known name of another type (does not fall through).
    const int before = up.queries();
    r = ask(port, tcp, "web.internal.", "AAAA");
    REQUIRE(r.size() > 12);
    CHECK(wire::rcode(r.data()) == 0);
    CHECK(wire::ancount(r.data()) == 0);
    CHECK(up.queries() == before);
    // Unknown name: falls through to forward.
    r = ask(port, tcp, "elsewhere.example.", "A");
    CHECK(records(r, 1) == std::vector<std::string>{"elsewhere.example.\tIN\tA\t198.51.100.9"});
    // any.
    r = ask(port, tcp, "web.internal.", "ANY");
    CHECK(records(r, 1) ==
          std::vector<std::string>{"web.internal.\tIN\tHINFO\t\"ANY obsoleted\" \"See RFC 8482\""});
    // loadbalance over the forwarded multi-A answer: CNAME first, every address on top sometimes.
    std::set<std::string> firsts;
    for (int i = 0; i < 60; ++i) {
        r = ask(port, tcp, "multi.example.", "A");
        const auto ans = records(r, 1);
        REQUIRE(ans.size() == 5);
        CHECK(ans[0] == "multi.example.\tIN\tCNAME\tpool.example.");
        firsts.insert(ans[1].substr(ans[1].rfind('\t') + 1));
    }
    CHECK(firsts.size() == 4);
    // loadbalance over hosts' own multi-address answer.
    firsts.clear();
    for (int i = 0; i < 60; ++i) {
        r = ask(port, tcp, "pool.internal.", "A");
        const auto ans = records(r, 1);
        REQUIRE(ans.size() == 3);
        firsts.insert(ans[0]);
    }
    CHECK(firsts.size() == 3);
}

std::string corefile(uint16_t upstream, bool cache) {
    return ".:0 {\n bind 127.0.0.1\n" + std::string(cache ? " cache 30\n" : "") +
           " any\n loadbalance round_robin\n hosts /nonexistent/dnscore/hosts {\n  10.1.0.5 web.internal\n"
           "  10.1.0.7 pool.internal\n  10.1.0.8 pool.internal\n  10.1.0.9 pool.internal\n  ttl 3600\n  fallthrough\n }\n"
           " forward . 127.0.0.1:" +
           std::to_string(upstream) + "\n}\n";
}

}  // namespace

TEST_CASE("hosts, loadbalance and any without cache", "[hosts][e2e]") {
    Upstream up;
    testing::ServerProcess srv(corefile(up.fake.port(), false));
    REQUIRE(srv.started());
    check_all(srv.port(), false, up, false);
    check_all(srv.port(), true, up, false);
    CHECK(srv.out().find("[WARNING] plugin/hosts: File does not exist: /nonexistent/dnscore/hosts") !=
          std::string::npos);
}

TEST_CASE("hosts, loadbalance and any with cache in front", "[hosts][e2e]") {
    Upstream up;
    testing::ServerProcess srv(corefile(up.fake.port(), true));
    REQUIRE(srv.started());
    check_all(srv.port(), false, up, true);
    check_all(srv.port(), true, up, true);
    // The cache served the repeated multi.example. queries: the shuffle is
    // applied to every reply, hits included (loadbalance runs before cache).
    CHECK(up.queries() <= 4);
}

TEST_CASE("hosts re-reads its file (reload 100ms)", "[hosts][e2e]") {
    testing::ServerProcess probe(".:0 {\n bind 127.0.0.1\n whoami\n}\n");  // only for a temporary directory
    REQUIRE(probe.started());
    const std::string path = probe.dir() + "/hosts";
    {
        FILE* f = fopen(path.c_str(), "w");
        REQUIRE(f);
        fputs("10.9.0.1 file.internal\n", f);
        fclose(f);
    }
    testing::ServerProcess srv(".:0 {\n bind 127.0.0.1\n hosts " + path + " {\n  reload 100ms\n }\n}\n");
    REQUIRE(srv.started());
    CHECK(testing::section(ask(srv.port(), false, "file.internal.", "A"), 1) ==
          std::vector<std::string>{"file.internal.\t3600\tIN\tA\t10.9.0.1"});
    {
        FILE* f = fopen(path.c_str(), "w");
        REQUIRE(f);
        fputs("10.9.0.2 file.internal other.internal\n", f);
        fclose(f);
    }
    bool switched = false;
    for (int i = 0; i < 50 && !switched; ++i) {
        usleep(100 * 1000);
        switched = testing::section(ask(srv.port(), false, "file.internal.", "A"), 1) ==
                   std::vector<std::string>{"file.internal.\t3600\tIN\tA\t10.9.0.2"};
    }
    CHECK(switched);
    // Unknown name without fallthrough: SERVFAIL.
    const Bytes r = ask(srv.port(), true, "nope.internal.", "A");
    REQUIRE(r.size() > 12);
    CHECK(wire::rcode(r.data()) == wire::kServFail);
}
