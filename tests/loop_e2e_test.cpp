// loop against the real binary: a server forwarding to itself exits with
// status 1 and CoreDNS's FATAL line; without a loop it keeps serving.
#include <chrono>
#include <cstdio>
#include <regex>
#include <thread>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using namespace std::chrono_literals;
using testing::has_plugin;

TEST_CASE("loop: forwarding to itself exits 1 with the FATAL line", "[loop][e2e]") {
    if (!has_plugin("forward")) {
        WARN("SKIPPED: the forward directive is not compiled in (dnscore -plugins has no "
             "dns.forward); the self-forwarding loop cannot be built yet");
        return;
    }
    const uint16_t port = testing::free_port();
    REQUIRE(port != 0);
    const std::string p = std::to_string(port);
    testing::ServerProcess srv(".:" + p + " {\n bind 127.0.0.1\n loop\n forward . 127.0.0.1:" + p +
                               "\n}\n");
    // The probe goes out right after startup; the loop is seen within milliseconds.
    const auto t0 = std::chrono::steady_clock::now();
    while (srv.alive() && std::chrono::steady_clock::now() - t0 < 20s) std::this_thread::sleep_for(20ms);
    INFO("stdout:\n" << srv.out() << "\nstderr:\n" << srv.err());
    REQUIRE_FALSE(srv.alive());
    CHECK(srv.stop() == 1);
    const std::regex fatal(
        R"(\[FATAL\] plugin/loop: Loop \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:)" + p +
        R"(\) detected for zone "\.", see https://coredns\.io/plugins/loop#troubleshooting\. Query: "HINFO \d+\.\d+\."\n)");
    CHECK(std::regex_search(srv.out(), fatal));
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);
}

TEST_CASE("loop: no loop, the probe succeeds and the server keeps serving", "[loop][e2e]") {
    testing::ServerProcess srv(".:0 {\n bind 127.0.0.1\n loop\n whoami\n}\n");
    REQUIRE(srv.started());
    std::this_thread::sleep_for(1500ms);
    CHECK(srv.alive());
    // HINFO queries (not the probe name) are answered normally, many times over.
    for (int i = 0; i < 5; ++i) {
        auto r = testing::udp_exchange("127.0.0.1", srv.port(), testing::make_query("1.2.", "HINFO"));
        REQUIRE(r.size() >= 12);
        CHECK(wire::rcode(r.data()) == 0);
    }
    CHECK(srv.alive());
    CHECK(srv.out().find("FATAL") == std::string::npos);
    CHECK(srv.stop() == 0);
}
