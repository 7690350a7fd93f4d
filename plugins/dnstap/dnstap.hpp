#pragma once
// dnstap: CoreDNS 1.12 plugin/dnstap. Every client query and response (and,
// through core/tap.hpp, every upstream exchange of forward) becomes a dnstap
// protobuf payload, encoded by the worker into its own bounded ring; one
// background thread per plugin instance writes the rings to the Frame
// Streams socket (libfstrm's writer over our own unix/tcp/tls transport),
// reconnects, and counts and logs what it had to drop. A worker never waits.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/plugin.hpp"
#include "core/tap.hpp"
#include "core/worker_local.hpp"
#include "plugins/dnstap/encode.hpp"
#include "core/spsc_ring.hpp"

namespace dnscore::corefile {
struct SetupContext;
}
namespace dnscore::parser {
class Dispenser;
}

namespace dnscore::plugins::dnstap {

struct Config {
    std::string endpoint;      // socket path, or "host:port" for tcp/tls
    std::string proto;         // "unix", "tcp", "tls"
    bool full = false;         // include the wire messages
    std::string identity;      // default: the hostname
    std::string version;       // default: "dnscore-VERSION"
    std::string extra;         // as written (no replacement: no metadata plugin)
    bool skip_verify = false;  // tls: do not verify the certificate
    int multiple_tcp_write_buf = 1;  // × 1 MiB socket send buffer (tcp)
    int multiple_queue = 1;          // × 1 MiB ring per worker
};

// Parses every `dnstap` line of a block (CoreDNS parseConfig). Throws
// ConfigError with CoreDNS's texts.
std::vector<Config> parse_dnstap(parser::Dispenser& d);

constexpr size_t kRingUnit = 1 << 20;    // bytes per `queue` unit, per worker
constexpr int kMaxMultipleQueue = 64;    // bound on the per-worker ring (64 MiB)

class Writer;  // the background thread and its connection (dnstap.cpp)

class Dnstap final : public Plugin, public ForwarderTap {
public:
    explicit Dnstap(Config cfg);
    ~Dnstap() override;
    std::string_view name() const override { return "dnstap"; }
    Step query(Query& q) override;
    void response(Query& q) override;
    void sent(Query& q, const uint8_t* msg, size_t len) override;
    void tap_forwarder(const Query& q, const sockaddr* upstream, bool tcp, const timespec& start,
                       const uint8_t* reply, size_t reply_len) override;

    const Config& config() const { return cfg_; }

    // Lifecycle (control thread): connect (logging CoreDNS's line when that
    // fails) and start the writer thread; stop it, flushing what is queued.
    void start();
    void stop();

    // Messages dropped by this instance so far (ring full, sink absent or
    // failing); the metric sums every instance.
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    friend class Writer;
    // Worker thread: encodes m into the worker's ring, or counts a drop.
    void push(int worker, const TapMessage& m);
    void count_drop(int worker, uint64_t n);

    Config cfg_;
    std::string head_;  // encoded identity/version/extra
    size_t ring_bytes_;
    WorkerLocal<SpscRing> rings_;
    std::atomic<uint64_t> dropped_{0};
    std::atomic<bool> writer_sleeping_{false};
    int wake_fd_ = -1;  // eventfd: a worker wakes the sleeping writer
    std::unique_ptr<Writer> writer_;
};

}  // namespace dnscore::plugins::dnstap

namespace dnscore::plugins {
void setup_dnstap(corefile::SetupContext& c);
}
