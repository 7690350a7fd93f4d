// dnstap against the real binary: fstrm_capture (Debian fstrm-bin) is the
// Frame Streams reader; the captured frames are decoded with the test's own
// protobuf reader. Client and forwarder messages, addresses, ports, wire
// bytes, and the unwritten SERVFAIL that CoreDNS does not tap.
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/dnstap_reader.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using testing::Bytes;
namespace rd = dnscore::testing::dnstap_read;

namespace {

struct Capture {
    std::string dir, sock, file;
    pid_t pid = -1;
    Capture() {
        char tmpl[] = "/tmp/dnstap-e2e-XXXXXX";
        dir = mkdtemp(tmpl);
        sock = dir + "/tap.sock";
        file = dir + "/tap.fstrm";
        pid = fork();
        if (pid == 0) {
            int devnull = ::open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execlp("fstrm_capture", "fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", sock.c_str(), "-w",
                   file.c_str(), nullptr);
            _exit(127);
        }
        for (int i = 0; i < 500 && !rd::unix_accepts(sock); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    rd::FrameFile finish() {
        kill(pid, SIGINT);
        waitpid(pid, nullptr, 0);
        pid = -1;
        return rd::read_frame_file(file);
    }
    ~Capture() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        std::filesystem::remove_all(dir);
    }
};

std::string ip4(const std::string& b) {
    char out[INET_ADDRSTRLEN] = "?";
    if (b.size() == 4) inet_ntop(AF_INET, b.data(), out, sizeof out);
    return out;
}

}  // namespace

TEST_CASE("dnstap e2e: client and forwarder messages to fstrm_capture", "[dnstap][e2e]") {
    Capture cap;
    REQUIRE(rd::unix_accepts(cap.sock));
    testing::FakeUpstream up;
    const uint16_t dead = testing::FakeUpstream::closed_port();
    testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n dnstap unix://" + cap.sock +
                              " full {\n  identity tap-e2e\n  extra E2E\n }\n forward . " + up.addr() +
                              "\n}\n"
                              "dead.test.:0 {\n bind 127.0.0.1\n dnstap " + cap.sock +
                              "\n forward . 127.0.0.1:" + std::to_string(dead) + " {\n  max_fails 0\n }\n}\n");
    REQUIRE(sp.started());

    // UDP, then TCP, through forward.
    const Bytes q1 = testing::make_query("example.org.", "A");
    const Bytes r1 = testing::udp_exchange("127.0.0.1", sp.port(), q1, 5000);
    REQUIRE(r1.size() >= 12);
    CHECK(wire::rcode(r1.data()) == 0);
    const Bytes q2 = testing::make_query("tcp.example.org.", "A");
    const Bytes r2 = testing::tcp_exchange("127.0.0.1", sp.port(), q2, 5000);
    REQUIRE(r2.size() >= 12);
    // An upstream that refuses: SERVFAIL written by the server, not tapped.
    const Bytes r3 = testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("x.dead.test.", "A"), 8000);
    REQUIRE(r3.size() >= 12);
    CHECK(wire::rcode(r3.data()) == wire::kServFail);

    CHECK(sp.stop() == 0);  // shutdown flushes the writer
    const rd::FrameFile f = cap.finish();
    CHECK(f.content_type == "protobuf:dnstap.Dnstap");
    std::vector<rd::Tap> all;
    for (const auto& fr : f.frames) all.push_back(rd::decode(fr));

    // The first block's messages: CQ, FQ, FR, CR for each query.
    std::vector<rd::Tap> first, second;
    for (auto& t : all) (t.identity == "tap-e2e" ? first : second).push_back(t);
    REQUIRE(first.size() == 8);
    // Each worker has its own ring: the UDP and the TCP exchange may have run
    // on different workers, whose messages the writer drains in either order.
    // Within one exchange (one worker) the order holds: UDP's first here.
    std::stable_partition(first.begin(), first.end(), [](const rd::Tap& t) { return t.msg.i(3) == 1; });
    const uint64_t want_types[] = {5, 7, 8, 6, 5, 7, 8, 6};
    for (size_t i = 0; i < 8; ++i) {
        INFO("message " << i);
        CHECK(first[i].type() == want_types[i]);
        CHECK(first[i].extra == "E2E");
        CHECK(first[i].version.rfind("dnscore-", 0) == 0);
        CHECK(first[i].msg.i(2) == 1);  // INET
        CHECK(ip4(first[i].msg.b(4)) == "127.0.0.1");
        CHECK(first[i].msg.i(3) == (i < 4 ? 1u : 2u));  // UDP, then TCP
    }
    // Wire bytes: the request as sent, the reply as received.
    CHECK(first[0].msg.b(10) == std::string(q1.begin(), q1.end()));
    CHECK(first[3].msg.b(14) == std::string(r1.begin(), r1.end()));
    CHECK(first[7].msg.b(14) == std::string(r2.begin(), r2.end()));
    // Forwarder messages name the upstream; the query carries the client's ID.
    for (size_t i : {1, 2, 5, 6}) {
        INFO("forwarder message " << i);
        CHECK(ip4(first[i].msg.b(5)) == "127.0.0.1");
        CHECK(first[i].msg.i(7) == up.port());
        CHECK(first[i].msg.i(6) == first[0 + (i >= 4 ? 4 : 0)].msg.i(6));  // client port
    }
    CHECK(first[1].msg.b(10).substr(0, 2) == std::string(q1.begin(), q1.begin() + 2));
    CHECK(first[2].msg.has(14));
    CHECK(first[2].msg.has(12));
    CHECK_FALSE(first[1].msg.has(14));
    // The second block (no `full`): CQ and a failed FQ, no response of any kind.
    REQUIRE(second.size() >= 2);
    CHECK(second[0].type() == 5);
    for (size_t i = 1; i < second.size(); ++i) {
        CHECK(second[i].type() == 7);
        CHECK(second[i].msg.i(7) == dead);
        CHECK_FALSE(second[i].msg.has(10));
    }
}

TEST_CASE("dnstap e2e: no reader at start is logged and the server serves", "[dnstap][e2e]") {
    testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n dnstap /nonexistent/dnstap.sock\n whoami\n}\n");
    REQUIRE(sp.started());
    const Bytes r = testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("example.org.", "A"), 3000);
    CHECK(r.size() >= 12);
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
    CHECK(sp.stop() == 0);
    const std::string out = sp.out();
    CHECK(out.find("[ERROR] plugin/dnstap: No connection to dnstap endpoint: dial unix /nonexistent/dnstap.sock: "
                   "connect: no such file or directory") != std::string::npos);
    CHECK(out.find("[WARNING] plugin/dnstap: Dropped dnstap messages: 2") != std::string::npos);
}
