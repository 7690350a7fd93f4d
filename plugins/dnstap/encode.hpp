#pragma once
// The dnstap protobuf (dnstap.proto: Dnstap, Message), written by hand: the
// schema is small and fixed, and the worker encodes straight into its ring
// without allocating. Fields in field-number order, as Go's proto.Marshal
// writes them.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

namespace dnscore::plugins::dnstap {

// dnstap.Message.Type values this server sends.
enum MsgType : uint8_t {
    kClientQuery = 5,
    kClientResponse = 6,
    kForwarderQuery = 7,
    kForwarderResponse = 8,
};
// dnstap.SocketFamily / SocketProtocol.
constexpr uint8_t kInet = 1, kInet6 = 2, kUdp = 1, kTcp = 2;

// An address field and its port: 4 bytes for IPv4 (also v4-mapped IPv6), 16
// for IPv6; len 0 = not set.
struct TapAddr {
    uint8_t ip[16];
    uint8_t len = 0;
    uint16_t port = 0;
};
TapAddr tap_addr(const sockaddr* sa);

struct TapMessage {
    uint8_t type = kClientQuery;
    uint8_t family = kInet;  // of the address set last (CoreDNS msg.Set*Address)
    uint8_t protocol = kUdp;
    TapAddr query_addr, response_addr;
    bool has_query_time = false, has_response_time = false;
    timespec query_time{}, response_time{};
    const uint8_t* query_msg = nullptr;  // `full` only
    size_t query_len = 0;
    const uint8_t* response_msg = nullptr;
    size_t response_len = 0;
};

// The fixed head of every Dnstap payload of one plugin: identity (1),
// version (2) and extra (3) fields, encoded once at setup. An empty extra is
// not written (CoreDNS sends nil).
std::string encode_head(const std::string& identity, const std::string& version, const std::string& extra);

// Encodes Dnstap{head, message (14), type (15) = MESSAGE} into out and
// returns its size; out == nullptr only measures.
size_t encode(const std::string& head, const TapMessage& m, uint8_t* out);

}  // namespace dnscore::plugins::dnstap
