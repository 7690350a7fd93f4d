#include "tests/support/packets.hpp"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "core/wire/wire.hpp"

namespace dnscore::testing {

namespace {
struct PktFree {
    void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

Bytes to_wire(ldns_pkt* p) {
    uint8_t* buf = nullptr;
    size_t len = 0;
    if (ldns_pkt2wire(&buf, p, &len) != LDNS_STATUS_OK) throw std::runtime_error("ldns_pkt2wire failed");
    Bytes out(buf, buf + len);
    free(buf);
    return out;
}

PktPtr from_wire(const Bytes& b) {
    ldns_pkt* p = nullptr;
    if (ldns_wire2pkt(&p, b.data(), b.size()) != LDNS_STATUS_OK) return nullptr;
    return PktPtr(p);
}

void add_rrs(ldns_pkt* p, ldns_pkt_section s, const std::vector<std::string>& lines) {
    for (const auto& l : lines) {
        ldns_rr* rr = nullptr;
        if (ldns_rr_new_frm_str(&rr, l.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK)
            throw std::runtime_error("bad RR text: " + l);
        ldns_pkt_push_rr(p, s, rr);
    }
}

int connect_or_socket(int type, const std::string& host, uint16_t port, sockaddr_storage& ss, socklen_t& sl) {
    std::memset(&ss, 0, sizeof ss);
    if (host.find(':') != std::string::npos) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
        sl = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, host.c_str(), &a->sin_addr);
        sl = sizeof *a;
    }
    return ::socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
}

bool wait_readable(int fd, int timeout_ms) {
    pollfd pfd{fd, POLLIN, 0};
    return ::poll(&pfd, 1, timeout_ms) == 1;
}

bool read_full(int fd, uint8_t* p, size_t n, int timeout_ms) {
    while (n > 0) {
        if (!wait_readable(fd, timeout_ms)) return false;
        ssize_t r = ::recv(fd, p, n, 0);
        if (r <= 0) return false;
        p += r;
        n -= size_t(r);
    }
    return true;
}
}  // namespace

Bytes make_query(const std::string& name, const std::string& type, const QueryOptions& o) {
    ldns_rdf* owner = nullptr;
    if (ldns_str2rdf_dname(&owner, name.c_str()) != LDNS_STATUS_OK) throw std::runtime_error("bad name " + name);
    const ldns_rr_type t = ldns_get_rr_type_by_name(type.c_str());
    ldns_pkt* p = ldns_pkt_query_new(owner, t, ldns_rr_class(o.qclass), o.rd ? LDNS_RD : 0);
    PktPtr pp(p);
    ldns_pkt_set_id(p, o.id);
    ldns_pkt_set_cd(p, o.cd);
    ldns_pkt_set_ad(p, o.ad);
    if (o.edns) {
        ldns_pkt_set_edns_udp_size(p, o.udp_size);
        ldns_pkt_set_edns_do(p, o.do_bit);
        // ldns only emits OPT when some EDNS field is non-default; udp size suffices.
    }
    Bytes out = to_wire(p);
    if (o.edns && out.size() >= 12 && out[11] == 0) {
        // Make sure an OPT is present even with default values.
        const uint8_t opt[11] = {0, 0, 41, uint8_t(o.udp_size >> 8), uint8_t(o.udp_size), 0, 0,
                                 uint8_t(o.do_bit ? 0x80 : 0), 0, 0, 0};
        out.insert(out.end(), opt, opt + 11);
        out[11] = 1;
    }
    return out;
}

Bytes make_reply(const Bytes& query, int rcode, const std::vector<std::string>& answer,
                 const std::vector<std::string>& authority, const std::vector<std::string>& additional,
                 bool aa) {
    PktPtr q = from_wire(query);
    if (!q) throw std::runtime_error("make_reply: query does not parse");
    ldns_pkt* p = ldns_pkt_new();
    PktPtr pp(p);
    ldns_pkt_set_id(p, ldns_pkt_id(q.get()));
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_rd(p, ldns_pkt_rd(q.get()));
    ldns_pkt_set_cd(p, ldns_pkt_cd(q.get()));
    ldns_pkt_set_ra(p, true);
    ldns_pkt_set_aa(p, aa);
    ldns_pkt_set_rcode(p, uint8_t(rcode));
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q.get()), 0)));
    add_rrs(p, LDNS_SECTION_ANSWER, answer);
    add_rrs(p, LDNS_SECTION_AUTHORITY, authority);
    add_rrs(p, LDNS_SECTION_ADDITIONAL, additional);
    return to_wire(p);
}

std::string to_text(const Bytes& msg) {
    PktPtr p = from_wire(msg);
    if (!p) return "";
    char* s = ldns_pkt2str(p.get());
    std::string out = s ? s : "";
    free(s);
    return out;
}

std::vector<std::string> section(const Bytes& msg, int which) {
    std::vector<std::string> out;
    PktPtr p = from_wire(msg);
    if (!p) return out;
    ldns_rr_list* l = which == 1 ? ldns_pkt_answer(p.get())
                      : which == 2 ? ldns_pkt_authority(p.get())
                                   : ldns_pkt_additional(p.get());
    for (size_t i = 0; i < ldns_rr_list_rr_count(l); ++i) {
        char* s = ldns_rr2str(ldns_rr_list_rr(l, i));
        std::string line = s ? s : "";
        free(s);
        while (!line.empty() && (line.back() == '\n')) line.pop_back();
        out.push_back(line);
    }
    return out;
}

Bytes udp_exchange(const std::string& host, uint16_t port, const Bytes& query, int timeout_ms) {
    sockaddr_storage ss;
    socklen_t sl;
    int fd = connect_or_socket(SOCK_DGRAM, host, port, ss, sl);
    if (fd < 0) return {};
    Bytes out;
    if (::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&ss), sl) >= 0 &&
        wait_readable(fd, timeout_ms)) {
        out.resize(65535);
        ssize_t n = ::recv(fd, out.data(), out.size(), 0);
        out.resize(n > 0 ? size_t(n) : 0);
    }
    ::close(fd);
    return out;
}

Bytes tcp_exchange(const std::string& host, uint16_t port, const Bytes& query, int timeout_ms) {
    sockaddr_storage ss;
    socklen_t sl;
    int fd = connect_or_socket(SOCK_STREAM, host, port, ss, sl);
    if (fd < 0) return {};
    Bytes out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), sl) == 0) {
        Bytes framed{uint8_t(query.size() >> 8), uint8_t(query.size())};
        framed.insert(framed.end(), query.begin(), query.end());
        uint8_t lenbuf[2];
        if (::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) == ssize_t(framed.size()) &&
            read_full(fd, lenbuf, 2, timeout_ms)) {
            out.resize(size_t(lenbuf[0] << 8 | lenbuf[1]));
            if (!read_full(fd, out.data(), out.size(), timeout_ms)) out.clear();
        }
    }
    ::close(fd);
    return out;
}

uint32_t first_ttl(const Bytes& msg, int section) {
    uint32_t ttl = 0xffffffff;
    wire::for_each_rr(msg.data(), msg.size(), [&](const wire::RR& rr) {
        if (rr.section != section) return true;
        ttl = rr.ttl;
        return false;
    });
    return ttl;
}

sockaddr_in loopback(uint16_t port, const char* ip) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

int tcp_connect(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    auto a = loopback(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

uint16_t free_port() {
    for (int attempt = 0; attempt < 20; ++attempt) {
        int u = ::socket(AF_INET, SOCK_DGRAM, 0);
        auto a = loopback(0);
        ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        ::getsockname(u, reinterpret_cast<sockaddr*>(&a), &len);
        int t = ::socket(AF_INET, SOCK_STREAM, 0);
        const bool ok = ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(t);
        ::close(u);
        if (ok) return ntohs(a.sin_port);
    }
    return 0;
}

}  // namespace dnscore::testing
