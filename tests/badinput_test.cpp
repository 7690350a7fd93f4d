// Malformed input against the real binary: each case gets FORMERR, a drop or
// a close — never a crash — and the server keeps answering good queries.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using testing::Bytes;
using testing::loopback;
using testing::tcp_connect;

namespace {
const char* kCorefile = ".:0 {\n bind 127.0.0.1\n errors\n whoami\n}\n";

// Sends raw bytes over UDP; returns the reply or empty after timeout_ms.
Bytes udp_raw(uint16_t port, const Bytes& msg, int timeout_ms = 500) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    auto a = loopback(port);
    ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    pollfd p{fd, POLLIN, 0};
    Bytes out;
    if (::poll(&p, 1, timeout_ms) == 1) {
        out.resize(65535);
        ssize_t n = ::recv(fd, out.data(), out.size(), 0);
        out.resize(n > 0 ? size_t(n) : 0);
    }
    ::close(fd);
    return out;
}

// Waits until the peer closes (recv returns 0 or an error) within timeout_ms.
bool closed_by_peer(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    char c;
    return ::recv(fd, &c, 1, 0) <= 0;
}

Bytes header(uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar, uint16_t flags = 0x0100) {
    Bytes b(12);
    wire::wr16(b.data(), 0xBEEF);
    wire::wr16(b.data() + 2, flags);
    wire::wr16(b.data() + 4, qd);
    wire::wr16(b.data() + 6, an);
    wire::wr16(b.data() + 8, ns);
    wire::wr16(b.data() + 10, ar);
    return b;
}

void still_answers(uint16_t port) {
    auto q = testing::make_query("still.alive.", "A");
    auto r = testing::udp_exchange("127.0.0.1", port, q);
    REQUIRE(r.size() > 12);
    CHECK(wire::rcode(r.data()) == 0);
    auto t = testing::tcp_exchange("127.0.0.1", port, q);
    REQUIRE(t.size() > 12);
}
}  // namespace

TEST_CASE("malformed UDP messages", "[badinput]") {
    testing::ServerProcess srv(kCorefile);
    REQUIRE(srv.started());
    const uint16_t port = srv.port();

    SECTION("short header is dropped") {
        CHECK(udp_raw(port, Bytes(5, 0xff)).empty());
        CHECK(udp_raw(port, Bytes()).empty());
    }
    SECTION("a response (QR=1) is dropped") {
        auto q = testing::make_query("a.example.", "A");
        q[2] |= 0x80;
        CHECK(udp_raw(port, q).empty());
    }
    SECTION("qdcount 0 and 2 get FORMERR without a question") {
        for (uint16_t qd : {uint16_t(0), uint16_t(2)}) {
            Bytes m = header(qd, 0, 0, 0);
            if (qd == 2) {
                auto q = testing::make_query("a.example.", "A");
                m.insert(m.end(), q.begin() + 12, q.end());
                m.insert(m.end(), q.begin() + 12, q.end());
            }
            auto r = udp_raw(port, m);
            REQUIRE(r.size() == 12);
            CHECK(wire::id(r.data()) == 0xBEEF);
            CHECK(wire::rcode(r.data()) == wire::kFormErr);
            CHECK((wire::flags(r.data()) & wire::kQR));
            CHECK((wire::flags(r.data()) & wire::kRD));
        }
    }
    SECTION("unknown opcode gets NOTIMP with the opcode echoed") {
        auto q = testing::make_query("a.example.", "A");
        q[2] = uint8_t((q[2] & 0x87) | (5 << 3));
        auto r = udp_raw(port, q);
        REQUIRE(r.size() >= 12);
        CHECK(wire::rcode(r.data()) == wire::kNotImp);
        CHECK(wire::opcode(r.data()) == 5);
    }
    SECTION("compression loop in the question gets FORMERR") {
        Bytes m = header(1, 0, 0, 0);
        m.insert(m.end(), {0xC0, 12, 0, 1, 0, 1});
        auto r = udp_raw(port, m);
        REQUIRE(r.size() == 12);
        CHECK(wire::rcode(r.data()) == wire::kFormErr);
    }
    SECTION("QDCOUNT 1 with no question gets FORMERR (CoreDNS: SERVFAIL, zone dropped)") {
        auto r = udp_raw(port, header(1, 0, 0, 0));
        REQUIRE(r.size() == 12);
        CHECK(wire::rcode(r.data()) == wire::kFormErr);
        CHECK(wire::qdcount(r.data()) == 0);
    }
    SECTION("a question without type or class gets FORMERR (CoreDNS: REFUSED for TYPE0/CLASS0)") {
        Bytes m = header(1, 0, 0, 0);
        m.insert(m.end(), {1, 'a', 0});
        auto r = udp_raw(port, m);
        REQUIRE(r.size() == 12);
        CHECK(wire::rcode(r.data()) == wire::kFormErr);
        m.insert(m.end(), {0, 1});  // a type, no class
        r = udp_raw(port, m);
        REQUIRE(r.size() == 12);
        CHECK(wire::rcode(r.data()) == wire::kFormErr);
    }
    SECTION("a question name through a forward or header pointer gets FORMERR (CoreDNS follows both)") {
        Bytes fwd = header(1, 0, 0, 0);
        fwd.insert(fwd.end(), {3, 'w', 'w', 'w', 0xC0, 22, 0, 1, 0, 1, 0});
        Bytes hdr = header(1, 0, 0, 0);
        hdr.insert(hdr.end(), {3, 'w', 'w', 'w', 0xC0, 11, 0, 1, 0, 1});
        for (const Bytes* m : {&fwd, &hdr}) {
            auto r = udp_raw(port, *m);
            REQUIRE(r.size() == 12);
            CHECK(wire::rcode(r.data()) == wire::kFormErr);
        }
    }
    SECTION("an EDNS option running past the OPT RDATA gets FORMERR with the question") {
        auto q = testing::make_query("a.example.", "A");
        // OPT, RDLENGTH 6: COOKIE claiming 8 bytes with 2 present.
        q.insert(q.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 8, 1, 2});
        wire::wr16(q.data() + 10, 1);
        auto r = udp_raw(port, q);
        REQUIRE(r.size() == 12 + 15);
        CHECK(wire::rcode(r.data()) == wire::kFormErr);
        CHECK(wire::qdcount(r.data()) == 1);
        CHECK(wire::arcount(r.data()) == 0);
    }
    SECTION("two OPT records get FORMERR (RFC 6891; CoreDNS uses the last)") {
        auto q = testing::make_query("a.example.", "A");
        for (int i = 0; i < 2; ++i) q.insert(q.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
        wire::wr16(q.data() + 10, 2);
        auto r = udp_raw(port, q);
        REQUIRE(r.size() == 12 + 15);
        CHECK(wire::rcode(r.data()) == wire::kFormErr);
    }
    SECTION("a NOTIFY is answered without RD and CD (miekg SetReply)") {
        auto q = testing::make_query("a.example.", "SOA", {.rd = true, .cd = true});
        q[2] = uint8_t((q[2] & 0x87) | (4 << 3));
        auto r = udp_raw(port, q);
        REQUIRE(r.size() > 12);
        CHECK(wire::rcode(r.data()) == 0);
        CHECK(wire::opcode(r.data()) == 4);
        CHECK_FALSE((wire::flags(r.data()) & wire::kRD));
        CHECK_FALSE((wire::flags(r.data()) & wire::kCD));
    }
    SECTION("truncated name gets FORMERR") {
        Bytes m = header(1, 0, 0, 0);
        m.insert(m.end(), {7, 'e', 'x', 'a'});
        auto r = udp_raw(port, m);
        REQUIRE(r.size() == 12);
        CHECK(wire::rcode(r.data()) == wire::kFormErr);
    }
    SECTION("a record count past the end gets FORMERR with the question") {
        auto q = testing::make_query("a.example.", "A");
        wire::wr16(q.data() + 6, 1);  // ANCOUNT 1, no record
        auto r = udp_raw(port, q);
        REQUIRE(r.size() == q.size());
        CHECK(wire::rcode(r.data()) == wire::kFormErr);
        CHECK(wire::qdcount(r.data()) == 1);
    }
    SECTION("EDNS version 1 gets BADVERS") {
        auto q = testing::make_query("a.example.", "A");
        q.insert(q.end(), {0, 0, 41, 0x10, 0, 0, 1, 0, 0, 0, 0});
        wire::wr16(q.data() + 10, 1);
        auto r = udp_raw(port, q);
        REQUIRE(r.size() > 12);
        CHECK(wire::rcode(r.data()) == 0);
        CHECK(wire::arcount(r.data()) == 1);
        CHECK(r[r.size() - 6] == 1);
    }
    SECTION("random garbage never kills the server") {
        uint32_t seed = 7;
        for (int i = 0; i < 3000; ++i) {
            seed = seed * 1103515245u + 12345u;
            Bytes m(12 + seed % 300);
            for (auto& b : m) {
                seed = seed * 1103515245u + 12345u;
                b = uint8_t(seed >> 16);
            }
            m[2] &= 0x7f;  // mostly queries
            udp_raw(port, m, 5);
        }
    }
    still_answers(port);
    CHECK(srv.alive());
}

TEST_CASE("malformed TCP streams", "[badinput]") {
    testing::ServerProcess srv(kCorefile);
    REQUIRE(srv.started());
    const uint16_t port = srv.port();

    SECTION("a length below a header closes the connection (CoreDNS ignores the frame and reads on)") {
        const Bytes frames[] = {{0, 0}, {0, 3, 1, 2, 3}, {0, 5, 1, 2, 3, 4, 5}};
        for (const Bytes& junk : frames) {
            int fd = tcp_connect(port);
            REQUIRE(fd >= 0);
            ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
            CHECK(closed_by_peer(fd, 2000));
            ::close(fd);
        }
    }
    SECTION("a length promising more than is sent times out and closes") {
        int fd = tcp_connect(port);
        REQUIRE(fd >= 0);
        const uint8_t partial[] = {0x10, 0x00, 0, 1, 2};
        ::send(fd, partial, sizeof partial, MSG_NOSIGNAL);
        CHECK(closed_by_peer(fd, 6000));
        ::close(fd);
    }
    SECTION("a client that connects and sends nothing is closed after the read timeout") {
        int fd = tcp_connect(port);
        REQUIRE(fd >= 0);
        const auto t0 = std::chrono::steady_clock::now();
        CHECK(closed_by_peer(fd, 6000));
        CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(2500));
        ::close(fd);
    }
    SECTION("FORMERR over TCP keeps the connection usable") {
        int fd = tcp_connect(port);
        REQUIRE(fd >= 0);
        Bytes bad = header(0, 0, 0, 0);
        auto good = testing::make_query("ok.example.", "A");
        Bytes stream;
        for (const Bytes* m : {&bad, &good}) {
            stream.push_back(uint8_t(m->size() >> 8));
            stream.push_back(uint8_t(m->size()));
            stream.insert(stream.end(), m->begin(), m->end());
        }
        ::send(fd, stream.data(), stream.size(), MSG_NOSIGNAL);
        std::vector<int> rcodes;
        for (int i = 0; i < 2; ++i) {
            uint8_t lb[2];
            pollfd p{fd, POLLIN, 0};
            REQUIRE(::poll(&p, 1, 2000) == 1);
            REQUIRE(::recv(fd, lb, 2, MSG_WAITALL) == 2);
            Bytes m(size_t(lb[0] << 8 | lb[1]));
            REQUIRE(::recv(fd, m.data(), m.size(), MSG_WAITALL) == ssize_t(m.size()));
            rcodes.push_back(wire::rcode(m.data()));
        }
        CHECK(rcodes == std::vector<int>{wire::kFormErr, 0});
        ::close(fd);
    }
    SECTION("many idle connections do not stop service") {
        std::vector<int> fds;
        for (int i = 0; i < 200; ++i) {
            int fd = tcp_connect(port);
            if (fd >= 0) fds.push_back(fd);
        }
        still_answers(port);
        for (int fd : fds) ::close(fd);
    }
    still_answers(port);
    CHECK(srv.alive());
}
