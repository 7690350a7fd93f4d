#pragma once
// loadbalance: reorders the records of a reply on its way out (CoreDNS
// plugin/loadbalance): `round_robin` shuffles A/AAAA and MX records after the
// CNAMEs and the other records of each section; `weighted` moves one address,
// picked by the weights file, to the top of the address records.
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/control_ticker.hpp"
#include "core/plugin.hpp"
#include "core/worker_snapshot.hpp"

namespace dnscore {
class Host;
}

namespace dnscore::plugins::loadbalance {

using Ip16 = std::array<uint8_t, 16>;  // IPv6, or IPv4 as ::ffff:a.b.c.d

// A per-thread xorshift generator: a worker's replies never share state
// with another worker's.
uint64_t fast_random();

// The parsed weights file: owner name (wire, as written, case kept: CoreDNS
// looks the record's name up as is) -> (address, weight) in file order.
struct Weights {
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::vector<std::pair<Ip16, uint8_t>>, Hash, std::equal_to<>> domains;
    // Weight of `ip` for owner `name` (uncompressed wire); 1 when not listed.
    unsigned weight(const uint8_t* name, size_t nlen, const Ip16& ip) const;
};

// weightedRR.parseWeights; throws std::runtime_error with CoreDNS's text.
Weights parse_weights(std::string_view text, const std::string& file);

enum class Policy { round_robin, weighted };

// Reorders the reply msg[0..len) in place (cap: buffer size): returns the
// new length, or len when nothing changed or it could not be rewritten.
// `weights` only for Policy::weighted. `rnd` yields random 64-bit values.
size_t shuffle_reply(uint8_t* msg, size_t len, size_t cap, Policy policy, const Weights* weights,
                     uint64_t (*rnd)() = fast_random);

class LoadBalance final : public Plugin {
public:
    LoadBalance();  // round_robin
    LoadBalance(std::string weight_file, std::chrono::nanoseconds reload);
    ~LoadBalance() override;
    std::string_view name() const override { return "loadbalance"; }
    Step query(Query&) override { return Step::next; }
    void response(Query& q) override;

    Policy policy() const { return policy_; }
    const std::string& weight_file() const { return file_; }
    std::chrono::nanoseconds reload() const { return reload_; }

    // weightedRR.updateWeights: reads the file; when its content changed,
    // parses and publishes it (host nullptr: worker 0 directly, tests) and
    // logs "Successfully reloaded weight file". Control thread. Returns ""
    // or the error text (open errors: "weight file open error").
    std::string update_weights(Host* host);
    // Startup: first read (an open error with reload on is a warning), then
    // every reload period; shutdown stops it.
    void start(Host& host);
    void stop();
    std::shared_ptr<const Weights> weights() const { return snapshot_->latest(); }

private:
    Policy policy_;
    std::string file_;
    std::chrono::nanoseconds reload_{0};
    std::string last_content_;
    bool have_content_ = false;
    std::shared_ptr<WorkerSnapshot<Weights>> snapshot_;
    std::shared_ptr<ControlTicker> ticker_ = std::make_shared<ControlTicker>();  // weights reload
};

}  // namespace dnscore::plugins::loadbalance
