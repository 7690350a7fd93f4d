// The hot path allocates nothing: thousands of whoami exchanges over UDP,
// answered by the real server running in this process, with every
// operator new outside the test's own thread counted (tests/support/alloc_counter).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "server/runtime.hpp"
#include "tests/support/alloc_counter.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;

namespace {
uint16_t bound_port(Runtime& rt) {
    for (int i = 0; i < 200; ++i) {
        auto p = rt.bound_port("dns://127.0.0.1:0");
        if (!p.empty()) return uint16_t(std::stoi(p));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
}

// Runs the server on `corefile` in this process; after a warm-up, sends
// 5000 UDP queries cycling through `queries` and returns the allocations the
// server's threads made meanwhile (-1 if a query went unanswered).
long allocations_during_queries(const std::string& corefile, const std::vector<testing::Bytes>& queries) {
    testing::allocs::ignore_this_thread();
    testing::allocs::start();
    const std::string path = "/tmp/dnscore_alloc_test_Corefile";
    {
        std::ofstream f(path);
        f << corefile;
    }
    RuntimeOptions o;
    o.conf_flag = path;
    o.quiet = true;
    o.workers = 2;
    Runtime rt(o);
    std::thread server([&] { rt.run(); });
    const uint16_t port = bound_port(rt);
    REQUIRE(port != 0);

    // Warm up: first use of thread-local buffers, asio's handler memory and
    // per-worker metric slots.
    for (int i = 0; i < 400; ++i)
        REQUIRE_FALSE(testing::udp_exchange("127.0.0.1", port, queries[size_t(i) % queries.size()]).empty());

    const long before = testing::allocs::count();
    int answered = 0;
    for (int i = 0; i < 5000; ++i)
        if (!testing::udp_exchange("127.0.0.1", port, queries[size_t(i) % queries.size()]).empty()) ++answered;
    const long after = testing::allocs::count();

    // The counter does see the server's threads: a new TCP connection
    // allocates its connection state, so this must move.
    REQUIRE_FALSE(testing::tcp_exchange("127.0.0.1", port, queries[0]).empty());
    const long after_tcp = testing::allocs::count();
    CHECK(after_tcp > after);

    rt.stop(0);
    server.join();
    std::remove(path.c_str());
    CHECK(answered == 5000);
    return answered == 5000 ? after - before : -1;
}

}  // namespace

TEST_CASE("whoami over UDP allocates nothing per query", "[alloc]") {
    const long n = allocations_during_queries(".:0 {\n bind 127.0.0.1\n whoami\n}\n",
                                              {testing::make_query("alloc.example.", "A")});
    INFO("allocations during 5000 queries: " << n);
    CHECK(n == 0);
}

TEST_CASE("prometheus counting allocates nothing per query, dropped replies included", "[alloc]") {
    // x.alloc.example. goes through prometheus + whoami; other.test. has no
    // zone: REFUSED, counted by the server under zone "dropped".
    const long n = allocations_during_queries(
        "alloc.example.:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n whoami\n}\n",
        {testing::make_query("x.alloc.example.", "A"), testing::make_query("other.test.", "AAAA")});
    INFO("allocations during 5000 queries: " << n);
    CHECK(n == 0);
}

TEST_CASE("cache hits allocate nothing per query", "[alloc]") {
    // An upstream in this process (its thread is not counted) answering with
    // TTL 300, so `cache` in front of `forward` serves hits.
    testing::FakeUpstream up;
    up.run_on_thread([] { testing::allocs::ignore_this_thread(); });
    up.set_responder([](const testing::Bytes& req) {
        return testing::make_reply(req, 0, {"hit.alloc.example. 300 IN A 192.0.2.1"});
    });
    // Three case variants of one name and an EDNS query: every one after the
    // warm-up is a hit answered synchronously by the worker.
    const long n = allocations_during_queries(
        ".:0 {\n bind 127.0.0.1\n cache 30\n forward . 127.0.0.1:" + std::to_string(up.port()) + "\n}\n",
        {testing::make_query("hit.alloc.example.", "A"), testing::make_query("HIT.alloc.Example.", "A"),
         testing::make_query("hit.alloc.example.", "A", {.edns = true, .do_bit = false})});
    INFO("allocations during 5000 queries: " << n);
    CHECK(n == 0);
    // Only the first query of each key went upstream (no refresh within 30 s).
    CHECK(up.udp_queries() <= 4);
}

TEST_CASE("bufsize and metadata in the chain allocate nothing per query", "[alloc][bufsize][metadata]") {
    testing::QueryOptions o;
    o.edns = true;
    o.udp_size = 4096;  // lowered by bufsize: the request is edited every time
    const long n = allocations_during_queries(".:0 {\n bind 127.0.0.1\n metadata\n bufsize 1200\n whoami\n}\n",
                                              {testing::make_query("alloc.example.", "A", o),
                                               testing::make_query("alloc.example.", "AAAA")});
    INFO("allocations during 5000 queries: " << n);
    CHECK(n == 0);
}
