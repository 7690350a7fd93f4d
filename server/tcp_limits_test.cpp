// The TCP connection limit of the real server (in this process, one worker,
// RuntimeOptions::tcp_max_connections = 8): the 9th connection is closed at
// once and counted; a slot that frees is usable again.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "server/metrics.hpp"
#include "server/runtime.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;

namespace {

uint16_t wait_port(Runtime& rt) {
    for (int i = 0; i < 500; ++i) {
        auto p = rt.bound_port("dns://127.0.0.1:0");
        if (!p.empty()) return uint16_t(std::stoi(p));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
}

// Sends one whoami query on `fd` and waits for its answer.
bool exchange_on(int fd) {
    const auto q = testing::make_query("limit.example.", "A");
    testing::Bytes framed{uint8_t(q.size() >> 8), uint8_t(q.size())};
    framed.insert(framed.end(), q.begin(), q.end());
    if (::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) != ssize_t(framed.size())) return false;
    pollfd p{fd, POLLIN, 0};
    uint8_t buf[512];
    return ::poll(&p, 1, 3000) == 1 && ::recv(fd, buf, sizeof buf, 0) > 2;
}

// True when the server closes `fd` (end of stream or reset) within 3 s.
bool closed_by_server(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 3000) != 1) return false;
    uint8_t c;
    const ssize_t n = ::recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

}  // namespace

TEST_CASE("TCP connections past the limit are closed at once and counted", "[tcp]") {
    const std::string path = "/tmp/dnscore_tcp_limits_test_Corefile";
    {
        std::ofstream f(path);
        f << ".:0 {\n bind 127.0.0.1\n whoami\n}\n";
    }
    RuntimeOptions o;
    o.conf_flag = path;
    o.quiet = true;
    o.workers = 1;
    o.tcp_max_connections = 8;
    Runtime rt(o);
    std::thread server([&] { rt.run(); });
    const uint16_t port = wait_port(rt);
    REQUIRE(port != 0);
    auto& fam = server::metrics::families();
    const int limit = int(server::metrics::TcpDrop::limit);
    const uint64_t dropped_before = fam.tcp_dropped.value({limit});

    std::vector<int> held;
    for (int i = 0; i < 8; ++i) {
        const int fd = testing::tcp_connect(port);
        REQUIRE(fd >= 0);
        CHECK(exchange_on(fd));
        held.push_back(fd);
    }
    CHECK(fam.tcp_open[0].load() == 8);

    const int extra = testing::tcp_connect(port);  // the kernel completes the handshake
    REQUIRE(extra >= 0);
    CHECK(closed_by_server(extra));
    ::close(extra);
    CHECK(fam.tcp_dropped.value({limit}) == dropped_before + 1);

    // The held ones still work; one leaves and its slot is free again.
    CHECK(exchange_on(held[3]));
    ::close(held[3]);
    held.erase(held.begin() + 3);
    for (int i = 0; i < 100 && fam.tcp_open[0].load() != 7; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(fam.tcp_open[0].load() == 7);
    const int again = testing::tcp_connect(port);
    REQUIRE(again >= 0);
    CHECK(exchange_on(again));
    held.push_back(again);
    CHECK(fam.tcp_dropped.value({limit}) == dropped_before + 1);

    for (int fd : held) ::close(fd);
    rt.stop(0);
    server.join();
    std::remove(path.c_str());
}
