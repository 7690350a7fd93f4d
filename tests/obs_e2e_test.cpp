// trace and pprof against the real binary: spans from real queries reach a
// loopback Zipkin collector; a CPU profile is fetched over HTTP while the
// server answers queries, and parsed as gperftools' legacy format.
#include <boost/json.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/http_collector.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using testing::Bytes;
namespace json = boost::json;

TEST_CASE("trace e2e: spans of real queries reach a Zipkin collector", "[trace][e2e]") {
    testing::HttpCollector collector;
    testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n trace " + collector.addr() +
                              " {\n  zipkin_max_batch_interval 200ms\n }\n whoami\n}\n");
    REQUIRE(sp.started());
    const Bytes r1 = testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("one.example.", "A"), 3000);
    REQUIRE(r1.size() >= 12);
    const Bytes r2 = testing::tcp_exchange("127.0.0.1", sp.port(), testing::make_query("two.example.", "MX"), 3000);
    REQUIRE(r2.size() >= 12);
    std::vector<json::object> spans;
    for (int i = 0; i < 300 && spans.size() < 2; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        spans.clear();
        for (const auto& req : collector.requests())
            {
                const json::value v = json::parse(req.body);
                for (const auto& s : v.as_array()) spans.push_back(s.as_object());
            }
    }
    REQUIRE(spans.size() == 2);
    // The UDP and the TCP exchange may run on different workers, whose spans
    // reach the reporter in either order: check each by its name.
    if (spans[0].at("tags").as_object().at("coredns.io/name").as_string() != "one.example.") std::swap(spans[0], spans[1]);
    const auto reqs = collector.requests();
    CHECK(reqs[0].method == "POST");
    CHECK(reqs[0].path == "/api/v2/spans");
    const auto& t1 = spans[0].at("tags").as_object();
    CHECK(t1.at("coredns.io/name").as_string() == "one.example.");
    CHECK(t1.at("coredns.io/type").as_string() == "A");
    CHECK(t1.at("coredns.io/proto").as_string() == "udp");
    CHECK(t1.at("coredns.io/remote").as_string() == "127.0.0.1");
    CHECK(t1.at("coredns.io/rcode").as_string() == "NOERROR");
    const auto& t2 = spans[1].at("tags").as_object();
    CHECK(t2.at("coredns.io/name").as_string() == "two.example.");
    CHECK(t2.at("coredns.io/proto").as_string() == "tcp");
    CHECK(spans[0].at("name").as_string() == "servedns");
    CHECK(spans[0].at("localEndpoint").as_object().at("serviceName").as_string() == "coredns");
    CHECK(spans[0].at("localEndpoint").as_object().at("ipv4").as_string() == "127.0.0.1");
    CHECK(sp.stop() == 0);
}

TEST_CASE("trace e2e: datadog is refused at start with a clear message", "[trace][e2e]") {
    testing::ServerProcess sp(".:0 {\n trace datadog localhost:8126\n whoami\n}\n");
    CHECK_FALSE(sp.started());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::string all = sp.out() + sp.err();
    CHECK(all.find("plugin/trace: tracing endpoint type 'datadog' is not supported by dnscore") != std::string::npos);
}

TEST_CASE("pprof e2e: a 1-second CPU profile of the serving process", "[pprof][e2e]") {
    testing::ServerProcess sp(".:0 {\n bind 127.0.0.1\n pprof 127.0.0.1:0\n whoami\n}\n");
    REQUIRE(sp.started());
    const std::string addr = testing::served_address(sp, "pprof", "/debug/pprof/");
    REQUIRE_FALSE(addr.empty());
    // Keep the server busy while it is profiled.
    std::atomic<bool> stop{false};
    std::thread load([&] {
        const Bytes q = testing::make_query("load.example.", "A");
        while (!stop) testing::udp_exchange("127.0.0.1", sp.port(), q, 1000);
    });
    const testing::HttpReply r = testing::http_get(addr, "/debug/pprof/profile?seconds=1", 10000);
    stop = true;
    load.join();
    REQUIRE(r.status == 200);
    const std::string& p = r.body;
    REQUIRE(p.size() >= 40);
    uint64_t w[5];
    std::memcpy(w, p.data(), sizeof w);
    CHECK(w[0] == 0);
    CHECK(w[1] == 3);
    CHECK(w[2] == 0);
    CHECK(w[3] == 10000);
    CHECK(w[4] == 0);
    // The memory map at the end names the binary that was profiled.
    CHECK(p.find("/dnscore\n") != std::string::npos);
    const auto heap = testing::http_get(addr, "/debug/pprof/heap");
    CHECK(heap.status == 404);
    CHECK(sp.stop() == 0);
}
