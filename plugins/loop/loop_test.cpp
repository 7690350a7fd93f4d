#include "plugins/loop/loop.hpp"

#include <boost/asio/ip/udp.hpp>
#include <atomic>
#include <cstring>
#include <mutex>
#include <regex>

#include "corefile/loader.hpp"
#include "core/config.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/test_query.hpp"

using namespace dnscore;
using namespace std::chrono_literals;

namespace {

// A probe-shaped exchange from 127.0.0.1:40000 to 127.0.0.2:1053.
testing::TestQuery exchange(const std::string& name, const std::string& type, bool tcp = false) {
    testing::TestQuery t(name, type);
    t.tcp(tcp).client("127.0.0.1", 40000).local("127.0.0.2", 1053);
    return t;
}

using testing::load_error;

}  // namespace

TEST_CASE("loop probe names", "[loop]") {
    const std::regex re(R"(^(\d+)\.(\d+)\.example\.org\.$)");
    std::smatch m;
    const std::string a = plugins::loop_probe_name("example.org.");
    REQUIRE(std::regex_match(a, m, re));
    CHECK(std::stoull(m[1]) < (1ull << 62));
    CHECK(std::stoull(m[2]) < (1ull << 62));
    CHECK(plugins::loop_probe_name("example.org.") != a);
    CHECK(std::regex_match(plugins::loop_probe_name("."), std::regex(R"(^\d+\.\d+\.$)")));
}

TEST_CASE("loop detection: the third probe query is fatal", "[loop]") {
    auto loop = std::make_shared<plugins::Loop>("example.org.", "12.34.example.org.");
    std::vector<std::string> fatal;
    loop->on_loop = [&](const Query&, const std::string& msg) { fatal.push_back(msg); };

    SECTION("other types and other names pass and do not count") {
        for (const char* t : {"A", "AAAA", "TXT", "MX"}) {
            auto e = exchange("12.34.example.org.", t);
            CHECK(loop->query(e.q) == Step::next);
        }
        for (const char* n : {"12.35.example.org.", "34.example.org.", "x.12.34.example.org."}) {
            auto e = exchange(n, "HINFO");
            CHECK(loop->query(e.q) == Step::next);
        }
        CHECK(loop->seen() == 0);
        CHECK(fatal.empty());
    }
    SECTION("counted case-insensitively; the third one fires with CoreDNS's line") {
        auto e1 = exchange("12.34.example.org.", "HINFO");
        CHECK(loop->query(e1.q) == Step::next);
        auto e2 = exchange("12.34.EXAMPLE.Org.", "HINFO");
        CHECK(loop->query(e2.q) == Step::next);
        CHECK(loop->seen() == 2);
        CHECK(fatal.empty());
        auto e3 = exchange("12.34.example.org.", "HINFO", true);
        CHECK(loop->query(e3.q) == Step::next);
        REQUIRE(fatal.size() == 1);
        CHECK(fatal[0] ==
              "Loop (127.0.0.1:40000 -> 127.0.0.2:1053) detected for zone \"example.org.\", see "
              "https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO 12.34.example.org.\"");
    }
    SECTION("a failed probe exchange resets the counter") {
        auto e = exchange("12.34.example.org.", "HINFO");
        loop->query(e.q);
        loop->query(e.q);
        loop->reset();
        loop->query(e.q);
        loop->query(e.q);
        CHECK(fatal.empty());
        loop->query(e.q);
        CHECK(fatal.size() == 1);
    }
    SECTION("disabled: nothing is counted") {
        loop->disable();
        auto e = exchange("12.34.example.org.", "HINFO");
        for (int i = 0; i < 5; ++i) CHECK(loop->query(e.q) == Step::next);
        CHECK(loop->seen() == 0);
        CHECK(fatal.empty());
    }
}

TEST_CASE("loop FATAL line: wildcard UDP listeners report [::]:PORT", "[loop]") {
    plugins::Loop loop(".", "1.2.");
    Site site;
    site.server = "dns://:1053";
    auto e = exchange("1.2.", "HINFO");
    e.q.site = &site;
    CHECK(loop.fatal_message(e.q) ==
          "Loop (127.0.0.1:40000 -> [::]:1053) detected for zone \".\", see "
          "https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO 1.2.\"");
}

TEST_CASE("loop setup", "[loop]") {
    CHECK(load_error(".:0 {\n loop\n whoami\n}\n").empty());
    CHECK(load_error(".:0 {\n loop foo\n}\n") ==
          "plugin/loop: Corefile:2 - Error during parsing: Wrong argument count or unexpected "
          "line ending after 'foo'");
    CHECK(load_error(".:0 {\n loop\n loop\n}\n") ==
          "plugin/loop: this plugin can only be used once per Server Block");
    auto set = corefile::load("Example.ORG:0 other.org:0 {\n loop\n whoami\n}\n", "Corefile", {});
    auto* l = dynamic_cast<plugins::Loop*>(set->blocks[0]->chain.at(0));
    REQUIRE(l);
    CHECK(l->zone() == "example.org.");
    CHECK(l->probe_name().size() > std::string(".example.org.").size());
    CHECK(set->on_startup.size() == 1);
    CHECK(set->on_shutdown.size() == 1);
}

namespace {
using boost::asio::ip::udp;

// An upstream that answers every query (REFUSED still counts) unless
// `answer` is false, and keeps the name of the last HINFO query with RD.
struct Responder {
    testing::FakeUpstream up;
    std::atomic<bool> answer{true};
    std::mutex mu;
    std::string last_name_;
    Responder() {
        up.set_responder([this](const testing::Bytes& req) -> testing::Bytes {
            wire::QueryInfo qi;
            if (wire::parse_query(req.data(), req.size(), qi) == wire::Verdict::ok && qi.qtype == wire::kTypeHINFO &&
                (qi.flags & wire::kRD)) {
                std::lock_guard lock(mu);
                last_name_.assign(reinterpret_cast<const char*>(qi.name), qi.name_len);
            }
            if (!answer) return {};
            testing::Bytes r = req;
            r[2] |= 0x80;              // QR
            r[3] = (r[3] & 0xf0) | 5;  // REFUSED
            return r;
        });
    }
    uint16_t port() const { return up.port(); }
    int received() const { return up.udp_queries(); }
    std::string last_name() {
        std::lock_guard lock(mu);
        return last_name_;
    }
};
}  // namespace

TEST_CASE("loop probe: the first reply disables the plugin", "[loop]") {
    boost::asio::io_context io;
    Responder r;
    auto loop = std::make_shared<plugins::Loop>(".", "7.8.");
    auto probe = std::make_shared<plugins::LoopProbe>(io, loop, "127.0.0.1", r.port(),
                                                      plugins::LoopProbe::Timing{});
    probe->start();
    const auto t0 = std::chrono::steady_clock::now();
    while (!probe->finished() && std::chrono::steady_clock::now() - t0 < 10s) io.run_for(20ms);
    CHECK(probe->finished());
    CHECK(loop->disabled());
    CHECK(probe->attempts() == 1);
    CHECK(r.received() == 1);
    uint8_t want[wire::kMaxNameLen];
    const size_t wl = wire::text_to_name("7.8.", want);
    CHECK(r.last_name() == std::string(reinterpret_cast<char*>(want), wl));
}

TEST_CASE("loop probe: retries after failures, resets the counter, gives up at the deadline",
          "[loop]") {
    boost::asio::io_context io;
    Responder r;
    r.answer = false;
    auto loop = std::make_shared<plugins::Loop>(".", "7.8.");
    loop->on_loop = [](const Query&, const std::string&) {};
    plugins::LoopProbe::Timing t;
    t.timeout = 150ms;
    t.retry = 100ms;
    t.deadline = 1200ms;
    auto probe = std::make_shared<plugins::LoopProbe>(io, loop, "127.0.0.1", r.port(), t);
    auto e = exchange("7.8.", "HINFO");
    loop->query(e.q);
    loop->query(e.q);
    CHECK(loop->seen() == 2);
    probe->start();
    const auto t0 = std::chrono::steady_clock::now();
    bool reset_seen = false;
    while (!probe->finished() && std::chrono::steady_clock::now() - t0 < 10s) {
        io.run_for(20ms);
        reset_seen = reset_seen || loop->seen() == 0;
    }
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(reset_seen);
    CHECK(probe->finished());
    CHECK(loop->disabled());
    CHECK(probe->attempts() >= 2);
    CHECK(r.received() == probe->attempts());
    CHECK(took >= 1100ms);
    CHECK(took < 5s);
}

TEST_CASE("loop probe: nothing listening (ICMP refused) retries until answered", "[loop]") {
    boost::asio::io_context io;
    // Take a free port, then close it: the first attempts are refused.
    uint16_t port;
    {
        udp::socket s(io, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
        port = s.local_endpoint().port();
    }
    auto loop = std::make_shared<plugins::Loop>(".", "7.8.");
    plugins::LoopProbe::Timing t;
    t.timeout = 300ms;
    t.retry = 100ms;
    t.deadline = 20s;
    auto probe = std::make_shared<plugins::LoopProbe>(io, loop, "127.0.0.1", port, t);
    probe->start();
    io.run_for(350ms);
    CHECK_FALSE(loop->disabled());
    CHECK(probe->attempts() >= 2);
    // Now something answers on that port.
    udp::socket s(io, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    uint8_t buf[512];
    udp::endpoint from;
    s.async_receive_from(boost::asio::buffer(buf), from, [&](const boost::system::error_code& ec, size_t n) {
        if (ec) return;
        buf[2] |= 0x80;
        s.send_to(boost::asio::buffer(buf, n), from);
    });
    const auto t0 = std::chrono::steady_clock::now();
    while (!probe->finished() && std::chrono::steady_clock::now() - t0 < 10s) io.run_for(20ms);
    CHECK(loop->disabled());
    probe->cancel();
}
