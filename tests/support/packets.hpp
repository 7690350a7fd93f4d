#pragma once
// Test helpers: DNS packets built from zone-file text with ldns, and plain
// blocking UDP/TCP clients for loopback. Tests only; never in the server.
#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dnscore::testing {

using Bytes = std::vector<uint8_t>;

struct QueryOptions {
    uint16_t id = 0x1234;
    bool rd = true;
    bool cd = false;
    bool ad = false;
    bool edns = false;
    uint16_t udp_size = 4096;
    bool do_bit = false;
    uint16_t qclass = 1;
};

// A query for NAME (presentation form, case kept) and TYPE (mnemonic).
Bytes make_query(const std::string& name, const std::string& type, const QueryOptions& o = {});

// A reply to `query` with the given rcode and records (zone-file lines, e.g.
// "example.org. 300 IN A 192.0.2.1"), in answer / authority / additional.
Bytes make_reply(const Bytes& query, int rcode, const std::vector<std::string>& answer,
                 const std::vector<std::string>& authority = {},
                 const std::vector<std::string>& additional = {}, bool aa = false);

// ldns's text rendering of a message ("" if it does not parse).
std::string to_text(const Bytes& msg);
// Records of one section (1 answer, 2 authority, 3 additional) as text lines
// ("owner ttl class type rdata", tab-separated as ldns prints them).
std::vector<std::string> section(const Bytes& msg, int which);

// The TTL of the first record in a section (1 answer, 2 authority, 3
// additional), or 0xffffffff when the section is empty.
uint32_t first_ttl(const Bytes& msg, int section = 1);

// Blocking exchanges with a timeout; empty result on timeout or error.
Bytes udp_exchange(const std::string& host, uint16_t port, const Bytes& query, int timeout_ms = 2000);
Bytes tcp_exchange(const std::string& host, uint16_t port, const Bytes& query, int timeout_ms = 2000);

// An IPv4 socket address.
sockaddr_in loopback(uint16_t port, const char* ip = "127.0.0.1");
// A blocking TCP socket connected to 127.0.0.1:port, or -1.
int tcp_connect(uint16_t port);
// A port on 127.0.0.1 free for both UDP and TCP right now (0 if none found).
uint16_t free_port();

}  // namespace dnscore::testing
