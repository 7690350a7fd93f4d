#include "tests/support/test_query.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdexcept>

#include "tests/support/catch.hpp"

namespace dnscore::testing {

namespace {
void set_endpoint(Endpoint& e, const std::string& ip, uint16_t port) {
    e = Endpoint{};
    if (ip.find(':') != std::string::npos) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&e.addr);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr) != 1) throw std::invalid_argument("bad IPv6: " + ip);
        e.len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&e.addr);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        if (inet_pton(AF_INET, ip.c_str(), &a->sin_addr) != 1) throw std::invalid_argument("bad IPv4: " + ip);
        e.len = sizeof *a;
    }
}
}  // namespace

TestQuery::TestQuery(const std::string& name, const std::string& type, const QueryOptions& o)
    : TestQuery(make_query(name, type, o)) {}

TestQuery::TestQuery(Bytes request) : req(std::move(request)), resp(wire::kMaxMessage) {
    q.req = req.data();
    q.req_len = req.size();
    REQUIRE(wire::parse_query(q.req, q.req_len, q.info) == wire::Verdict::ok);
    q.resp = resp.data();
    q.resp_cap = resp.size();
}

TestQuery& TestQuery::tcp(bool on) {
    q.proto = on ? Proto::tcp : Proto::udp;
    return *this;
}

TestQuery& TestQuery::client(const std::string& ip, uint16_t port) {
    set_endpoint(q.client, ip, port);
    return *this;
}

TestQuery& TestQuery::local(const std::string& ip, uint16_t port) {
    set_endpoint(q.local, ip, port);
    return *this;
}

void TestQuery::write(const Bytes& reply) { REQUIRE(q.write_reply(reply.data(), reply.size(), "test")); }

}  // namespace dnscore::testing
