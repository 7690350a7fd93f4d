#include "plugins/dnstap/encode.hpp"

#include <netinet/in.h>

#include <cstring>

namespace dnscore::plugins::dnstap {

namespace {

// Protobuf wire writer; with p == nullptr it only counts.
struct Pb {
    uint8_t* p;
    size_t n = 0;
    void byte(uint8_t b) {
        if (p) p[n] = b;
        ++n;
    }
    void raw(const void* d, size_t len) {
        if (p && len) std::memcpy(p + n, d, len);
        n += len;
    }
    void varint(uint64_t v) {
        while (v >= 0x80) {
            byte(uint8_t(v | 0x80));
            v >>= 7;
        }
        byte(uint8_t(v));
    }
    void key(uint32_t field, uint8_t wire_type) { varint(uint64_t(field) << 3 | wire_type); }
    void uint(uint32_t field, uint64_t v) {
        key(field, 0);
        varint(v);
    }
    void fixed32(uint32_t field, uint32_t v) {
        key(field, 5);
        for (int i = 0; i < 4; ++i) byte(uint8_t(v >> (8 * i)));
    }
    void bytes(uint32_t field, const void* d, size_t len) {
        key(field, 2);
        varint(len);
        raw(d, len);
    }
};

void message_body(Pb& w, const TapMessage& m) {
    w.uint(1, m.type);
    w.uint(2, m.family);
    w.uint(3, m.protocol);
    if (m.query_addr.len) w.bytes(4, m.query_addr.ip, m.query_addr.len);
    if (m.response_addr.len) w.bytes(5, m.response_addr.ip, m.response_addr.len);
    if (m.query_addr.len) w.uint(6, m.query_addr.port);
    if (m.response_addr.len) w.uint(7, m.response_addr.port);
    if (m.has_query_time) {
        w.uint(8, uint64_t(m.query_time.tv_sec));
        w.fixed32(9, uint32_t(m.query_time.tv_nsec));
    }
    if (m.query_msg) w.bytes(10, m.query_msg, m.query_len);
    if (m.has_response_time) {
        w.uint(12, uint64_t(m.response_time.tv_sec));
        w.fixed32(13, uint32_t(m.response_time.tv_nsec));
    }
    if (m.response_msg) w.bytes(14, m.response_msg, m.response_len);
}

}  // namespace

TapAddr tap_addr(const sockaddr* sa) {
    TapAddr a;
    if (sa->sa_family == AF_INET) {
        const auto* s = reinterpret_cast<const sockaddr_in*>(sa);
        std::memcpy(a.ip, &s->sin_addr, 4);
        a.len = 4;
        a.port = ntohs(s->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const auto* s = reinterpret_cast<const sockaddr_in6*>(sa);
        if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
            std::memcpy(a.ip, reinterpret_cast<const uint8_t*>(&s->sin6_addr) + 12, 4);
            a.len = 4;
        } else {
            std::memcpy(a.ip, &s->sin6_addr, 16);
            a.len = 16;
        }
        a.port = ntohs(s->sin6_port);
    }
    return a;
}

std::string encode_head(const std::string& identity, const std::string& version, const std::string& extra) {
    Pb count{nullptr};
    auto fields = [&](Pb& w) {
        w.bytes(1, identity.data(), identity.size());
        w.bytes(2, version.data(), version.size());
        if (!extra.empty()) w.bytes(3, extra.data(), extra.size());
    };
    fields(count);
    std::string out(count.n, '\0');
    Pb w{reinterpret_cast<uint8_t*>(out.data())};
    fields(w);
    return out;
}

size_t encode(const std::string& head, const TapMessage& m, uint8_t* out) {
    Pb body{nullptr};
    message_body(body, m);
    Pb w{out};
    w.raw(head.data(), head.size());
    w.key(14, 2);
    w.varint(body.n);
    const size_t at = w.n;
    if (out) {
        Pb inner{out + at};
        message_body(inner, m);
    }
    w.n += body.n;
    w.uint(15, 1);  // Dnstap.Type MESSAGE
    return w.n;
}

}  // namespace dnscore::plugins::dnstap
