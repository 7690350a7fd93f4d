#pragma once
// The cache plugin (CoreDNS 1.12 plugin/cache): a success and a denial store
// of raw-wire replies. Hits are answered inside query() by copying the stored
// bytes and patching ID, flags, question and TTLs; misses go down the chain
// and the reply is classified, re-TTLed and stored in response().
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
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
    // Beyond CoreDNS: RFC 8767 stale answers (`serve_stale_rfc8767`,
    // README). 0 = off; exclusive with serve_stale.
    int64_t rfc_max_stale_ns = 0;                   // how long past expiry an entry may be answered
    int64_t rfc_client_timeout_ns = 1800'000'000;   // client-response timer
    int64_t rfc_recheck_ns = 30 * kSecond;          // failure-recheck timer

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
    // How long past its TTL an entry may still be answered (serve_stale or
    // the stale mode's max-stale): what a snapshot keeps. Set by setup.
    std::atomic<int64_t> keep_expired_s{0};
};
// Process-wide registry: the stores for `id` (created if absent), kept alive
// only by the plugin instances holding them.
std::shared_ptr<Stores> shared_stores(const std::string& id, long long pcap, long long ncap);
// Every live store pair with its id (snapshots), and the one for an id.
void for_each_stores(const std::function<void(const std::string& id, Stores&)>& fn);
std::shared_ptr<Stores> find_stores(const std::string& id);

class Cache final : public Plugin {
public:
    Cache(Config cfg, std::shared_ptr<Stores> stores, const Clock& clock = system_clock());
    ~Cache() override;

    std::string_view name() const override { return "cache"; }
    Step query(Query& q) override;
    void query_async(std::unique_ptr<OwnedQuery> q) override;
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
                 served_stale = 0, evictions_success = 0, evictions_denial = 0, shed_stale = 0;
        // RFC 8767 mode, per outcome (metrics::StaleOutcome order).
        std::array<uint64_t, 4> stale_outcomes{};
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
    // stale_refresh: RFC 8767 mode, an expired entry to race against the upstream (nothing written).
    enum class Lookup { miss, fresh, stale, stale_refresh };
    Lookup lookup(Query& q, const Key& k, Counters& c, bool count, uint32_t* prefetch_hits);
    void start_refresh(Query& q, uint32_t inherit_hits);
    void store_reply(Query& q, const wire::ReplyView& reply, ReplyType t, int64_t duration_ns, Counters& c);
    // The question's key, hashed once per exchange (Query::cache_hash).
    Key key_of(Query& q) const;
    // Classifies q's reply and stores it; strips its OPT. Returns the
    // duration the reply's records get, or -1 when there is no reply.
    int64_t classify_and_store(Query& q, Counters& c);
    // RFC 8767 mode: writes the entry for q's key (stale: TTL 30, EDE 3);
    // false when no servable entry is left.
    bool write_stale(Query& q);
    // serve_stale's answer: the entry for q's key if expired for less than
    // window_s (or fresh again), written with TTL 0 (keepttl: the stored
    // one) and EDE 3; false when there is none.
    bool write_expired(Query& q, int64_t window_s);
    // How far past its expiry an entry may answer a query shed below
    // (Query::shed): the configured stale window, else serve_stale's
    // default of 1 h.
    int64_t shed_window_s() const;
    // RFC 8767 mode: the upstream failed for q's key; answer stale without
    // asking again for the failure-recheck time.
    void mark_failed(Query& q);
    struct StaleRace;
    void finish_race(const std::shared_ptr<StaleRace>& race, OwnedQuery* sub);

    Config cfg_;
    ZoneSet zones_wire_, pexcept_wire_, nexcept_wire_;
    std::string zones_label_;
    std::shared_ptr<Stores> stores_;
    const Clock& clock_;
    uint64_t seed_;
    int64_t stale_window_s_ = 0;  // serve_stale or the RFC 8767 max-stale, seconds
    std::unique_ptr<metrics::Families> metrics_;
    WorkerLocal<SiteCounters> counters_;
    uint64_t metrics_handle_ = 0;
};

}  // namespace dnscore::plugins::cache
