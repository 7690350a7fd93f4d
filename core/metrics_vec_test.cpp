// The counting mechanism: per-worker series summed at scrape time, rendered
// like client_golang, bounded label sets with a counted overflow.
#include "core/metrics_vec.hpp"

#include <string>
#include <thread>
#include <vector>

#include "core/chain.hpp"
#include "core/config.hpp"
#include "core/dns_metrics.hpp"
#include "core/query.hpp"
#include "core/metrics.hpp"
#include "plugins/cache/cache.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using namespace dnscore::metrics;

namespace {
std::string render(std::initializer_list<const Metric*> ms) {
    std::vector<Family> out;
    for (const Metric* m : ms) m->collect(out);
    return render_text(merge_families(std::move(out)));
}
bool has(const std::string& text, const std::string& s) { return text.find(s) != std::string::npos; }
}  // namespace

TEST_CASE("counters sum workers; zero series are absent, label-less ones present", "[metrics_vec]") {
    LabelSet zone{{"zone"}, 4};
    LabelSet proto{{"proto"}, 2, {"udp", "tcp"}};
    CounterVec c{"t_requests_total", "Requests.", {{"view", ""}}, {&zone, &proto}};
    CounterVec plain{"t_plain_total", "Plain."};
    CHECK(render({&c, &plain}) == "# HELP t_plain_total Plain.\n# TYPE t_plain_total counter\nt_plain_total 0\n");

    const int a = zone.intern({"a."});
    const int b = zone.intern({"b."});
    CHECK(zone.intern({"a."}) == a);
    CHECK(zone.find({"b."}) == b);
    CHECK(zone.find({"c."}) == kOverflow);
    c.inc(0, {a, 0});
    c.inc(1, {a, 0}, 2);
    c.inc(3, {b, 1});
    c.inc_any({b, 1}, 10);
    c.inc(0, {b, 0}, 0);  // zero: still not rendered
    plain.inc(kMaxWorkers + 5);  // not a worker index: counted as shared
    CHECK(c.value({a, 0}) == 3);
    CHECK(c.value({b, 1}) == 11);
    CHECK(render({&c, &plain}) ==
          "# HELP t_plain_total Plain.\n# TYPE t_plain_total counter\nt_plain_total 1\n"
          "# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n"
          "t_requests_total{proto=\"tcp\",view=\"\",zone=\"b.\"} 11\n"
          "t_requests_total{proto=\"udp\",view=\"\",zone=\"a.\"} 3\n");
}

TEST_CASE("a family of fixed dimensions renders every series from the start", "[metrics_vec]") {
    LabelSet type{{"errortype"}, 0, {"configmap", "iptables"}};
    CounterVec c{"t_fixed_total", "Fixed.", {}, {&type}};
    c.inc_any({1});
    CHECK(render({&c}) == "# HELP t_fixed_total Fixed.\n# TYPE t_fixed_total counter\n"
                          "t_fixed_total{errortype=\"configmap\"} 0\nt_fixed_total{errortype=\"iptables\"} 1\n");
}

TEST_CASE("histograms bucket per worker and render cumulative", "[metrics_vec]") {
    LabelSet server{{"server"}, 2};
    HistogramVec h{"t_seconds", "Time.", {}, {&server}, {0.125, 1}};
    const int s = server.intern({"dns://:53"});
    h.observe(0, {s}, 0.0625);
    h.observe(1, {s}, 0.125);  // le is inclusive
    h.observe(1, {s}, 4);
    h.observe_any({s}, 0.5);
    CHECK(h.count({s}) == 4);
    CHECK(render({&h}) ==
          "# HELP t_seconds Time.\n# TYPE t_seconds histogram\n"
          "t_seconds_bucket{server=\"dns://:53\",le=\"0.125\"} 2\n"
          "t_seconds_bucket{server=\"dns://:53\",le=\"1\"} 3\n"
          "t_seconds_bucket{server=\"dns://:53\",le=\"+Inf\"} 4\n"
          "t_seconds_sum{server=\"dns://:53\"} 4.6875\n"
          "t_seconds_count{server=\"dns://:53\"} 4\n");
    CHECK(HistogramVec::exponential(0.00025, 2, 16).back() == 8.192);
}

TEST_CASE("past the bound samples are dropped and counted, never mixed", "[metrics_vec]") {
    LabelSet to{{"to"}, 2};
    LabelSet rcode{{"rcode"}, 2, {"NOERROR", "SERVFAIL"}};
    CounterVec c{"t_bound_total", "Bounded.", {}, {&to, &rcode}};
    const int x = to.intern({"x"});
    const int y = to.intern({"y"});
    CHECK(to.size() == 2);
    const int z = to.intern({"z"});  // full
    CHECK(z == kOverflow);
    CHECK(to.intern({"z"}) == kOverflow);
    CHECK(to.size() == 2);
    c.inc(0, {x, 0});
    c.inc(0, {y, 1});
    c.inc(0, {z, 0}, 5);  // the third label tuple: dropped
    c.inc(0, {x, 2});     // an index past a fixed set: dropped
    c.inc(0, {x});        // wrong arity: dropped
    CHECK(c.value({x, 0}) == 1);
    CHECK(c.value({y, 1}) == 1);
    CHECK(c.overflows() == 3);
    const auto text = render({&c});
    CHECK(has(text, "t_bound_total{rcode=\"NOERROR\",to=\"x\"} 1\n"));
    CHECK(has(text, "t_bound_total{rcode=\"SERVFAIL\",to=\"y\"} 1\n"));
    CHECK(!has(text, "to=\"z\""));
    CHECK(has(text, "# TYPE dnscore_metrics_overflow_total counter\n"
                    "dnscore_metrics_overflow_total{family=\"t_bound_total\"} 3\n"));
}

TEST_CASE("gauges render once set; gauge funcs at scrape time", "[metrics_vec]") {
    LabelSet names{{"server", "name"}, 8};
    GaugeVec g{"t_enabled", "Enabled.", {{"view", ""}}, {&names}};
    GaugeVec ts{"t_timestamp_seconds", "Timestamp."};
    names.intern({"dns://:53", "cache"});  // interned, never set: absent
    g.set({names.intern({"dns://:53", "whoami"})}, 1);
    int calls = 0;
    GaugeFunc f{"t_entries", "Entries.", {{"zones", "."}}, {"type"}, [&](const GaugeFunc::Emit& emit) {
                    ++calls;
                    emit({"success"}, 7);
                }};
    CHECK(render({&g, &ts, &f}) ==
          "# HELP t_enabled Enabled.\n# TYPE t_enabled gauge\n"
          "t_enabled{name=\"whoami\",server=\"dns://:53\",view=\"\"} 1\n"
          "# HELP t_entries Entries.\n# TYPE t_entries gauge\n"
          "t_entries{type=\"success\",zones=\".\"} 7\n"
          "# HELP t_timestamp_seconds Timestamp.\n# TYPE t_timestamp_seconds gauge\n"
          "t_timestamp_seconds 0\n");
    CHECK(calls == 1);
    ts.set(1.7e9);
    CHECK(ts.value() == 1.7e9);
}

TEST_CASE("workers count concurrently with a scrape", "[metrics_vec]") {
    LabelSet k{{"k"}, 4, {"a", "b", "c", "d"}};
    CounterVec c{"t_conc_total", "Concurrent.", {}, {&k}};
    std::vector<std::thread> ts;
    for (int w = 0; w < 4; ++w)
        ts.emplace_back([&, w] {
            for (int i = 0; i < 100000; ++i) c.inc(w, {i % 4});
            for (int i = 0; i < 1000; ++i) c.inc_any({w});
        });
    for (int i = 0; i < 20; ++i) render({&c});
    for (auto& t : ts) t.join();
    for (int i = 0; i < 4; ++i) CHECK(c.value({i}) == 100000 + 1000);
}

TEST_CASE("core DNS metrics: each rcode above 23 is its own series", "[metrics_vec]") {
    testing::Bytes req = testing::make_query("vec.example.", "A");
    Query q;
    q.req = req.data();
    q.req_len = req.size();
    REQUIRE(wire::parse_query(q.req, q.req_len, q.info) == wire::Verdict::ok);
    const int slot = metrics::dns::slot("dns://:vec", "vec.example.");
    REQUIRE(slot >= 0);
    CHECK(metrics::dns::slot("dns://:vec", "vec.example.") == slot);
    metrics::dns::report(0, slot, q, 3841, "vecplugin", 40, 0.001);
    metrics::dns::report(1, slot, q, 3842, "vecplugin", 40, 0.001);
    metrics::dns::report(1, slot, q, 3841, "vecplugin", 40, 0.001);
    const std::string text = Registry::global().render_text();
    const std::string labels = ",server=\"dns://:vec\",view=\"\",zone=\"vec.example.\"} ";
    CHECK(has(text, "coredns_dns_responses_total{plugin=\"vecplugin\",rcode=\"RCODE3841\"" + labels + "2\n"));
    CHECK(has(text, "coredns_dns_responses_total{plugin=\"vecplugin\",rcode=\"RCODE3842\"" + labels + "1\n"));
    CHECK(has(text, "coredns_dns_request_duration_seconds_count{server=\"dns://:vec\",view=\"\",zone=\"vec.example.\"} 3\n"));
}

namespace {
// Answers every query with one A record, so the cache stores and then hits.
class Answer final : public Plugin {
public:
    std::string_view name() const override { return "forward"; }
    Step query(Query& q) override {
        const testing::Bytes req(q.req, q.req + q.req_len);
        const testing::Bytes r = testing::make_reply(req, 0, {"example.org. 300 IN A 192.0.2.1"});
        q.write_reply(r.data(), r.size(), name());
        return Step::done;
    }
};
class NullSink final : public ReplySink {
public:
    void send_reply(const uint8_t*, size_t, const Query&) override {}
};
}  // namespace

TEST_CASE("cache keeps a distinct series for each of more than 8 servers", "[metrics_vec]") {
    using namespace dnscore::plugins::cache;
    Config cfg;
    auto stores = std::make_shared<Stores>(cfg.pcap, cfg.ncap);
    auto cache = std::make_shared<Cache>(std::move(cfg), stores);
    cache->register_metrics();
    auto answer = std::make_shared<Answer>();
    Block block;
    block.plugins = {cache, answer};
    block.chain = {cache.get(), answer.get()};
    constexpr int kServers = 12;  // the old per-worker table had 8 slots
    std::vector<Site> sites(kServers);
    NullSink sink;
    for (int i = 0; i < kServers; ++i) {
        sites[size_t(i)].block = &block;
        sites[size_t(i)].zone = ".";
        sites[size_t(i)].zone_wire[0] = 0;
        sites[size_t(i)].zone_wire_len = 1;
        sites[size_t(i)].server = "dns://:" + std::to_string(1000 + i);
        // Server i asks i + 1 times (the first a miss, then hits).
        for (int n = 0; n <= i; ++n) {
            testing::Bytes req = testing::make_query("example.org.", "A");
            std::vector<uint8_t> resp(wire::kMaxMessage);
            Query q;
            q.req = req.data();
            q.req_len = req.size();
            REQUIRE(wire::parse_query(q.req, q.req_len, q.info) == wire::Verdict::ok);
            q.resp = resp.data();
            q.resp_cap = resp.size();
            q.site = &sites[size_t(i)];
            q.sink = &sink;
            run_chain(q);
        }
    }
    const std::string text = Registry::global().render_text();
    for (int i = 0; i < kServers; ++i) {
        const std::string server = "server=\"dns://:" + std::to_string(1000 + i) + "\"";
        INFO(server);
        CHECK(has(text, "coredns_cache_requests_total{" + server + ",view=\"\",zones=\".\"} " +
                            std::to_string(i + 1) + "\n"));
        CHECK(has(text, "coredns_cache_entries{" + server + ",type=\"success\",view=\"\",zones=\".\"} 1\n"));
    }
    CHECK(has(text, "coredns_cache_hits_total{server=\"dns://:1011\",type=\"success\",view=\"\",zones=\".\"} 12\n"));
    CHECK(cache->totals().requests == kServers * (kServers + 1) / 2);
    CHECK(!has(text, "dnscore_metrics_overflow_total"));
}
