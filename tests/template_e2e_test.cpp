// The real binary with `cache` in front of `template` and `forward`: the
// node-local AAAA filter, a synthesised answer over UDP and TCP (cached on
// the second ask), and fallthrough to a fake upstream.
#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using testing::Bytes;

TEST_CASE("template behind cache, with fallthrough to forward", "[template][e2e]") {
    testing::FakeUpstream up;
    REQUIRE(up.port() != 0);
    up.set_responder([](const Bytes& req) -> Bytes {
        wire::QueryInfo qi;
        if (wire::parse_query(req.data(), req.size(), qi) != wire::Verdict::ok) return {};
        if (qi.qtype == wire::kTypeNS) return {};
        char text[1024];
        const std::string name(text, wire::name_to_text(qi.name, qi.name_len, text, sizeof text));
        return testing::make_reply(req, 0, {name + " 300 IN A 192.0.2.99"});
    });
    testing::ServerProcess srv(".:0 {\n bind 127.0.0.1\n cache 30\n"
                               " template ANY AAAA {\n  rcode NOERROR\n }\n"
                               " template IN A example {\n"
                               "  match \"^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)[.]example[.]$\"\n"
                               "  answer \"{{ .Name }} 60 IN A 10.0.{{ .Group.a }}.{{ .Group.b }}\"\n"
                               "  fallthrough\n }\n"
                               " forward . 127.0.0.1:" + std::to_string(up.port()) + "\n}\n");
    REQUIRE(srv.started());
    const uint16_t port = srv.port();
    const int upstream_before = up.udp_queries() + up.tcp_queries() - up.probes();

    // AAAA filtered: NOERROR, no answer, authoritative, never forwarded.
    for (bool tcp : {false, true}) {
        const Bytes q = testing::make_query("www.google.com.", "AAAA");
        const Bytes r = tcp ? testing::tcp_exchange("127.0.0.1", port, q) : testing::udp_exchange("127.0.0.1", port, q);
        REQUIRE(r.size() > 12);
        CHECK(wire::rcode(r.data()) == 0);
        CHECK(wire::ancount(r.data()) == 0);
    }
    // Synthesised A over UDP and TCP; the second ask comes from the cache.
    for (bool tcp : {false, true}) {
        const Bytes q = testing::make_query("ip-12-34.example.", "A", {.id = uint16_t(tcp ? 2 : 1)});
        const Bytes r = tcp ? testing::tcp_exchange("127.0.0.1", port, q) : testing::udp_exchange("127.0.0.1", port, q);
        REQUIRE(r.size() > 12);
        CHECK(wire::rcode(r.data()) == 0);
        // `cache 30` caps the template TTL of 60 (CoreDNS does the same).
        CHECK(testing::section(r, 1) == std::vector<std::string>{"ip-12-34.example.\t30\tIN\tA\t10.0.12.34"});
        CHECK((wire::flags(r.data()) & wire::kAA));
    }
    CHECK(up.udp_queries() + up.tcp_queries() - up.probes() == upstream_before);
    // Not matching the regex: falls through to forward.
    const Bytes r = testing::udp_exchange("127.0.0.1", port, testing::make_query("other.example.", "A"));
    REQUIRE(r.size() > 12);
    CHECK(testing::section(r, 1) == std::vector<std::string>{"other.example.\t30\tIN\tA\t192.0.2.99"});
    CHECK(up.udp_queries() + up.tcp_queries() - up.probes() == upstream_before + 1);
}
