#pragma once
// The cache plugin (CoreDNS 1.12 plugin/cache): a success and a denial store
// of raw-wire replies. Hits are answered inside query() by copying the stored
// bytes and patching ID, flags, question and TTLs; misses go down the chain
// and the reply is classified, re-TTLed and stored in response().
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plugins/cache/metrics.hpp"
#include "plugins/cache/store.hpp"
#include "core/plugin.hpp"
#include "core/wire/reply.hpp"
#include "core/worker_local.hpp"
#include "core/zones.hpp"

namespace dnscore::plugins::cache {

// Parsed configuration (defaults as CoreDNS's New()).
struct Config {
    std::vector<std::string> zones{"."};
    long long pcap = 10000;
    long long ncap = 10000;
    int64_t pttl_s = 3600;     // success max TTL
    int64_t minpttl_s = 5;
    int64_t nttl_s = 1800;     // denial max TTL
    int64_t minnttl_s = 5;
    int64_t failttl_ns = 5 * kSecond;  // servfail DURATION
    long long prefetch = 0;            // AMOUNT; 0 = off
    int64_t prefetch_window_ns = 60 * kSecond;
    int percentage = 10;
    int64_t stale_up_to_ns = 0;        // serve_stale DURATION; 0 = off
    bool verify_stale = false;
    std::vector<std::string> pexcept;  // disable success ZONES
    std::vector<std::string> nexcept;  // disable denial ZONES
    bool keepttl = false;

    // Everything that changes what is stored or for how long: two cache
    // instances with the same text can share their stores across a reload.
    std::string canonical() const;
};

// CoreDNS response.Typify and dnsutil.MinimalTTL live in wire::ReplyView;
// these take a message for callers that hold no view.
using ReplyType = wire::ReplyType;
inline ReplyType typify(const uint8_t* msg, size_t len, int64_t wall_s) {
    return wire::ReplyView(msg, len).typify(wall_s);
}
inline int64_t minimal_ttl(const uint8_t* msg, size_t len, ReplyType t) {
    return wire::ReplyView(msg, len).minimal_ttl(t);
}

// The two stores of one cache configuration; shared across reloads while the
// configuration stays the same.
struct Stores {
    Stores(long long pcap, long long ncap) : success(pcap), denial(ncap) {}
    Store success;
    Store denial;
};
// Process-wide registry: the stores for `id` (created if absent), kept alive
// only by the plugin instances holding them.
std::shared_ptr<Stores> shared_stores(const std::string& id, long long pcap, long long ncap);

class Cache final : public Plugin {
public:
    Cache(Config cfg, std::shared_ptr<Stores> stores, const Clock& clock = system_clock());
    ~Cache() override;

    std::string_view name() const override { return "cache"; }
    Step query(Query& q) override;
    void response(Query& q) override;

    const Config& config() const { return cfg_; }
    Stores& stores() { return *stores_; }

    // Where this exchange counts: the worker and its `server` label index.
    struct Counters {
        int worker = 0;
        int server = -1;
    };
    struct Totals {
        uint64_t requests = 0, hits_success = 0, hits_denial = 0, misses = 0, prefetch = 0, drops = 0,
                 served_stale = 0, evictions_success = 0, evictions_denial = 0;
    };
    // Sums over workers and server labels (tests, scrapes).
    Totals totals() const;
    // Exports the metric families (called from setup unless validating).
    void register_metrics();

private:
    // Per worker: the last site seen and its `server` label index.
    struct SiteCounters {
        const void* site = nullptr;
        Counters c;
    };
    Counters& counters(const Query& q);

    bool in_zones(const wire::QueryInfo& q) const;
    bool under(const ZoneSet& zones, const uint8_t* name, size_t len) const;
    // Writes the reply for entry `e` into q.resp; ttl is the TTL to show.
    void write_hit(Query& q, const Entry& e, uint32_t ttl, bool stale);
    // Looks the key up in denial then success; fills q.resp on a usable hit.
    enum class Lookup { miss, fresh, stale };
    Lookup lookup(Query& q, const Key& k, Counters& c, bool count, uint32_t* prefetch_hits);
    void start_refresh(Query& q, uint32_t inherit_hits);
    void store_reply(Query& q, const wire::ReplyView& reply, ReplyType t, int64_t duration_ns, Counters& c);
    // The question's key, hashed once per exchange (Query::cache_hash).
    Key key_of(Query& q) const;

    Config cfg_;
    ZoneSet zones_wire_, pexcept_wire_, nexcept_wire_;
    std::string zones_label_;
    std::shared_ptr<Stores> stores_;
    const Clock& clock_;
    uint64_t seed_;
    std::unique_ptr<metrics::Families> metrics_;
    WorkerLocal<SiteCounters> counters_;
    uint64_t metrics_handle_ = 0;
};

}  // namespace dnscore::plugins::cache
