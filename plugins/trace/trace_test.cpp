// trace: setup as CoreDNS 1.12's setup_test.go (datadog refused), and spans
// reported to a loopback Zipkin collector: JSON fields, tags, sampling,
// batching, and a collector that is down.
#include "plugins/trace/trace.hpp"

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "plugins/trace/metrics.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/http_collector.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/stdout_capture.hpp"

using namespace dnscore;
using namespace dnscore::plugins::trace;
namespace json = boost::json;

namespace {

Config parse(const std::string& body) {
    auto d = testing::dispenser("trace", body + "\n");
    return parse_trace(d);
}

bool wait_for(const std::function<bool()>& cond, int ms = 5000) {
    for (int i = 0; i < ms / 10; ++i) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
}

std::vector<json::object> spans_of(testing::HttpCollector& c) {
    std::vector<json::object> out;
    for (const auto& r : c.requests())
        {
            const json::value v = json::parse(r.body);
            for (const auto& s : v.as_array()) out.push_back(s.as_object());
        }
    return out;
}

std::string str(const json::value& v) { return std::string(v.as_string()); }

}  // namespace

TEST_CASE("trace setup: CoreDNS setup_test.go cases", "[trace][setup]") {
    struct Ok {
        std::string in, endpoint;
        uint64_t every;
        std::string service;
        bool client_server;
        int backlog, batch;
        std::chrono::nanoseconds interval;
    };
    const std::vector<Ok> oks = {
        {"trace", "http://localhost:9411/api/v2/spans", 1, "coredns", false, 0, 0, {}},
        {"trace localhost:1234", "http://localhost:1234/api/v2/spans", 1, "coredns", false, 0, 0, {}},
        {"trace http://localhost:1234/somewhere/else", "http://localhost:1234/somewhere/else", 1, "coredns", false, 0,
         0, {}},
        {"trace zipkin localhost:1234", "http://localhost:1234/api/v2/spans", 1, "coredns", false, 0, 0, {}},
        {"trace {\n every 100\n}", "http://localhost:9411/api/v2/spans", 100, "coredns", false, 0, 0, {}},
        {"trace {\n every 100\n service foobar\nclient_server\n}", "http://localhost:9411/api/v2/spans", 100, "foobar",
         true, 0, 0, {}},
        {"trace {\n every 2\n client_server true\n}", "http://localhost:9411/api/v2/spans", 2, "coredns", true, 0, 0, {}},
        {"trace {\n client_server false\n}", "http://localhost:9411/api/v2/spans", 1, "coredns", false, 0, 0, {}},
        {"trace {\n zipkin_max_backlog_size 100\n zipkin_max_batch_size 200\n zipkin_max_batch_interval 10s\n}",
         "http://localhost:9411/api/v2/spans", 1, "coredns", false, 100, 200, std::chrono::seconds(10)},
    };
    for (const auto& t : oks) {
        INFO(t.in);
        const Config c = parse(t.in);
        CHECK(c.endpoint == t.endpoint);
        CHECK(c.every == t.every);
        CHECK(c.service_name == t.service);
        CHECK(c.client_server == t.client_server);
        CHECK(c.max_backlog == t.backlog);
        CHECK(c.max_batch_size == t.batch);
        CHECK(c.max_batch_interval == t.interval);
    }
    const std::vector<std::pair<std::string, std::string>> fails = {
        {"trace footype localhost:4321", "plugin/trace: tracing endpoint type 'footype' is not supported"},
        {"trace {\n every 2\n client_server junk\n}", "plugin/trace: strconv.ParseBool: parsing \"junk\": invalid syntax"},
        {"trace {\n zipkin_max_backlog_size wrong\n}", "plugin/trace: strconv.Atoi: parsing \"wrong\": invalid syntax"},
        {"trace {\n zipkin_max_batch_size wrong\n}", "plugin/trace: strconv.Atoi: parsing \"wrong\": invalid syntax"},
        {"trace {\n zipkin_max_batch_interval wrong\n}", "plugin/trace: time: invalid duration \"wrong\""},
        {"trace {\n zipkin_max_backlog_size\n}",
         "plugin/trace: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after "
         "'zipkin_max_backlog_size'"},
        {"trace {\n zipkin_max_batch_size\n}",
         "plugin/trace: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after "
         "'zipkin_max_batch_size'"},
        {"trace {\n zipkin_max_batch_interval\n}",
         "plugin/trace: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after "
         "'zipkin_max_batch_interval'"},
        {"trace {\n every x\n}", "plugin/trace: strconv.ParseUint: parsing \"x\": invalid syntax"},
        {"trace a b c", "plugin/trace: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'c'"},
        {"trace zipkin localhost {\n datadog_analytics_rate 2\n}",
         "plugin/trace: datadog analytics rate must be between 0 and 1, '2.000000' is not supported"},
        // dnscore refuses what it cannot send to.
        {"trace datadog localhost",
         "plugin/trace: tracing endpoint type 'datadog' is not supported by dnscore (no Datadog agent client); use "
         "zipkin"},
        {"trace https://collector:9411/api/v2/spans",
         "plugin/trace: zipkin endpoint 'https://collector:9411/api/v2/spans' is not supported by dnscore: only "
         "http:// URLs (no https)"},
    };
    for (const auto& [in, want] : fails) {
        INFO(in);
        CHECK(testing::load_error(".:1053 {\n" + in + "\n}\n") == want);
    }
}

TEST_CASE("trace: spans reach a Zipkin collector with CoreDNS's name, kind and tags", "[trace][live]") {
    testing::HttpCollector collector;
    testing::ChainHarness h(".:1053 {\nbind 127.0.0.1\ntrace " + collector.addr() +
                            " {\n service DNSproxy\n zipkin_max_batch_interval 100ms\n}\nwhoami\n}\n");
    auto tr = testing::find_plugin<Trace>(*h.set());
    REQUIRE(tr);
    tr->start();
    testing::TestQuery udp("Example.ORG.", "AAAA");
    udp.client("192.0.2.1", 4000);
    h.run(udp);
    testing::TestQuery tcp("example.net.", "TXT");
    tcp.tcp(true).client("2001:db8::7", 4001);
    h.run(tcp);
    REQUIRE(wait_for([&] { return spans_of(collector).size() == 2; }));
    tr->stop();
    const auto reqs = collector.requests();
    CHECK(reqs[0].method == "POST");
    CHECK(reqs[0].path == "/api/v2/spans");
    CHECK(reqs[0].headers.at("content-type") == "application/json");
    CHECK(reqs[0].headers.at("b3") == "0");
    auto spans = spans_of(collector);
    const json::object& s = spans[0];
    CHECK(str(s.at("name")) == "servedns");
    CHECK(str(s.at("kind")) == "SERVER");
    CHECK(str(s.at("traceId")).size() == 16);
    CHECK(str(s.at("id")) == str(s.at("traceId")));  // a root span
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    CHECK(s.at("timestamp").to_number<int64_t>() <= now_us);
    CHECK(s.at("timestamp").to_number<int64_t>() > now_us - 60'000'000);
    CHECK(s.at("duration").to_number<int64_t>() >= 1);
    const json::object& le = s.at("localEndpoint").as_object();
    CHECK(str(le.at("serviceName")) == "dnsproxy");  // lower-cased, as zipkin-go
    CHECK(str(le.at("ipv4")) == "127.0.0.1");
    CHECK(le.at("port").to_number<int>() == 1053);
    const json::object& tags = s.at("tags").as_object();
    CHECK(str(tags.at("coredns.io/name")) == "example.org.");
    CHECK(str(tags.at("coredns.io/type")) == "AAAA");
    CHECK(str(tags.at("coredns.io/proto")) == "udp");
    CHECK(str(tags.at("coredns.io/remote")) == "192.0.2.1");
    CHECK(str(tags.at("coredns.io/rcode")) == "NOERROR");
    CHECK(tags.size() == 5);
    const json::object& t2 = spans[1].at("tags").as_object();
    CHECK(str(t2.at("coredns.io/proto")) == "tcp");
    CHECK(str(t2.at("coredns.io/remote")) == "2001:db8::7");
    CHECK(str(t2.at("coredns.io/type")) == "TXT");
    CHECK(str(spans[1].at("traceId")) != str(s.at("traceId")));
}

TEST_CASE("trace: every N samples one query in N", "[trace][live]") {
    testing::HttpCollector collector;
    testing::ChainHarness h(".:1053 {\ntrace " + collector.addr() +
                            " {\n every 3\n zipkin_max_batch_interval 50ms\n}\nwhoami\n}\n");
    auto tr = testing::find_plugin<Trace>(*h.set());
    tr->start();
    for (int i = 0; i < 9; ++i) h.run(testing::TestQuery("q" + std::to_string(i) + ".example.", "A"));
    REQUIRE(wait_for([&] { return spans_of(collector).size() >= 3; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    tr->stop();
    auto spans = spans_of(collector);
    REQUIRE(spans.size() == 3);
    CHECK(str(spans[0].at("tags").as_object().at("coredns.io/name")) == "q2.example.");
    CHECK(str(spans[1].at("tags").as_object().at("coredns.io/name")) == "q5.example.");
    CHECK(str(spans[2].at("tags").as_object().at("coredns.io/name")) == "q8.example.");
    // No bind: the local endpoint is the service name alone.
    CHECK(spans[0].at("localEndpoint").as_object().size() == 1);
}

TEST_CASE("trace: a batch is sent at the batch size, before the interval", "[trace][live]") {
    testing::HttpCollector collector;
    testing::ChainHarness h(".:1053 {\ntrace " + collector.addr() +
                            " {\n zipkin_max_batch_size 4\n zipkin_max_batch_interval 1h\n}\nwhoami\n}\n");
    auto tr = testing::find_plugin<Trace>(*h.set());
    tr->start();
    for (int i = 0; i < 4; ++i) h.run(testing::TestQuery("b" + std::to_string(i) + ".example.", "A"));
    REQUIRE(wait_for([&] { return collector.count() == 1; }, 3000));
    CHECK(spans_of(collector).size() == 4);
    tr->stop();
}

TEST_CASE("trace: a collector that is down is logged as zipkin-go does; the backlog is bounded", "[trace][live]") {
    const uint16_t port = [] {
        testing::HttpCollector c;  // bound then closed: nothing listens there afterwards
        return c.port();
    }();
    testing::ChainHarness h(".:1053 {\ntrace 127.0.0.1:" + std::to_string(port) +
                            " {\n zipkin_max_backlog_size 3\n zipkin_max_batch_size 100\n zipkin_max_batch_interval "
                            "100ms\n}\nwhoami\n}\n");
    auto tr = testing::find_plugin<Trace>(*h.set());
    const uint64_t before = plugins::trace::metrics::dropped().value();
    std::string log;
    {
        testing::StdoutCapture out;
        tr->start();
        for (int i = 0; i < 5; ++i) h.run(testing::TestQuery("x.example.", "A"));
        REQUIRE(wait_for([&] { return tr->dropped() == 2; }));
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        tr->stop();
        log = out.text();
    }
    CHECK(log.find("[WARNING] plugin/trace: backlog too long, disposing 2 spans\n") != std::string::npos);
    CHECK(log.find("[WARNING] plugin/trace: failed to send the request: Post \"http://127.0.0.1:" +
                   std::to_string(port) + "/api/v2/spans\": dial tcp 127.0.0.1:" + std::to_string(port) +
                   ": connect: connection refused\n") != std::string::npos);
    CHECK(plugins::trace::metrics::dropped().value() - before == 2);
}
