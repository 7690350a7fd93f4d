// bufsize, metadata (+ log's {/forward/upstream}), debug, timeouts and dns64
// against the real binary, with forward to a scripted fake upstream.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using testing::Bytes;
using testing::FakeUpstream;
using Clock = std::chrono::steady_clock;

namespace {

// The upstream: A queries get 192.0.2.7, every other type NOERROR/NODATA with
// an SOA; it remembers the EDNS buffer size of the last query it saw.
struct Upstream {
    FakeUpstream fake;
    std::atomic<int> last_udp_size{-1};  // -1: no OPT
    std::atomic<int> aaaa_queries{0};
    Upstream() {
        fake.set_responder([this](const std::vector<uint8_t>& q) {
            wire::QueryInfo info;
            if (wire::parse_query(q.data(), q.size(), info) != wire::Verdict::ok) return std::vector<uint8_t>{};
            last_udp_size = info.edns.present ? int(info.edns.udp_size) : -1;
            char n[1024];
            const std::string name(n, wire::name_to_text(info.name, info.name_len, n, sizeof n));
            if (info.qtype == wire::kTypeA) return testing::make_reply(q, 0, {name + " 300 IN A 192.0.2.7"});
            if (info.qtype == wire::kTypeAAAA) ++aaaa_queries;
            return testing::make_reply(q, 0, {}, {"example. 60 IN SOA ns.example. host.example. 1 2 3 4 5"});
        });
    }
};

Bytes udp(uint16_t port, const std::string& name, const std::string& type, testing::QueryOptions o = {}) {
    return testing::udp_exchange("127.0.0.1", port, testing::make_query(name, type, o), 5000);
}

bool wait_for_text(const testing::ServerProcess& sp, const std::string& text, int timeout_ms) {
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < end) {
        if (sp.out().find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

// Seconds until the server closes a TCP connection (recv returns 0 or an
// error), or -1 if still open after `limit_s`. `query` (if any) is sent first
// and its reply read.
double seconds_until_closed(uint16_t port, const Bytes& query, double limit_s) {
    const int fd = testing::tcp_connect(port);
    REQUIRE(fd >= 0);
    const auto start = Clock::now();
    if (!query.empty()) {
        uint8_t len[2] = {uint8_t(query.size() >> 8), uint8_t(query.size())};
        REQUIRE(::send(fd, len, 2, MSG_NOSIGNAL) == 2);
        REQUIRE(::send(fd, query.data(), query.size(), MSG_NOSIGNAL) == ssize_t(query.size()));
    }
    double closed = -1;
    while (std::chrono::duration<double>(Clock::now() - start).count() < limit_s) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        uint8_t buf[4096];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            closed = std::chrono::duration<double>(Clock::now() - start).count();
            break;
        }
    }
    ::close(fd);
    return closed;
}

}  // namespace

TEST_CASE("dns64 synthesises AAAA from the upstream's A records", "[e2e][dns64]") {
    Upstream up;
    testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n dns64 {\n  allow_ipv4\n }\n forward . " + up.fake.addr() +
                              "\n}\n");
    REQUIRE(sp.started());
    for (bool tcp : {false, true}) {
        INFO("tcp " << tcp);
        const Bytes q = testing::make_query("host.example.", "AAAA");
        const Bytes r = tcp ? testing::tcp_exchange("127.0.0.1", sp.port(), q, 5000)
                            : testing::udp_exchange("127.0.0.1", sp.port(), q, 5000);
        REQUIRE(r.size() >= 12);
        CHECK(wire::rcode(r.data()) == 0);
        // TTL: min(A's 300, the AAAA reply's SOA TTL 60).
        CHECK(testing::section(r, 1) == std::vector<std::string>{"host.example.\t60\tIN\tAAAA\t64:ff9b::c000:207"});
    }
    CHECK(up.aaaa_queries.load() == 2);
    // A queries pass through untouched.
    const Bytes a = udp(sp.port(), "host.example.", "A");
    CHECK(testing::section(a, 1) == std::vector<std::string>{"host.example.\t300\tIN\tA\t192.0.2.7"});
    sp.stop();
}

TEST_CASE("dns64 without allow_ipv4 leaves IPv4 clients alone", "[e2e][dns64]") {
    Upstream up;
    testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n dns64\n forward . " + up.fake.addr() + "\n}\n");
    REQUIRE(sp.started());
    const Bytes r = udp(sp.port(), "host.example.", "AAAA");
    REQUIRE(r.size() >= 12);
    CHECK(testing::section(r, 1).empty());
    CHECK(testing::section(r, 2).size() == 1);  // the upstream's NODATA SOA
    sp.stop();
}

TEST_CASE("bufsize lowers the buffer size the upstream sees", "[e2e][bufsize]") {
    Upstream up;
    testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n bufsize\n forward . " + up.fake.addr() + "\n}\n");
    REQUIRE(sp.started());
    testing::QueryOptions o;
    o.edns = true;
    o.udp_size = 4096;
    REQUIRE(udp(sp.port(), "big.example.", "A", o).size() >= 12);
    CHECK(up.last_udp_size.load() == 1232);
    o.udp_size = 1000;  // smaller: not raised
    REQUIRE(udp(sp.port(), "small.example.", "A", o).size() >= 12);
    CHECK(up.last_udp_size.load() == 1000);
    sp.stop();
}

TEST_CASE("log prints {/forward/upstream} with metadata, - without", "[e2e][metadata]") {
    Upstream up;
    const std::string fmt = "\"META {name} {/forward/upstream} {/none/such}\"";
    {
        testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n metadata\n log . " + fmt + "\n forward . " +
                                  up.fake.addr() + "\n}\n");
        REQUIRE(sp.started());
        REQUIRE(udp(sp.port(), "meta.example.", "A").size() >= 12);
        CHECK(wait_for_text(sp, "[INFO] META meta.example. " + up.fake.addr() + " -\n", 3000));
        sp.stop();
    }
    {
        testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n log . " + fmt + "\n forward . " + up.fake.addr() +
                                  "\n}\n");
        REQUIRE(sp.started());
        REQUIRE(udp(sp.port(), "meta.example.", "A").size() >= 12);
        CHECK(wait_for_text(sp, "[INFO] META meta.example. - -\n", 3000));
        sp.stop();
    }
}

TEST_CASE("debug turns on [DEBUG] lines", "[e2e][debug]") {
    // errors' consolidated summary at level debug shows only with debug.
    const uint16_t closed = FakeUpstream::closed_port();
    const std::string body = " bind 127.0.0.1\n errors {\n  consolidate 1s \".*\" debug\n }\n forward . 127.0.0.1:" +
                             std::to_string(closed) + "\n}\n";
    // forward retries the refusing upstream until its 5 s deadline, then SERVFAIL.
    auto fail_query = [](uint16_t port) {
        const Bytes r = testing::udp_exchange("127.0.0.1", port, testing::make_query("fail.example.", "A"), 9000);
        REQUIRE(r.size() >= 12);
        CHECK(wire::rcode(r.data()) == wire::kServFail);
    };
    {
        testing::ServerProcess sp(".:0 {\n debug\n" + body);
        REQUIRE(sp.started());
        fail_query(sp.port());
        CHECK(wait_for_text(sp, "[DEBUG] plugin/errors: 1 errors like '.*' occurred in last 1s\n", 4000));
        sp.stop();
    }
    {
        testing::ServerProcess sp(".:0 {\n" + body);
        REQUIRE(sp.started());
        fail_query(sp.port());
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        CHECK(sp.out().find("[DEBUG]") == std::string::npos);
        sp.stop();
    }
}

TEST_CASE("timeouts close idle TCP connections early", "[e2e][timeouts]") {
    testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n timeouts {\n  read 1s\n  idle 1s\n }\n whoami\n}\n");
    REQUIRE(sp.started());
    // No first query: closed after the read timeout (1 s, not 3 s).
    const double silent = seconds_until_closed(sp.port(), {}, 5);
    CHECK(silent >= 0.8);
    CHECK(silent < 2.5);
    // After a query: closed after the idle timeout (1 s, not 10 s).
    const double idle = seconds_until_closed(sp.port(), testing::make_query("idle.example.", "A"), 5);
    CHECK(idle >= 0.8);
    CHECK(idle < 2.5);
    sp.stop();

    // The defaults for comparison: still open after 2.5 s of silence.
    testing::ServerProcess def(".:0 {\n bind 127.0.0.1\n whoami\n}\n");
    REQUIRE(def.started());
    CHECK(seconds_until_closed(def.port(), testing::make_query("idle.example.", "A"), 2.5) < 0);
    def.stop();
}
