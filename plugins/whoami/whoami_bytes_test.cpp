// whoami's reply byte for byte (uncompressed, as CoreDNS sends it), so the
// move to wire::Writer cannot change a single byte.
#include <arpa/inet.h>
#include <netinet/in.h>

#include "plugins/whoami/whoami.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using testing::Bytes;

namespace {
Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
const Bytes kName = {7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'O', 'R', 'G', 0};
}  // namespace

TEST_CASE("whoami's reply bytes", "[whoami]") {
    const Bytes req = testing::make_query("Example.ORG.", "A");
    uint8_t resp[512];
    Query q;
    q.req = const_cast<uint8_t*>(req.data());
    q.req_len = req.size();
    REQUIRE(wire::parse_query(q.req, q.req_len, q.info) == wire::Verdict::ok);

    SECTION("IPv4 over UDP") {
        auto* a = reinterpret_cast<sockaddr_in*>(&q.client.addr);
        a->sin_family = AF_INET;
        a->sin_port = htons(53001);
        inet_pton(AF_INET, "192.0.2.7", &a->sin_addr);
        q.proto = Proto::udp;
        const size_t n = plugins::build_whoami_reply(q, resp, sizeof resp);
        const Bytes want = cat({{0x12, 0x34, 0x85, 0x00, 0, 1, 0, 0, 0, 0, 0, 2},
                                kName, {0, 1, 0, 1},
                                kName, {0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 192, 0, 2, 7},
                                {4, '_', 'u', 'd', 'p'}, kName,
                                {0, 33, 0, 1, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0xCF, 0x09, 0}});
        CHECK(Bytes(resp, resp + n) == want);
        // One byte short: nothing (the plugin answers SERVFAIL).
        CHECK(plugins::build_whoami_reply(q, resp, want.size() - 1) == 0);
    }
    SECTION("IPv6 over TCP") {
        auto* a = reinterpret_cast<sockaddr_in6*>(&q.client.addr);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(4242);
        inet_pton(AF_INET6, "2001:db8::1", &a->sin6_addr);
        q.proto = Proto::tcp;
        const size_t n = plugins::build_whoami_reply(q, resp, sizeof resp);
        const Bytes want = cat({{0x12, 0x34, 0x85, 0x00, 0, 1, 0, 0, 0, 0, 0, 2},
                                kName, {0, 1, 0, 1},
                                kName, {0, 28, 0, 1, 0, 0, 0, 0, 0, 16,
                                        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                                {4, '_', 't', 'c', 'p'}, kName,
                                {0, 33, 0, 1, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0x10, 0x92, 0}});
        CHECK(Bytes(resp, resp + n) == want);
    }
}
