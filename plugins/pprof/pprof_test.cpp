// pprof: setup as CoreDNS 1.12's setup_test.go, and the endpoints on
// loopback: a 1-second CPU profile parsed as gperftools' legacy format
// (header words, samples, trailer with the memory map), the index, the
// redirect and the 404s that say why.
#include "plugins/pprof/pprof.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <cstring>
#include <thread>

#include "tests/support/catch.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;
using namespace dnscore::plugins::pprof;

namespace {

// The control thread of the test: an io_context running in its own thread.
struct Control {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
    std::thread th{[this] { io.run(); }};
    std::vector<http::Handle> handles;
    std::string addr;
    Control() {
        Config c;
        c.addr = "127.0.0.1:0";
        // http::serve belongs on the control thread: register there and wait.
        std::atomic<bool> done{false};
        boost::asio::post(io, [&] {
            handles = serve(io, c);
            addr = http::bound_address(c.addr);
            done = true;
        });
        while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ~Control() {
        std::atomic<bool> done{false};
        boost::asio::post(io, [&] {
            handles.clear();
            done = true;
        });
        while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        guard.reset();
        io.stop();
        th.join();
    }
};

uint64_t word(const std::string& s, size_t i) {
    uint64_t v;
    std::memcpy(&v, s.data() + i * 8, 8);
    return v;
}

}  // namespace

TEST_CASE("pprof setup: CoreDNS setup_test.go cases", "[pprof][setup]") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"pprof", ""},
        {"pprof 1.2.3.4:1234", ""},
        {"pprof :1234", ""},
        {"pprof :1234 -1", "plugin/pprof: Corefile:2 - Error during parsing: Wrong argument count or unexpected line "
                           "ending after '-1'"},
        {"pprof {\n}", ""},
        {"pprof /foo", "plugin/pprof: Corefile:2 - Error during parsing: address /foo: missing port in address"},
        {"pprof {\n a b\n}", "plugin/pprof: Corefile:3 - Error during parsing: unknown property 'a'"},
        {"pprof { block\n}", ""},
        {"pprof :1234 {\n block 20\n}", ""},
        {"pprof {\n block 20 30\n}", "plugin/pprof: Corefile:3 - Error during parsing: Wrong argument count or "
                                     "unexpected line ending after '30'"},
        {"pprof {\n block x\n}", "plugin/pprof: Corefile:3 - Error during parsing: property 'block' invalid integer "
                                 "value 'x'"},
        {"pprof\npprof", "plugin/pprof: this plugin can only be used once per Server Block"},
    };
    for (const auto& [in, want] : cases) {
        INFO(in);
        CHECK(testing::load_error(".:1053 {\n" + in + "\n}\n") == want);
    }
    auto d = testing::dispenser("pprof", "pprof\n");
    CHECK(parse_pprof(d).addr == "localhost:6053");
    auto d2 = testing::dispenser("pprof", "pprof :6060 {\n block\n}\n");
    const Config c2 = parse_pprof(d2);
    CHECK(c2.addr == ":6060");
    CHECK(c2.block_rate == 1);
}

TEST_CASE("pprof: the seconds parameter as Go's pprof.Profile reads it", "[pprof]") {
    CHECK(profile_seconds("/debug/pprof/profile") == 30);
    CHECK(profile_seconds("/debug/pprof/profile?seconds=5") == 5);
    CHECK(profile_seconds("/debug/pprof/profile?debug=1&seconds=2") == 2);
    CHECK(profile_seconds("/debug/pprof/profile?seconds=0") == 30);
    CHECK(profile_seconds("/debug/pprof/profile?seconds=-3") == 30);
    CHECK(profile_seconds("/debug/pprof/profile?seconds=x") == 30);
}

TEST_CASE("pprof: a 1-second CPU profile in gperftools' legacy format", "[pprof][live]") {
    Control ctl;
    // Burn CPU meanwhile so the profile has samples.
    std::atomic<bool> stop{false};
    std::thread burner([&] {
        volatile uint64_t x = 1;
        while (!stop) x = x * 6364136223846793005ull + 1;
    });
    const auto t0 = std::chrono::steady_clock::now();
    // A second request while the first runs: Go's "already in use".
    testing::HttpReply busy;
    std::thread second([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        busy = testing::http_get(ctl.addr, "/debug/pprof/profile?seconds=1", 5000);
    });
    const testing::HttpReply r = testing::http_get(ctl.addr, "/debug/pprof/profile?seconds=1", 10000);
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    second.join();
    stop = true;
    burner.join();
    REQUIRE(r.status == 200);
    CHECK(took >= 0.95);
    CHECK(r.headers.find("Content-Type: application/octet-stream") != std::string::npos);
    CHECK(r.headers.find("Content-Disposition: attachment; filename=\"profile\"") != std::string::npos);
    CHECK(busy.status == 500);
    CHECK(busy.body == "Could not enable CPU profiling: cpu profiling already in use\n");

    // Header: 0, 3 (header words), 0 (version), sampling period in µs, 0.
    const std::string& p = r.body;
    REQUIRE(p.size() >= 5 * 8);
    CHECK(word(p, 0) == 0);
    CHECK(word(p, 1) == 3);
    CHECK(word(p, 2) == 0);
    CHECK(word(p, 3) == 10000);  // 100 Hz, as Go's default
    CHECK(word(p, 4) == 0);
    // Records (count, depth, pcs...) up to the trailer 0, 1, 0.
    size_t i = 5;
    uint64_t samples = 0;
    bool trailer = false;
    while ((i + 3) * 8 <= p.size()) {
        const uint64_t count = word(p, i), depth = word(p, i + 1);
        if (count == 0 && depth == 1 && word(p, i + 2) == 0) {
            trailer = true;
            i += 3;
            break;
        }
        REQUIRE(depth > 0);
        REQUIRE(depth <= 256);
        samples += count;
        i += 2 + depth;
    }
    CHECK(trailer);
    CHECK(samples >= 20);  // about 100 for one busy second
    // Then the process's memory map, which pprof uses to symbolize.
    const std::string maps = p.substr(i * 8);
    CHECK(maps.find("r-xp") != std::string::npos);
    CHECK(maps.find("pprof_test") != std::string::npos);
}

TEST_CASE("pprof: index, redirect, cmdline and honest 404s", "[pprof][live]") {
    Control ctl;
    const auto idx = testing::http_get(ctl.addr, "/debug/pprof/");
    CHECK(idx.status == 200);
    CHECK(idx.body.find("profile?seconds=30") != std::string::npos);
    const auto redir = testing::http_get(ctl.addr, "/debug/pprof");
    CHECK(redir.status == 302);
    CHECK(redir.headers.find("Location: /debug/pprof/") != std::string::npos);
    const auto cmd = testing::http_get(ctl.addr, "/debug/pprof/cmdline");
    CHECK(cmd.status == 200);
    CHECK(cmd.body.find("pprof_test") != std::string::npos);
    const auto heap = testing::http_get(ctl.addr, "/debug/pprof/heap");
    CHECK(heap.status == 404);
    CHECK(heap.body ==
          "heap profile not available: dnscore does not run on tcmalloc, and glibc malloc keeps no allocation profile\n");
    for (const char* n : {"allocs", "goroutine", "block", "mutex", "threadcreate", "trace", "symbol"}) {
        INFO(n);
        const auto r = testing::http_get(ctl.addr, std::string("/debug/pprof/") + n);
        CHECK(r.status == 404);
        CHECK(r.body.find("not available") != std::string::npos);
    }
}
