// Reload against the real binary: 50 SIGUSR1 reloads under a stream of UDP
// and TCP queries lose nothing and keep the listening sockets; zone changes
// take effect; broken edits keep the old configuration serving; the reload
// plugin's poll ignores comment-only edits and picks up real ones.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <chrono>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using namespace std::chrono_literals;
using testing::Bytes;
using testing::loopback;
using testing::tcp_connect;
using testing::has_plugin;

namespace {

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return pred();
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

// Nothing from AddressSanitizer/UBSan in the server's stderr.
bool sanitizer_clean(const testing::ServerProcess& srv) {
    const std::string e = srv.err();
    return e.find("runtime error") == std::string::npos && e.find("Sanitizer") == std::string::npos;
}

void write_file(const std::string& path, const std::string& text) {
    // Write then rename: the server never reads a half-written file.
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << text;
    REQUIRE(::rename(tmp.c_str(), path.c_str()) == 0);
}

// rcode of a UDP query for NAME A, -1 on timeout.
int rcode_of(uint16_t port, const std::string& name) {
    auto r = testing::udp_exchange("127.0.0.1", port, testing::make_query(name, "A"), 3000);
    return r.size() >= 12 ? wire::rcode(r.data()) : -1;
}

// Retries until NAME gets `want` (workers switch a moment after the log line).
bool eventually_rcode(uint16_t port, const std::string& name, int want) {
    return wait_for([&] { return rcode_of(port, name) == want; }, 3000ms);
}

// A client sending one query at a time and waiting for its reply.
struct Stream {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> sent{0}, answered{0}, lost{0}, bad{0}, reconnects{0};
    std::thread th;
    void join() {
        stop = true;
        if (th.joinable()) th.join();
    }
    ~Stream() { join(); }
};

// UDP: a reply missing after 5 s counts as lost.
void udp_stream(Stream& s, uint16_t port, uint16_t id_base) {
    const Bytes tmpl = testing::make_query("stream.example.org.", "A");
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    auto a = loopback(port);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    Bytes q = tmpl;
    uint8_t buf[4096];
    uint16_t id = id_base;
    while (!s.stop) {
        ++id;
        wire::wr16(q.data(), id);
        if (::send(fd, q.data(), q.size(), 0) != ssize_t(q.size())) {
            ++s.bad;
            std::this_thread::sleep_for(1ms);
            continue;
        }
        ++s.sent;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        bool got = false;
        while (!got) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, int(left.count())) != 1) break;
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n < 12) continue;  // includes ECONNREFUSED: keep waiting, the deadline decides
            if (wire::rd16(buf) != id) continue;  // a late reply to an earlier query
            got = true;
            if (wire::rcode(buf) != 0) ++s.bad;
        }
        if (got) ++s.answered;
        else ++s.lost;
        std::this_thread::sleep_for(300us);
    }
    ::close(fd);
}

bool read_full(int fd, uint8_t* p, size_t n, int timeout_ms) {
    while (n > 0) {
        pollfd pf{fd, POLLIN, 0};
        if (::poll(&pf, 1, timeout_ms) != 1) return false;
        const ssize_t r = ::recv(fd, p, n, 0);
        if (r <= 0) return false;
        p += r;
        n -= size_t(r);
    }
    return true;
}

// TCP on one long-lived connection: the server must not close it.
void tcp_stream(Stream& s, uint16_t port) {
    Bytes q = testing::make_query("tcp.example.org.", "A");
    Bytes framed(2 + q.size());
    wire::wr16(framed.data(), uint16_t(q.size()));
    std::copy(q.begin(), q.end(), framed.begin() + 2);
    int fd = tcp_connect(port);
    uint16_t id = 0;
    uint8_t buf[4096];
    while (!s.stop) {
        if (fd < 0) {
            ++s.reconnects;
            fd = tcp_connect(port);
            if (fd < 0) {
                std::this_thread::sleep_for(10ms);
                continue;
            }
        }
        wire::wr16(framed.data() + 2, ++id);
        ++s.sent;
        uint8_t len[2];
        if (::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) != ssize_t(framed.size()) ||
            !read_full(fd, len, 2, 5000) || !read_full(fd, buf, wire::rd16(len), 5000)) {
            ++s.lost;
            ::close(fd);
            fd = -1;
            continue;
        }
        ++s.answered;
        if (wire::rd16(buf) != id || wire::rcode(buf) != 0) ++s.bad;
        std::this_thread::sleep_for(1ms);
    }
    if (fd >= 0) ::close(fd);
}

// TCP with a new connection per query: the acceptor stays open.
void tcp_connect_stream(Stream& s, uint16_t port) {
    const Bytes q = testing::make_query("new.example.org.", "A");
    while (!s.stop) {
        ++s.sent;
        auto r = testing::tcp_exchange("127.0.0.1", port, q, 5000);
        if (r.size() < 12) ++s.lost;
        else {
            ++s.answered;
            if (wire::rcode(r.data()) != 0) ++s.bad;
        }
        std::this_thread::sleep_for(5ms);
    }
}

std::string variant(int i) {
    // example.org is always served; vI.test only by variant I.
    return "# variant " + std::to_string(i) + "\nexample.org:0 {\n bind 127.0.0.1\n whoami\n}\nv" +
           std::to_string(i) + ".test:0 {\n bind 127.0.0.1\n whoami\n}\n";
}

uint16_t free_port(const char* ip) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    auto a = loopback(0, ip);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

// Whether something (the server) holds ip:port for UDP.
bool udp_port_taken(const char* ip, uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    auto a = loopback(port, ip);
    const bool taken = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0;
    ::close(fd);
    return taken;
}

}  // namespace

TEST_CASE("50 SIGUSR1 reloads under UDP and TCP load drop nothing", "[reload][e2e]") {
    testing::ServerProcess srv(variant(0));
    REQUIRE(srv.started());
    const uint16_t port = srv.port();
    const std::string corefile = srv.dir() + "/Corefile";
    REQUIRE(rcode_of(port, "x.v0.test.") == 0);

    Stream u1, u2, t1, t2;
    u1.th = std::thread(udp_stream, std::ref(u1), port, 0);
    u2.th = std::thread(udp_stream, std::ref(u2), port, 0x8000);
    t1.th = std::thread(tcp_stream, std::ref(t1), port);
    t2.th = std::thread(tcp_connect_stream, std::ref(t2), port);
    std::this_thread::sleep_for(200ms);

    int zone_failures = 0;
    for (int i = 1; i <= 50; ++i) {
        write_file(corefile, variant(i));
        REQUIRE(::kill(srv.pid(), SIGUSR1) == 0);
        const bool done = wait_for(
            [&] { return count(srv.out(), "[INFO] Reloading complete") == size_t(i); }, 10000ms);
        REQUIRE(done);
        // The new zone answers, the dropped one is refused.
        if (!eventually_rcode(port, "x.v" + std::to_string(i) + ".test.", 0)) ++zone_failures;
        if (rcode_of(port, "x.v" + std::to_string(i - 1) + ".test.") != wire::kRefused) ++zone_failures;
        std::this_thread::sleep_for(20ms);
    }
    std::this_thread::sleep_for(200ms);
    for (auto* s : {&u1, &u2, &t1, &t2}) s->join();

    INFO("stdout:\n" << srv.out() << "\nstderr:\n" << srv.err());
    CHECK(zone_failures == 0);
    CHECK(srv.alive());
    CHECK(count(srv.out(), "[INFO] SIGUSR1: Reloading") == 50);
    CHECK(count(srv.out(), "[ERROR]") == 0);
    for (auto* s : {&u1, &u2, &t1, &t2}) {
        CHECK(s->answered > 50);  // the stream really ran across the reloads
        CHECK(s->lost == 0);
        CHECK(s->bad == 0);
        CHECK(s->sent == s->answered);
    }
    CHECK(t1.reconnects == 0);  // the long-lived TCP connection was never closed
    // Same port all along: the listening sockets were kept, not re-bound.
    CHECK(rcode_of(port, "again.example.org.") == 0);
    CHECK(srv.stop() == 0);
    CHECK(sanitizer_clean(srv));
}

TEST_CASE("a broken edit keeps the old configuration serving", "[reload][e2e]") {
    testing::ServerProcess srv(variant(1));
    INFO("stdout:\n" << srv.out() << "\nstderr:\n" << srv.err());
    REQUIRE(srv.started());
    const uint16_t port = srv.port();
    const std::string corefile = srv.dir() + "/Corefile";

    SECTION("unknown directive") {
        write_file(corefile, "example.org:0 {\n bind 127.0.0.1\n nosuchplugin\n}\n");
        ::kill(srv.pid(), SIGUSR1);
        REQUIRE(wait_for([&] { return srv.out().find("[ERROR] SIGUSR1:") != std::string::npos; },
                         10000ms));
        const std::string out = srv.out();
        INFO(out);
        CHECK(out.find("[ERROR] Restart failed: " + corefile +
                       ":3 - Error during parsing: Unknown directive 'nosuchplugin'\n") !=
              std::string::npos);
        CHECK(out.find("[ERROR] SIGUSR1: starting with listener file descriptors: " + corefile +
                       ":3 - Error during parsing: Unknown directive 'nosuchplugin'\n") !=
              std::string::npos);
        CHECK(out.find("Reloading complete") == std::string::npos);
        CHECK(rcode_of(port, "x.v1.test.") == 0);
        CHECK(rcode_of(port, "a.example.org.") == 0);
        // Fixing the file works again.
        write_file(corefile, variant(2));
        ::kill(srv.pid(), SIGUSR1);
        REQUIRE(wait_for([&] { return srv.out().find("Reloading complete") != std::string::npos; },
                         10000ms));
        CHECK(eventually_rcode(port, "x.v2.test.", 0));
    }
    SECTION("a listener that cannot bind: the ones opened for the attempt are closed again") {
        // Hold a port so the new configuration's second listener fails.
        int busy = ::socket(AF_INET, SOCK_DGRAM, 0);
        auto a = loopback(0);
        REQUIRE(::bind(busy, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        ::getsockname(busy, reinterpret_cast<sockaddr*>(&a), &len);
        const uint16_t busy_port = ntohs(a.sin_port);
        const uint16_t fresh_port = free_port("127.0.0.2");
        write_file(corefile, variant(1) + "fresh.test:" + std::to_string(fresh_port) +
                                 " {\n bind 127.0.0.2\n whoami\n}\nbusy.test:" +
                                 std::to_string(busy_port) + " {\n bind 127.0.0.1\n whoami\n}\n");
        ::kill(srv.pid(), SIGUSR1);
        REQUIRE(wait_for([&] { return srv.out().find("[ERROR] SIGUSR1:") != std::string::npos; },
                         10000ms));
        INFO(srv.out());
        CHECK(srv.out().find("listen tcp 127.0.0.1:" + std::to_string(busy_port) +
                             ": bind: address already in use") != std::string::npos);
        CHECK(wait_for([&] { return !udp_port_taken("127.0.0.2", fresh_port); }, 3000ms));
        CHECK(rcode_of(port, "x.v1.test.") == 0);
        ::close(busy);
    }
    CHECK(srv.alive());
    CHECK(srv.stop() == 0);
    CHECK(sanitizer_clean(srv));
}

TEST_CASE("the reload plugin polls: comments ignored, changes applied, failures not retried",
          "[reload][e2e]") {
    auto conf = [](const std::string& zone, const std::string& extra) {
        return "example.org:0 {\n bind 127.0.0.1\n reload 2s 1s\n whoami\n}\n" + zone +
               ":0 {\n bind 127.0.0.1\n whoami\n" + extra + "}\n";
    };
    testing::ServerProcess srv(conf("one.test", ""));
    REQUIRE(srv.started());
    const uint16_t port = srv.port();
    const std::string corefile = srv.dir() + "/Corefile";
    const std::regex sha(R"(\[INFO\] plugin/reload: Running configuration SHA512 = ([0-9a-f]{128})\n)");
    auto hashes = [&] {
        std::vector<std::string> out;
        const std::string s = srv.out();
        for (std::sregex_iterator it(s.begin(), s.end(), sha), end; it != end; ++it)
            out.push_back((*it)[1]);
        return out;
    };
    REQUIRE(wait_for([&] { return hashes().size() == 1; }, 5000ms));

    // Comment and whitespace only: no reload over more than one period (max 2.5 s).
    write_file(corefile, "# only a comment\n" + conf("one.test", "\n\n"));
    std::this_thread::sleep_for(3200ms);
    CHECK(srv.out().find("Reloading") == std::string::npos);

    // A real change is picked up by the poll.
    write_file(corefile, conf("two.test", ""));
    REQUIRE(wait_for([&] { return srv.out().find("[INFO] Reloading complete") != std::string::npos; },
                     8000ms));
    REQUIRE(wait_for([&] { return hashes().size() == 2; }, 3000ms));
    CHECK(hashes()[0] != hashes()[1]);
    CHECK(eventually_rcode(port, "x.two.test.", 0));
    CHECK(rcode_of(port, "x.one.test.") == wire::kRefused);

    // A parse error warns and keeps polling.
    write_file(corefile, conf("three.test", "") + "{\n");
    REQUIRE(wait_for([&] { return srv.out().find("[WARNING] plugin/reload: Corefile parse failed: ") !=
                                  std::string::npos; },
                     8000ms));
    // A setup error fails once and is not retried while the file stays the same.
    write_file(corefile, conf("three.test", " nosuchplugin\n"));
    const std::string err =
        "[ERROR] plugin/reload: Corefile changed but reload failed: starting with listener file "
        "descriptors: ";
    REQUIRE(wait_for([&] { return srv.out().find(err) != std::string::npos; }, 8000ms));
    std::this_thread::sleep_for(3200ms);
    INFO(srv.out());
    CHECK(count(srv.out(), err) == 1);
    CHECK(count(srv.out(), "[ERROR] Restart failed: ") == 1);
    CHECK(rcode_of(port, "x.two.test.") == 0);  // the old configuration still serves
    CHECK(count(srv.out(), "[INFO] Reloading complete") == 1);
    CHECK(srv.stop() == 0);
    CHECK(sanitizer_clean(srv));
}

TEST_CASE("50 reloads of a forwarding configuration under load drop nothing", "[reload][e2e]") {
    if (!has_plugin("forward")) {
        WARN("SKIPPED: the forward directive is not compiled in");
        return;
    }
    // The upstream is a second dnscore answering with whoami.
    testing::ServerProcess up(".:0 {\n bind 127.0.0.1\n whoami\n}\n");
    REQUIRE(up.started());
    auto conf = [&](int i) {
        return "# variant " + std::to_string(i) + "\nexample.org:0 {\n bind 127.0.0.1\n forward . 127.0.0.1:" +
               std::to_string(up.port()) + "\n}\nv" + std::to_string(i) +
               ".test:0 {\n bind 127.0.0.1\n whoami\n}\n";
    };
    testing::ServerProcess srv(conf(0));
    REQUIRE(srv.started());
    const uint16_t port = srv.port();
    const std::string corefile = srv.dir() + "/Corefile";
    REQUIRE(rcode_of(port, "a.example.org.") == 0);

    Stream u1, u2, t1;
    u1.th = std::thread(udp_stream, std::ref(u1), port, 0);
    u2.th = std::thread(udp_stream, std::ref(u2), port, 0x8000);
    t1.th = std::thread(tcp_stream, std::ref(t1), port);
    std::this_thread::sleep_for(200ms);
    for (int i = 1; i <= 50; ++i) {
        write_file(corefile, conf(i));
        REQUIRE(::kill(srv.pid(), SIGUSR1) == 0);
        REQUIRE(wait_for(
            [&] { return count(srv.out(), "[INFO] Reloading complete") == size_t(i); }, 10000ms));
        std::this_thread::sleep_for(30ms);
    }
    std::this_thread::sleep_for(200ms);
    for (auto* s : {&u1, &u2, &t1}) s->join();
    INFO("stdout:\n" << srv.out() << "\nstderr:\n" << srv.err());
    for (auto* s : {&u1, &u2, &t1}) {
        CHECK(s->answered > 50);
        CHECK(s->lost == 0);
        CHECK(s->bad == 0);  // no SERVFAIL from a forwarder stopped under the query
    }
    CHECK(t1.reconnects == 0);
    CHECK(srv.stop() == 0);
    CHECK(up.stop() == 0);
}
