#pragma once
// forward: sends queries to upstream resolvers (CoreDNS 1.12 plugin/forward
// with plugin/pkg/proxy). This header is Asio-free: it holds the parsed
// configuration and the pure helpers (address and resolv.conf parsing, upstream
// ordering) that the tests exercise directly; the exchange machinery lives in
// forward.cpp / transport.cpp.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/plugin.hpp"
#include "core/zones.hpp"

namespace dnscore {
class Host;
class ForwarderTap;
}
namespace dnscore::parser {
class Dispenser;
}
namespace dnscore::corefile {
struct SetupContext;
}

namespace dnscore::plugins::forward {

constexpr size_t kMaxUpstreams = 15;  // CoreDNS `max`
constexpr auto kDeadline = std::chrono::seconds(5);          // overall budget per query
constexpr auto kReadTimeout = std::chrono::seconds(2);       // per try
constexpr auto kHealthTimeout = std::chrono::seconds(1);     // health probe read/write

enum class Policy : uint8_t { random, round_robin, sequential };

// One TO after parsing: the address dialled and the `to` label ("IP:PORT").
struct UpstreamSpec {
    std::string to;          // "10.0.0.1:53", "[::1]:53" (label in metrics and errors)
    bool tls = false;        // tls:// upstream
    std::string servername;  // per-upstream SNI from tls://IP%SNI
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
};

struct Options {
    std::string from = ".";             // normalised zone
    std::vector<uint8_t> from_wire;
    std::vector<std::string> except;    // normalised zones
    ZoneSet except_wire;
    std::vector<UpstreamSpec> upstreams;
    bool force_tcp = false;
    bool prefer_udp = false;
    std::chrono::nanoseconds expire = std::chrono::seconds(10);
    uint32_t max_fails = 2;
    bool has_tls_option = false;
    std::vector<std::string> tls_args;  // `tls [CERT KEY CA | CERT KEY | CA]`
    std::string tls_servername;
    Policy policy = Policy::random;
    std::chrono::nanoseconds hc_interval = std::chrono::milliseconds(500);
    bool hc_recursion_desired = true;
    std::string hc_domain = ".";
    int64_t max_concurrent = 0;
    std::string max_concurrent_error;  // "concurrent queries exceeded maximum N" (N as written)
    // dnscore extensions (0 = no limit): upstream exchanges in flight for
    // this forward, and queries waiting in it per client address.
    // Written in the Corefile (0 included): a set bound, even 0 (none),
    // wins over the one derived from the memory budget.
    bool max_pending_set = false;
    int64_t max_pending = 0;
    std::string max_pending_error;
    bool max_pending_per_client_set = false;
    int64_t max_pending_per_client = 0;
    std::string max_pending_per_client_error;
    std::vector<int> next_rcodes;
    bool failfast_all_unhealthy = false;
};

// Parses every `forward` line of a block (the dispenser is positioned before
// the first). Throws parser::ConfigError / std::invalid_argument with CoreDNS's
// texts (without the "plugin/forward: " prefix, which the loader adds).
std::vector<Options> parse_forward(parser::Dispenser& d);

// parse.HostPortOrFile followed by the transport check of parseStanza: the TO
// arguments -> upstreams. Throws ConfigError with CoreDNS's texts.
std::vector<UpstreamSpec> parse_upstreams(const std::vector<std::string>& to,
                                          const std::string& tls_servername);

// The `nameserver` addresses of a resolv.conf-style text (miekg/dns
// ClientConfigFromReader), in order.
std::vector<std::string> resolv_conf_nameservers(std::string_view text);

// Fills addr/addr_len from "IP:PORT" / "[IPv6]:PORT"; false if not numeric.
bool to_sockaddr(const std::string& hostport, sockaddr_storage& out, socklen_t& len);

// Upstream order for one query (CoreDNS policy.go). `rnd` is a per-worker
// random source, `robin` the shared round-robin counter. Writes indexes into
// `order` (size n) without allocating.
void upstream_order(Policy p, size_t n, uint64_t (*rnd)(void*), void* rnd_ctx,
                    std::atomic<uint32_t>& robin, uint8_t* order);

struct Core;  // shared state: options, upstream health, per-worker pools (forward.cpp)

class Forward final : public Plugin {
public:
    Forward(Options opts, bool validate_only);
    ~Forward() override;
    std::string_view name() const override { return "forward"; }
    Step query(Query& q) override;
    void query_async(std::unique_ptr<OwnedQuery> q) override;
    void response(Query& q) override;

    const Options& options() const;
    // Lifecycle (hooked into the ServerSet by setup).
    void on_startup();
    void on_shutdown(Host& rt);

    // The block's dnstap plugins, told of every upstream try (core/tap.hpp).
    void set_taps(std::vector<ForwarderTap*> taps);

    // Whether the query's name is handled by this forward (FROM and except).
    bool matches(const uint8_t* name, size_t len) const;

    // The in-flight bounds in force (0 = none): the Corefile's, else those
    // derived from the memory budget (from_budget).
    struct PendingBounds {
        int64_t max_pending = 0;
        int64_t max_pending_per_client = 0;
        bool max_pending_from_budget = false;
        bool per_client_from_budget = false;
        int64_t max_background = 0;  // background refreshes (cache prefetch), a share of max_pending
    };
    PendingBounds pending_bounds() const;

private:
    std::shared_ptr<Core> core_;
};

}  // namespace dnscore::plugins::forward

namespace dnscore::plugins {
void setup_forward(corefile::SetupContext& c);
}
