#pragma once
// loop: detects a forwarding loop back to this server (CoreDNS plugin/loop,
// spec C.4). At startup a HINFO probe for a random name under the block's
// zone is sent to the block's own listen address; if that query comes back
// through the server more than twice, the process exits with status 1.
// Queries other than HINFO cost one compare; after the first successful
// probe exchange the plugin is disabled for good.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/plugin.hpp"
#include "core/wire/wire.hpp"

namespace dnscore::plugins {

class Loop final : public Plugin {
public:
    // `zone` is normalised ("example.org.", "."); `probe` is the lower-case
    // probe name (N1.N2.ZONE).
    Loop(std::string zone, std::string probe);
    std::string_view name() const override { return "loop"; }
    Step query(Query& q) override;

    const std::string& zone() const { return zone_; }
    const std::string& probe_name() const { return probe_; }
    bool disabled() const { return off_.load(std::memory_order_relaxed); }
    void disable() { off_.store(true, std::memory_order_relaxed); }
    int seen() const { return seen_.load(std::memory_order_relaxed); }
    void reset() { seen_.store(0, std::memory_order_relaxed); }

    // The FATAL message for a query (without "[FATAL] plugin/loop: ").
    std::string fatal_message(const Query& q) const;
    // What detection does: default logs FATAL and exits the process with
    // status 1 (Runtime::fatal_exit). Tests replace it.
    std::function<void(const Query& q, const std::string& message)> on_loop;

private:
    std::string zone_;
    std::string probe_;
    uint8_t probe_wire_[wire::kMaxNameLen];
    size_t probe_len_ = 0;
    std::atomic<bool> off_{false};
    std::atomic<int> seen_{0};
    std::atomic<bool> fired_{false};
};

// "N1.N2.ZONE" with N1, N2 random in [0, 2^62).
std::string loop_probe_name(const std::string& zone);

// The startup probe: HINFO PROBE over UDP to host:port on `io` (the control
// thread), each exchange waiting up to `timeout`; after a failed exchange the
// plugin's counter is reset and the probe retried `retry` later, until
// `deadline` from start. The first reply, or the deadline, disables the
// plugin. cancel() stops it (a reload replaced the configuration).
class LoopProbe : public std::enable_shared_from_this<LoopProbe> {
public:
    struct Timing {
        std::chrono::milliseconds timeout{2000};
        std::chrono::milliseconds retry{1000};
        std::chrono::milliseconds deadline{30000};
    };
    LoopProbe(boost::asio::io_context& io, std::shared_ptr<Loop> loop, std::string host,
              uint16_t port, Timing t);
    ~LoopProbe();
    void start();
    void cancel();
    int attempts() const { return attempts_; }
    bool finished() const { return finished_; }

private:
    void attempt();
    void failed();
    void finish();
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::shared_ptr<Loop> loop_;
    int attempts_ = 0;
    bool finished_ = false;
};

}  // namespace dnscore::plugins
