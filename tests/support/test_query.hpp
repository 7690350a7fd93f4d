#pragma once
// A Query as a worker hands it to a plugin, owning its request and reply
// buffers: for calling a plugin's query()/response() directly or running a
// chain (tests/support/chain_harness.hpp).
#include <cstdint>
#include <string>
#include <vector>

#include "core/query.hpp"
#include "tests/support/packets.hpp"

namespace dnscore::testing {

class TestQuery {
public:
    // A query made by make_query (must parse: REQUIREd).
    TestQuery(const std::string& name, const std::string& type, const QueryOptions& o = {});
    // Any request that parses as a query (REQUIREd).
    explicit TestQuery(Bytes request);
    // Movable (the vectors keep their heap buffers, so q stays valid), not
    // copyable (a copy would point into this one's buffers).
    TestQuery(TestQuery&&) = default;
    TestQuery& operator=(TestQuery&&) = default;
    TestQuery(const TestQuery&) = delete;
    TestQuery& operator=(const TestQuery&) = delete;

    TestQuery& tcp(bool on = true);
    // Client / local address (IPv4 or IPv6 text); unset by default. Throws
    // std::invalid_argument if `ip` does not parse.
    TestQuery& client(const std::string& ip, uint16_t port);
    TestQuery& local(const std::string& ip, uint16_t port);

    // Writes `reply` into the reply buffer as plugin "test" (REQUIREd to fit).
    void write(const Bytes& reply);
    // The reply written so far (q.resp[0..q.resp_len)).
    Bytes reply() const { return Bytes(q.resp, q.resp + q.resp_len); }

    Bytes req;
    std::vector<uint8_t> resp;  // wire::kMaxMessage, as a worker's
    Query q;
};

}  // namespace dnscore::testing
