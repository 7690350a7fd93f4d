#pragma once
// reload: polls the Corefile and reloads the server when its parsed content
// changes (CoreDNS plugin/reload, spec C.3). Not in the query path: the
// watcher is one process-wide timer on the control thread; the last `reload`
// set up wins.
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "corefile/loader.hpp"
#include "parser/gostd.hpp"

namespace dnscore {
class Host;
}

namespace dnscore::plugins::reload {

using gostd::Duration;

constexpr Duration kDefaultInterval = std::chrono::seconds(30);
constexpr Duration kDefaultJitter = std::chrono::seconds(15);
constexpr Duration kMinInterval = std::chrono::seconds(2);
constexpr Duration kMinJitter = std::chrono::seconds(1);

struct Settings {
    Duration interval = kDefaultInterval;  // as configured
    Duration jitter = kDefaultJitter;      // after capping to interval/2
    Duration period = kDefaultInterval;    // interval + uniform [-jitter/2, +jitter/2)
};

// `reload [INTERVAL [JITTER]]` arguments (CoreDNS 1.12 checks and texts);
// the random period is drawn here, once per setup.
Settings parse_settings(const std::vector<std::string>& args);

// Lower-case hex SHA-512 (OpenSSL EVP).
std::string sha512_hex(std::string_view data);

// The checksum CoreDNS logs and compares: the Corefile parsed (imports
// followed, env expanded, directive names not validated) and serialised
// canonically, then SHA-512. Comment and whitespace edits leave it unchanged.
// Throws parser::ConfigError when the text does not parse.
std::string corefile_checksum(std::string_view text, const std::string& file);

// "[ERROR] plugin/reload: Corefile changed but reload failed: WHY", the
// line CoreDNS's reload plugin prints when a detected change does not load
// (also what node-cache's own config-change reload prints).
void log_reload_failed(std::string_view why);

// The process-wide watcher. Everything runs on the control thread except the
// counters read by metrics scrapes.
class Watcher {
public:
    static Watcher& global();

    // Control thread (on_startup of a configuration with `reload`): take the
    // checksum of the running source, log "Running configuration SHA512 = X",
    // and poll every `period`. Replaces a running watcher.
    void start(Host& host, Duration period);
    // Control thread (on_shutdown): stop polling. The checksum is kept.
    void stop();
    bool active() const { return active_; }
    Duration period() const { return period_; }

    enum class Tick { unreadable, parse_failed, unchanged, reloaded, failed };
    // One poll, what the timer runs: re-read the Corefile, compare checksums,
    // reload on change. A changed checksum is adopted before the reload, so
    // content that failed is not retried until the file changes again.
    Tick tick(Host& host);

    // Runtime's SIGUSR1 observer: keep the checksum in step with what the
    // signal tried (a failed SIGUSR1 reload counts once, as the next poll
    // would have, and that content is not retried).
    void observe(const corefile::CorefileSource& tried, bool ok);

    uint64_t failed_total() const { return failed_.load(std::memory_order_relaxed); }
    // Hex of coredns_reload_version_info's `value` ("" = family absent).
    std::string version() const;
    // Checksum the watcher compares against.
    std::string hash() const;

private:
    Watcher() = default;
    void arm(uint64_t gen);
    void set_version(const std::string& hex);

    Host* host_ = nullptr;
    std::unique_ptr<boost::asio::steady_timer> timer_;
    std::chrono::steady_clock::time_point next_{};
    Duration period_{kDefaultInterval};
    uint64_t gen_ = 0;
    bool active_ = false;
    bool had_hash_ = false;
    bool observer_set_ = false;
    std::string hash_;
    mutable std::mutex mu_;  // version_ (read by scrapes)
    std::string version_;
    std::atomic<uint64_t> failed_{0};
};

}  // namespace dnscore::plugins::reload
