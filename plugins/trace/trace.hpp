#pragma once
// trace: CoreDNS 1.12 plugin/trace with the Zipkin reporter. One query in
// `every` gets a "servedns" span (kind SERVER) with CoreDNS's tags; the
// worker writes a compact record into its own bounded ring, and a
// background thread turns records into Zipkin v2 JSON and POSTs them in
// batches (zipkin-go's HTTP reporter: batch size, interval, backlog).
// Workers never wait on the collector.
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/plugin.hpp"
#include "core/spsc_ring.hpp"
#include "core/worker_local.hpp"

namespace dnscore::corefile {
struct SetupContext;
}
namespace dnscore::parser {
class Dispenser;
}

namespace dnscore::plugins::trace {

struct Config {
    std::string endpoint_type = "zipkin";
    std::string endpoint;            // URL spans are POSTed to
    uint64_t every = 1;              // trace one query in `every` (0: none)
    std::string service_name = "coredns";
    bool client_server = false;      // zipkin shared spans (no effect without a propagated parent)
    double datadog_analytics_rate = 0;
    int max_backlog = 0;             // 0 = zipkin-go's default (1000)
    int max_batch_size = 0;          // 0 = 100
    std::chrono::nanoseconds max_batch_interval{0};  // 0 = 1s
    // Zipkin localEndpoint: the block's first bind address and its port
    // (CoreDNS: ListenHosts[0] + ":" + Port, only when bind is used).
    std::string local_host, local_port;
};

// CoreDNS traceParse, plus dnscore's refusals (datadog, https). Throws with
// CoreDNS's texts.
Config parse_trace(parser::Dispenser& d);

constexpr size_t kRingBytes = 1 << 20;  // per worker

class Reporter;  // the background thread (trace.cpp)

class Trace final : public Plugin {
public:
    explicit Trace(Config cfg);
    ~Trace() override;
    std::string_view name() const override { return "trace"; }
    Step query(Query& q) override;
    void response(Query& q) override;
    const Config& config() const { return cfg_; }

    void start();
    void stop();
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    friend class Reporter;
    void count_drop(int worker, uint64_t n);

    struct alignas(64) PerWorker {
        uint64_t count = 0;  // queries seen (sampling)
        uint64_t rng = 0;    // xorshift state for span IDs
    };
    Config cfg_;
    std::array<PerWorker, kMaxWorkers> workers_{};
    WorkerLocal<SpscRing> rings_;
    std::atomic<uint64_t> dropped_{0};
    std::unique_ptr<Reporter> reporter_;
};

}  // namespace dnscore::plugins::trace

namespace dnscore::plugins {
void setup_trace(corefile::SetupContext& c);
}
