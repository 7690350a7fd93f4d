// rewrite against the real binary: forward to a fake upstream that answers
// only the rewritten question (and records the requests it got), over UDP
// and TCP, with and without cache in front; the client must see its own
// question and names in every reply.
#include <mutex>
#include <string>
#include <vector>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using testing::Bytes;

namespace {

struct Upstream {
    testing::FakeUpstream up;
    std::mutex mu;
    std::vector<Bytes> seen;
    Upstream() {
        up.set_responder([this](const Bytes& req) {
            {
                std::lock_guard<std::mutex> l(mu);
                seen.push_back(req);
            }
            const std::string text = testing::to_text(req);
            if (text.find(";; web.default.svc.cluster.local.\tIN\tA") != std::string::npos)
                return testing::make_reply(req, 0,
                                           {"web.default.svc.cluster.local. 60 IN CNAME pod.default.svc.cluster.local.",
                                            "pod.default.svc.cluster.local. 60 IN A 10.1.2.3"});
            if (text.find(";; typed.example.\tIN\tTXT") != std::string::npos)
                return testing::make_reply(req, 0, {"typed.example. 60 IN TXT \"rewritten-type\""});
            if (text.find(";; edns.example.\tIN\tA") != std::string::npos) {
                // Answers 10.0.0.1 only when the EDNS0 local option 0xffee
                // carries "abcd".
                wire::QueryInfo qi;
                wire::parse_query(req.data(), req.size(), qi);
                bool ok = false;
                for (size_t o = qi.edns.rdata_off; qi.edns.present && o + 4 <= size_t(qi.edns.rdata_off) + qi.edns.rdata_len;) {
                    const uint16_t c = wire::rd16(&req[o]), l = wire::rd16(&req[o + 2]);
                    if (c == 0xffee && Bytes(req.begin() + long(o) + 4, req.begin() + long(o) + 4 + l) == Bytes{'a', 'b', 'c', 'd'})
                        ok = true;
                    o += 4 + l;
                }
                return testing::make_reply(req, 0, {ok ? "edns.example. 60 IN A 10.0.0.1" : "edns.example. 60 IN A 10.9.9.9"});
            }
            return testing::make_reply(req, 3, {});
        });
    }
};

std::string question_of(const Bytes& msg) {
    const auto text = testing::to_text(msg);
    const auto p = text.find(";; QUESTION SECTION:\n;");
    if (p == std::string::npos) return "";
    const auto e = text.find('\n', p + 22);
    std::string s = text.substr(p + 22, e - p - 22);
    while (!s.empty() && (s[0] == ';' || s[0] == ' ')) s.erase(0, 1);
    return s;
}

Bytes ask(uint16_t port, bool tcp, const std::string& name, const std::string& type, testing::QueryOptions o = {}) {
    const Bytes q = testing::make_query(name, type, o);
    return tcp ? testing::tcp_exchange("127.0.0.1", port, q, 4000) : testing::udp_exchange("127.0.0.1", port, q, 4000);
}

}  // namespace

TEST_CASE("rewrite e2e: name suffix with answer auto, type, edns0 local", "[rewrite][e2e]") {
    Upstream u;
    for (bool with_cache : {false, true}) {
        const std::string corefile = std::string(".:0 {\n bind 127.0.0.1\n errors\n") + (with_cache ? " cache 30\n" : "") +
                                     " rewrite name suffix .cluster.local .svc.cluster.local answer auto\n"
                                     " rewrite type A TXT\n"
                                     " rewrite edns0 local set 0xffee abcd\n"
                                     " forward . " + u.up.addr() + "\n}\n";
        // All rules are `stop`: *.cluster.local takes the name rule, other A
        // queries the type rule (A -> TXT).
        testing::ServerProcess srv(corefile);
        REQUIRE(srv.started());
        for (int round = 0; round < 2; ++round) {  // the second round hits the cache when there is one
            for (bool tcp : {false, true}) {
                INFO("cache " << with_cache << " tcp " << tcp << " round " << round);
                Bytes r = ask(srv.port(), tcp, "Web.Default.cluster.local.", "A");
                REQUIRE(r.size() >= 12);
                CHECK(wire::rcode(r.data()) == 0);
                CHECK(question_of(r) == "Web.Default.cluster.local.\tIN\tA");
                auto ans = testing::section(r, 1);
                REQUIRE(ans.size() == 2);
                CHECK(ans[0].find("web.default.cluster.local.\t") == 0);
                CHECK(ans[0].find("CNAME\tpod.default.cluster.local.") != std::string::npos);
                CHECK(ans[1].find("pod.default.cluster.local.\t") == 0);
                CHECK(ans[1].find("10.1.2.3") != std::string::npos);

                r = ask(srv.port(), tcp, "typed.example.", "A");
                REQUIRE(r.size() >= 12);
                CHECK(question_of(r) == "typed.example.\tIN\tA");
                ans = testing::section(r, 1);
                REQUIRE(ans.size() == 1);
                CHECK(ans[0].find("TXT\t\"rewritten-type\"") != std::string::npos);
            }
        }
    }
}

TEST_CASE("rewrite e2e: edns0 local set reaches the upstream", "[rewrite][e2e]") {
    Upstream u;
    for (bool with_cache : {false, true}) {
        const std::string corefile = std::string(".:0 {\n bind 127.0.0.1\n") + (with_cache ? " cache 30\n" : "") +
                                     " rewrite edns0 local set 0xffee abcd\n forward . " + u.up.addr() + "\n}\n";
        testing::ServerProcess srv(corefile);
        REQUIRE(srv.started());
        for (bool tcp : {false, true})
            for (bool edns : {false, true}) {
                INFO("cache " << with_cache << " tcp " << tcp << " edns " << edns);
                testing::QueryOptions o;
                o.edns = edns;
                const Bytes r = ask(srv.port(), tcp, "edns.example.", "A", o);
                REQUIRE(r.size() >= 12);
                CHECK(question_of(r) == "edns.example.\tIN\tA");
                const auto ans = testing::section(r, 1);
                REQUIRE(ans.size() == 1);
                CHECK(ans[0].find("10.0.0.1") != std::string::npos);
            }
    }
}
