// forward against the real binary: a scriptable fake upstream for the fault
// cases, failover, pipelining and single-flight, and a real knotd for
// ordinary answers over UDP and TCP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using testing::Bytes;
using testing::FakeUpstream;
using Clock = std::chrono::steady_clock;

extern char** environ;

namespace {

std::string corefile(const std::string& forward_line, const std::string& block = "") {
    return ".:0 {\n bind 127.0.0.1\n errors\n " + forward_line + (block.empty() ? "" : " {\n" + block + "\n }") +
           "\n}\n";
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Bytes udp_query(uint16_t port, const std::string& name, const std::string& type = "A", int timeout_ms = 8000,
                testing::QueryOptions o = {}) {
    return testing::udp_exchange("127.0.0.1", port, testing::make_query(name, type, o), timeout_ms);
}

int rcode_of(const Bytes& r) { return r.size() >= 12 ? wire::rcode(r.data()) : -1; }

std::vector<std::string> answers(const Bytes& r) { return testing::section(r, 1); }

void still_serves(uint16_t port) {
    // A second zone on the same server forwards to a healthy upstream.
    auto r = udp_query(port, "alive.healthy.test.", "A", 3000);
    REQUIRE(rcode_of(r) == 0);
    CHECK(answers(r).size() == 1);
}

bool wait_for(const std::function<bool()>& cond, int timeout_ms) {
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return cond();
}

}  // namespace

TEST_CASE("forward e2e: answers are relayed with the client's ID and question", "[forward][e2e]") {
    FakeUpstream up;
    up.set_answer_octet(7);
    testing::ServerProcess srv(corefile("forward . " + up.addr()));
    REQUIRE(srv.started());
    testing::QueryOptions o;
    o.id = 0xABCD;
    auto r = udp_query(srv.port(), "WwW.Example.ORG.", "A", 3000, o);
    REQUIRE(rcode_of(r) == 0);
    CHECK(wire::id(r.data()) == 0xABCD);
    CHECK(testing::to_text(r).find("WwW.Example.ORG.") != std::string::npos);
    REQUIRE(answers(r).size() == 1);
    CHECK(answers(r)[0] == "WwW.Example.ORG.\t60\tIN\tA\t192.0.2.7");
    // Over TCP from the client: the upstream is asked over TCP too.
    auto t = testing::tcp_exchange("127.0.0.1", srv.port(), testing::make_query("tcp.example.org.", "A"), 3000);
    REQUIRE(rcode_of(t) == 0);
    CHECK(up.tcp_queries() == 1);
    CHECK(up.udp_queries() == 1);
}

TEST_CASE("forward e2e: fault cases end as CoreDNS does, within the deadline", "[forward][e2e]") {
    FakeUpstream healthy;
    struct Case {
        const char* name;
        FakeUpstream::Mode mode;
        std::string block;
        int want_rcode;
        double max_seconds;
        const char* log_part;  // expected in the errors line ("" = no line)
    };
    const Case cases[] = {
        {"no answer", FakeUpstream::Mode::no_answer, "", wire::kServFail, 6.5, ": i/o timeout"},
        {"wrong id", FakeUpstream::Mode::wrong_id, "", wire::kServFail, 6.5, ": i/o timeout"},
        {"wrong question", FakeUpstream::Mode::wrong_question, "", wire::kFormErr, 2.0, ""},
        {"garbage", FakeUpstream::Mode::garbage, "", wire::kServFail, 6.5, "dns: "},
        {"tcp reset", FakeUpstream::Mode::tcp_reset, "force_tcp", wire::kServFail, 6.5, "connection reset by peer"},
        {"servfail relayed", FakeUpstream::Mode::servfail, "", wire::kServFail, 2.0, ""},
    };
    std::vector<std::unique_ptr<FakeUpstream>> ups;
    std::string cf;
    int i = 0;
    for (const auto& c : cases) {
        ups.push_back(std::make_unique<FakeUpstream>());
        ups.back()->set_mode(c.mode);
        cf += "case" + std::to_string(i++) + ".test:0 {\n bind 127.0.0.1\n errors\n forward . " + ups.back()->addr() +
              (c.block.empty() ? "" : " {\n " + c.block + "\n }") + "\n}\n";
    }
    const uint16_t refused = FakeUpstream::closed_port();
    cf += "refused.test:0 {\n bind 127.0.0.1\n errors\n forward . 127.0.0.1:" + std::to_string(refused) + "\n}\n";
    cf += "healthy.test:0 {\n bind 127.0.0.1\n errors\n forward . " + healthy.addr() + "\n}\n";
    testing::ServerProcess srv(cf);
    REQUIRE(srv.started());

    // All cases at once: each takes up to the 5 s deadline.
    std::vector<std::future<std::pair<Bytes, double>>> results;
    for (size_t k = 0; k <= std::size(cases); ++k) {
        const std::string zone = k < std::size(cases) ? "case" + std::to_string(k) + ".test." : "refused.test.";
        results.push_back(std::async(std::launch::async, [&srv, zone] {
            const auto t0 = Clock::now();
            Bytes r = udp_query(srv.port(), "q." + zone, "A", 9000);
            return std::make_pair(r, seconds_since(t0));
        }));
    }
    for (size_t k = 0; k < std::size(cases); ++k) {
        auto [r, secs] = results[k].get();
        INFO(cases[k].name);
        CHECK(rcode_of(r) == cases[k].want_rcode);
        CHECK(secs < cases[k].max_seconds);
        if (*cases[k].log_part) {
            INFO(srv.out());
            const std::string line = "[ERROR] plugin/errors: 2 q.case" + std::to_string(k) + ".test. A: ";
            CHECK(srv.out().find(line) != std::string::npos);
            // A tight retry loop (garbage, resets) may end on a try cut by the deadline.
            const bool text = srv.out().find(cases[k].log_part) != std::string::npos;
            const bool deadline_cut = cases[k].mode != FakeUpstream::Mode::no_answer &&
                                      srv.out().find(line) != std::string::npos &&
                                      srv.out().find(": i/o timeout") != std::string::npos;
            CHECK((text || deadline_cut));
        }
    }
    auto [r, secs] = results.back().get();
    CHECK(rcode_of(r) == wire::kServFail);
    CHECK(secs < 6.5);
    CHECK(srv.out().find("read udp 127.0.0.1:") != std::string::npos);
    CHECK(srv.out().find("->127.0.0.1:" + std::to_string(refused) + ": read: connection refused") !=
          std::string::npos);
    // The no-answer case logs CoreDNS's read timeout text.
    CHECK(srv.out().find("->" + ups[0]->addr() + ": i/o timeout") != std::string::npos);
    still_serves(srv.port());
    CHECK(srv.alive());
}

TEST_CASE("forward e2e: truncation per transport and prefer_udp", "[forward][e2e]") {
    FakeUpstream up;
    up.set_mode(FakeUpstream::Mode::truncated);
    testing::ServerProcess plain(corefile("forward . " + up.addr()));
    REQUIRE(plain.started());
    auto r = udp_query(plain.port(), "tc.example.", "A", 3000);
    REQUIRE(rcode_of(r) == 0);
    CHECK((wire::flags(r.data()) & wire::kTC));  // passed to the client as is
    CHECK(up.tcp_queries() == 0);

    testing::ServerProcess prefer(corefile("forward . " + up.addr(), "  prefer_udp"));
    REQUIRE(prefer.started());
    // A TCP client with prefer_udp: UDP first, then TCP because of TC.
    auto t = testing::tcp_exchange("127.0.0.1", prefer.port(), testing::make_query("tc2.example.", "A"), 3000);
    REQUIRE(rcode_of(t) == 0);
    CHECK_FALSE((wire::flags(t.data()) & wire::kTC));
    CHECK(answers(t).size() == 1);
    CHECK(up.tcp_queries() == 1);
}

TEST_CASE("forward e2e: failover to the second upstream and back", "[forward][e2e]") {
    FakeUpstream first, second;
    first.set_answer_octet(1);
    second.set_answer_octet(2);
    first.set_mode(FakeUpstream::Mode::no_answer);
    testing::ServerProcess srv(corefile("forward . " + first.addr() + " " + second.addr(), "  policy sequential"));
    REQUIRE(srv.started());
    auto t0 = Clock::now();
    auto r = udp_query(srv.port(), "a.example.", "A", 6000);
    REQUIRE(answers(r).size() == 1);
    CHECK(answers(r)[0].find("192.0.2.2") != std::string::npos);
    CHECK(seconds_since(t0) < 3.0);  // one 2 s read timeout on the first
    // Health probes mark the first down: answers then come straight from the second.
    CHECK(wait_for(
        [&] {
            auto t = Clock::now();
            auto x = udp_query(srv.port(), "b.example.", "A", 6000);
            return answers(x).size() == 1 && answers(x)[0].find("192.0.2.2") != std::string::npos &&
                   seconds_since(t) < 0.5;
        },
        12000));
    CHECK(first.probes() >= 3);
    // The first recovers: a probe succeeds and sequential order uses it again.
    first.set_mode(FakeUpstream::Mode::answer);
    CHECK(wait_for(
        [&] {
            auto x = udp_query(srv.port(), "c.example.", "A", 6000);
            return answers(x).size() == 1 && answers(x)[0].find("192.0.2.1") != std::string::npos;
        },
        8000));
    CHECK(srv.alive());
}

TEST_CASE("forward e2e: force_tcp pipelines queries over few pooled connections", "[forward][e2e]") {
    FakeUpstream up;
    testing::ServerProcess srv(corefile("forward . " + up.addr(), "  force_tcp"));
    REQUIRE(srv.started());
    const int workers = int(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < 30; ++i) REQUIRE(rcode_of(udp_query(srv.port(), "seq" + std::to_string(i) + ".example.")) == 0);
    CHECK(up.tcp_queries() == 30);
    CHECK(up.udp_queries() == 0);
    CHECK(up.tcp_connections() <= workers);  // sequential queries reuse one connection per worker

    // Concurrent slow answers share connections (replies out of order, matched by ID).
    up.reset_counters();
    up.set_delay_ms(300);
    std::vector<std::future<Bytes>> fs;
    for (int i = 0; i < 40; ++i)
        fs.push_back(std::async(std::launch::async,
                                [&srv, i] { return udp_query(srv.port(), "par" + std::to_string(i) + ".example."); }));
    int ok = 0;
    for (auto& f : fs) ok += rcode_of(f.get()) == 0 && true;
    CHECK(ok == 40);
    CHECK(up.tcp_queries() == 40);
    CHECK(up.tcp_connections() < 40);
    CHECK(up.tcp_connections() <= workers * 8);
}

TEST_CASE("forward e2e: identical concurrent misses share one upstream query", "[forward][e2e]") {
    FakeUpstream up;
    up.set_delay_ms(400);
    testing::ServerProcess srv(corefile("forward . " + up.addr()));
    REQUIRE(srv.started());
    const int workers = int(std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::future<Bytes>> fs;
    for (int i = 0; i < 20; ++i) {
        fs.push_back(std::async(std::launch::async, [&srv, i] {
            testing::QueryOptions o;
            o.id = uint16_t(1000 + i);
            return udp_query(srv.port(), i % 2 ? "SAME.example." : "same.example.", "A", 5000, o);
        }));
    }
    for (int i = 0; i < 20; ++i) {
        Bytes r = fs[size_t(i)].get();
        REQUIRE(rcode_of(r) == 0);
        CHECK(wire::id(r.data()) == 1000 + i);
        CHECK(answers(r).size() == 1);
        CHECK(testing::to_text(r).find(i % 2 ? "SAME.example." : "same.example.") != std::string::npos);
    }
    CHECK(up.udp_queries() <= workers);
    CHECK(up.udp_queries() >= 1);
}

TEST_CASE("forward e2e: max_concurrent refuses the excess", "[forward][e2e]") {
    FakeUpstream up;
    up.set_delay_ms(1000);
    testing::ServerProcess srv(corefile("forward . " + up.addr(), "  max_concurrent 1"));
    REQUIRE(srv.started());
    auto slow = std::async(std::launch::async, [&srv] { return udp_query(srv.port(), "one.example."); });
    REQUIRE(wait_for([&] { return up.udp_queries() == 1; }, 3000));
    auto r = udp_query(srv.port(), "two.example.", "A", 3000);
    CHECK(rcode_of(r) == wire::kRefused);
    CHECK(rcode_of(slow.get()) == 0);
    CHECK(srv.out().find("two.example. A: concurrent queries exceeded maximum 1") != std::string::npos);
    // The slot is released: a later query is admitted.
    CHECK(rcode_of(udp_query(srv.port(), "three.example.", "A", 3000)) == 0);
}

TEST_CASE("forward e2e: max_pending and max_pending_per_client shed the excess at once (dnscore extension)",
          "[forward][e2e]") {
    FakeUpstream up;
    up.set_delay_ms(1500);
    auto served = [&](const std::string& limits) {
        return ".:0 {\n bind 127.0.0.1\n errors\n prometheus 127.0.0.1:0\n forward . " + up.addr() + " {\n" +
               limits + "\n }\n}\n";
    };
    auto shed_count = [](testing::ServerProcess& srv, const std::string& reason) {
        const auto m = testing::http_get(testing::served_address(srv, "prometheus", "/metrics"), "/metrics");
        const std::string line = "dnscore_forward_shed_total{reason=\"" + reason + "\"} ";
        const size_t at = m.body.find(line);
        return at == std::string::npos ? -1 : std::atol(m.body.c_str() + at + line.size());
    };

    SECTION("per client") {
        testing::ServerProcess srv(served("  max_pending_per_client 2"));
        REQUIRE(srv.started());
        auto a = std::async(std::launch::async, [&srv] { return udp_query(srv.port(), "a.example."); });
        auto b = std::async(std::launch::async, [&srv] { return udp_query(srv.port(), "b.example."); });
        REQUIRE(wait_for([&] { return up.udp_queries() == 2; }, 3000));
        const auto t0 = Clock::now();
        auto r = udp_query(srv.port(), "c.example.", "A", 3000);
        CHECK(rcode_of(r) == wire::kServFail);
        CHECK(seconds_since(t0) < 1.0);  // not after the upstream's delay: at once
        CHECK(rcode_of(a.get()) == 0);
        CHECK(rcode_of(b.get()) == 0);
        CHECK(srv.out().find("c.example. A: plugin/forward: pending queries of the client exceeded maximum 2") !=
              std::string::npos);
        CHECK(up.udp_queries() == 2);
        // The client's count went back down: it is admitted again.
        CHECK(rcode_of(udp_query(srv.port(), "d.example.", "A", 3000)) == 0);
        CHECK(shed_count(srv, "max_pending_per_client") == 1);
        CHECK(shed_count(srv, "max_pending") == 0);
    }
    SECTION("upstream exchanges") {
        testing::ServerProcess srv(served("  max_pending 1"));
        REQUIRE(srv.started());
        auto a = std::async(std::launch::async, [&srv] { return udp_query(srv.port(), "a.example."); });
        REQUIRE(wait_for([&] { return up.udp_queries() == 1; }, 3000));
        auto r = udp_query(srv.port(), "other.example.", "A", 3000);
        CHECK(rcode_of(r) == wire::kServFail);
        CHECK(rcode_of(a.get()) == 0);
        CHECK(srv.out().find("other.example. A: plugin/forward: pending upstream queries exceeded maximum 1") !=
              std::string::npos);
        CHECK(rcode_of(udp_query(srv.port(), "later.example.", "A", 3000)) == 0);
        CHECK(shed_count(srv, "max_pending") == 1);
    }
}

TEST_CASE("forward e2e: UDP source ports rotate; replies out of order are matched by ID", "[forward][e2e]") {
    // An upstream in this test that records each query's source port and
    // answers in reverse order of arrival, ten at a time.
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    socklen_t sl = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &sl);
    timeval tv{0, 200 * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::map<uint16_t, int> per_port;
    std::thread upstream([&] {
        std::vector<std::pair<Bytes, sockaddr_in>> held;
        while (!stop) {
            uint8_t buf[4096];
            sockaddr_in from{};
            socklen_t fl = sizeof from;
            const ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
            if (n > 0) {
                std::lock_guard lk(mu);
                ++per_port[ntohs(from.sin_port)];
                held.emplace_back(Bytes(buf, buf + n), from);
            }
            if (held.size() >= 10 || (n <= 0 && !held.empty())) {
                for (auto it = held.rbegin(); it != held.rend(); ++it) {
                    const Bytes r = testing::make_reply(it->first, 0, {"x.example. 60 IN A 192.0.2.7"});
                    ::sendto(fd, r.data(), r.size(), 0, reinterpret_cast<const sockaddr*>(&it->second),
                             sizeof it->second);
                }
                held.clear();
            }
        }
    });
    testing::ServerProcess srv(corefile("forward . 127.0.0.1:" + std::to_string(ntohs(sa.sin_port))));
    REQUIRE(srv.started());
    // 50 concurrent clients, 12 queries each, every name distinct: replies
    // come back reversed in groups, each must reach its own client.
    std::vector<std::future<int>> clients;
    for (int c = 0; c < 50; ++c) {
        clients.push_back(std::async(std::launch::async, [&srv, c] {
            int ok = 0;
            for (int k = 0; k < 12; ++k) {
                const std::string name = "q" + std::to_string(c) + "-" + std::to_string(k) + ".example.";
                testing::QueryOptions o;
                o.id = uint16_t(c * 100 + k);
                const Bytes r = udp_query(srv.port(), name, "A", 5000, o);
                if (rcode_of(r) == 0 && wire::id(r.data()) == c * 100 + k &&
                    testing::to_text(r).find(name) != std::string::npos)
                    ++ok;
            }
            return ok;
        }));
    }
    int answered = 0;
    for (auto& c : clients) answered += c.get();
    stop = true;
    upstream.join();
    ::close(fd);
    CHECK(answered == 600);
    std::lock_guard lk(mu);
    int total = 0, most = 0;
    for (const auto& [port, n] : per_port) {
        total += n;
        most = std::max(most, n);
    }
    INFO("source ports: " << per_port.size() << ", most queries on one: " << most);
    CHECK(total >= 600);
    CHECK(most <= 64);                      // a socket carries at most 64 exchanges
    CHECK(per_port.size() >= size_t(total / 64));  // so the port changes at least every 64
}

TEST_CASE("forward e2e: -validate opens no socket and starts nothing", "[forward][e2e]") {
    FakeUpstream up;
    const std::string dir = "/tmp/fwd-validate-" + std::to_string(getpid());
    ::mkdir(dir.c_str(), 0700);
    std::ofstream(dir + "/Corefile") << corefile("forward . " + up.addr(), "  health_check 100ms");
    const char* bin = std::getenv("DNSCORE");
    REQUIRE(bin);
    const std::string cmd = std::string(bin) + " -validate -conf " + dir + "/Corefile >/dev/null 2>&1";
    CHECK(std::system(cmd.c_str()) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(up.udp_queries() + up.tcp_queries() == 0);
    std::remove((dir + "/Corefile").c_str());
    ::rmdir(dir.c_str());
}

// ---------------------------------------------------------------- knotd
namespace {

std::string find_knotd() {
    for (const char* p : {"/usr/sbin/knotd", "/usr/bin/knotd", "/usr/local/sbin/knotd"})
        if (::access(p, X_OK) == 0) return p;
    return "";
}

struct Knot {
    std::string dir;
    uint16_t port = 0;
    pid_t pid = -1;
    bool start() {
        const std::string bin = find_knotd();
        if (bin.empty()) return false;
        char tmpl[] = "/tmp/fwd-knot-XXXXXX";
        dir = ::mkdtemp(tmpl);
        std::ofstream z(dir + "/example.zone");
        z << "$ORIGIN example.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\n"
             "ns A 127.0.0.1\nwww A 192.0.2.10\nwww AAAA 2001:db8::10\n"
             "alias CNAME alias2\nalias2 CNAME www\ntxtonly TXT \"hello\"\n";
        for (int i = 0; i < 60; ++i) z << "big A 198.51.100." << i << "\n";
        z.close();
        port = testing::free_port();
        std::ofstream c(dir + "/knot.conf");
        c << "server:\n    listen: 127.0.0.1@" << port << "\n    rundir: " << dir << "\n"
          << "database:\n    storage: " << dir << "\n"
          << "template:\n  - id: default\n    storage: " << dir << "\n"
          << "zone:\n  - domain: example.test\n    file: example.zone\n";
        c.close();
        const std::string conf = dir + "/knot.conf";
        const std::string log = dir + "/knot.log";
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        std::vector<std::string> args = {bin, "-c", conf};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ) != 0) pid = -1;
        posix_spawn_file_actions_destroy(&fa);
        if (pid <= 0) return false;
        return wait_for(
            [&] {
                auto r = testing::udp_exchange("127.0.0.1", port, testing::make_query("www.example.test.", "A"), 200);
                return rcode_of(r) == 0;
            },
            10000);
    }
    ~Knot() {
        if (pid > 0) {
            ::kill(pid, SIGTERM);
            int st;
            for (int i = 0; i < 100 && ::waitpid(pid, &st, WNOHANG) == 0; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (::waitpid(pid, &st, WNOHANG) == 0) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, &st, 0);
            }
        }
        if (!dir.empty()) std::system(("rm -rf " + dir).c_str());
    }
};

}  // namespace

TEST_CASE("forward e2e: against knotd over UDP and TCP", "[forward][e2e][knot]") {
    if (find_knotd().empty()) {
        WARN("knotd not installed (Debian package knot): skipping the knotd cases");
        return;
    }
    Knot knot;
    REQUIRE(knot.start());
    for (const bool force_tcp : {false, true}) {
        INFO((force_tcp ? "force_tcp" : "udp"));
        testing::ServerProcess srv(corefile("forward . 127.0.0.1:" + std::to_string(knot.port),
                                            force_tcp ? "  force_tcp" : ""));
        REQUIRE(srv.started());
        auto a = udp_query(srv.port(), "www.example.test.", "A", 3000);
        REQUIRE(rcode_of(a) == 0);
        CHECK(answers(a) == std::vector<std::string>{"www.example.test.\t300\tIN\tA\t192.0.2.10"});
        auto aaaa = udp_query(srv.port(), "www.example.test.", "AAAA", 3000);
        CHECK(answers(aaaa) == std::vector<std::string>{"www.example.test.\t300\tIN\tAAAA\t2001:db8::10"});
        auto nx = udp_query(srv.port(), "nope.example.test.", "A", 3000);
        CHECK(rcode_of(nx) == wire::kNXDomain);
        CHECK(testing::section(nx, 2).size() == 1);  // SOA
        auto nodata = udp_query(srv.port(), "txtonly.example.test.", "A", 3000);
        CHECK(rcode_of(nodata) == 0);
        CHECK(answers(nodata).empty());
        CHECK(testing::section(nodata, 2).size() == 1);
        auto cname = udp_query(srv.port(), "alias.example.test.", "A", 3000);
        CHECK(answers(cname) == std::vector<std::string>{"alias.example.test.\t300\tIN\tCNAME\talias2.example.test.",
                                                         "alias2.example.test.\t300\tIN\tCNAME\twww.example.test.",
                                                         "www.example.test.\t300\tIN\tA\t192.0.2.10"});
        // > 512 bytes: with EDNS over UDP, and over TCP.
        testing::QueryOptions edns;
        edns.edns = true;
        edns.udp_size = 4096;
        auto big = udp_query(srv.port(), "big.example.test.", "A", 3000, edns);
        CHECK(big.size() > 512);
        CHECK_FALSE((wire::flags(big.data()) & wire::kTC));
        CHECK(answers(big).size() == 60);
        auto small = udp_query(srv.port(), "big.example.test.", "A", 3000);
        CHECK(small.size() <= 512);
        CHECK((wire::flags(small.data()) & wire::kTC));
        auto tcp = testing::tcp_exchange("127.0.0.1", srv.port(), testing::make_query("big.example.test.", "A"), 3000);
        CHECK(tcp.size() > 512);
        CHECK(answers(tcp).size() == 60);
    }
}
