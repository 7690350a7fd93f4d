#pragma once
// The cache's storage: raw-wire replies in a sharded table shared by every
// worker. One Store is one of CoreDNS's two caches (success or denial); it
// keeps CoreDNS pkg/cache's capacity semantics (256 shards of
// max(CAPACITY/256, 4) entries, one random entry of the shard evicted when a
// new key arrives in a full shard). Lookups lock one shard for the length of
// a copy; inserts only try the lock and are skipped (and counted) when busy.
// Every entry's bytes are charged to the process's MemoryBudget
// (core/memory_budget.hpp); an insert that would go over the caches' share
// first evicts from its shard: expired entries first, else the least
// recently used of a few sampled (Redis-style approximate LRU); when its
// shard has nothing left, the budget takes room from the other stores.
#include <boost/unordered/unordered_flat_map.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/memory_budget.hpp"
#include "core/wire/reply.hpp"
#include "core/wire/wire.hpp"

namespace dnscore::plugins::cache {

// Time source; tests inject a manual one.
class Clock {
public:
    virtual ~Clock() = default;
    virtual int64_t now_ns() const = 0;   // monotonic, for ages
    virtual int64_t wall_s() const = 0;   // Unix seconds, for RRSIG validity
};
const Clock& system_clock();

constexpr int64_t kSecond = 1'000'000'000;

// What identifies a cached reply (CoreDNS 1.12: qname, qtype, DO, CD).
struct Key {
    uint64_t hash = 0;
    const uint8_t* name = nullptr;  // lower-case uncompressed wire name
    uint8_t name_len = 0;
    uint16_t qtype = 0;
    bool do_bit = false;
    bool cd_bit = false;
};
// Seeded hash over the key fields (the seed is random per process so
// nobody can aim collisions at a shard).
uint64_t key_hash(uint64_t seed, const uint8_t* name, size_t name_len, uint16_t qtype, bool do_bit,
                  bool cd_bit);
uint64_t process_seed();
Key make_key(const wire::QueryInfo& q, uint64_t seed);
// The key of `q` with its hash already computed (see Query::cache_hash).
Key key_with_hash(const wire::QueryInfo& q, uint64_t hash);

// One cached reply. `blob` holds the message (OPT stripped), then the offsets
// of every TTL field (uint16_t each), then the lower-case question name.
struct Entry {
    // Widest fields first: 64 bytes with no padding (was 80 in declaration
    // order), and one slot per cached answer (docs/performance.md, "Memory").
    uint64_t hash = 0;
    std::unique_ptr<uint8_t[]> blob;
    int64_t stored_ns = 0;  // when it was stored (Clock::now_ns)
    // Prefetch frequency (CoreDNS pkg/freq): hits since `freq_last_ns`.
    int64_t freq_last_ns = INT64_MIN;
    // RFC 8767 mode: until then (now_ns) the upstream is not asked again
    // for this expired entry; it is answered stale at once.
    int64_t stale_recheck_ns = 0;
    uint32_t ttl_s = 0;     // stored duration, whole seconds
    uint32_t freq_hits = 0;
    uint32_t last_use = 0;  // the shard's use tick at the last hit or insert
    uint16_t msg_len = 0;
    uint16_t ttl_count = 0;
    uint16_t qtype = 0;
    uint8_t name_len = 0;
    uint8_t rcode = 0;
    bool do_bit = false;
    bool cd_bit = false;
    bool ra = false;
    bool ad = false;

    // What this entry costs the memory budget: its slot twice (the slot
    // vector grows by doubling), the blob with the allocator's header, and
    // its share of the index.
    size_t bytes() const {
        return blob ? 2 * sizeof(Entry) + 16 + msg_len + 2 * size_t(ttl_count) + name_len + kIndexBytes : 0;
    }
    static constexpr size_t kIndexBytes = 24;

    const uint8_t* msg() const { return blob.get(); }
    const uint8_t* ttl_offsets() const { return blob.get() + msg_len; }
    const uint8_t* name() const { return blob.get() + msg_len + 2 * size_t(ttl_count); }
    bool matches(const Key& k) const;
    // Seconds left (negative once expired), CoreDNS item.ttl().
    int64_t remaining(int64_t now_ns) const { return int64_t(ttl_s) - (now_ns - stored_ns) / kSecond; }
};
static_assert(sizeof(Entry) == 64, "keep Entry's fields ordered widest first (no padding)");

// Builds an entry from a reply already stripped of its OPT record. Returns
// false when the message cannot be walked or is too large.
bool make_entry(const uint8_t* msg, size_t len, const Key& key, int64_t now_ns, uint32_t ttl_s,
                Entry& out);
// The same from a view of the reply (no second walk).
bool make_entry(const wire::ReplyView& reply, const Key& key, int64_t now_ns, uint32_t ttl_s, Entry& out);

class Store final : public MemoryBudget::Reclaimer {
public:
    static constexpr size_t kShards = 256;

    // Charges `budget` (the process's unless a test gives its own).
    explicit Store(long long capacity, MemoryBudget& budget = MemoryBudget::process());
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // no_room: the memory budget is used up and this shard had nothing
    // left to evict (the entry is not stored).
    enum class Insert { stored, evicted, busy, no_room };
    // Stores `e` under its key (replacing an entry with the same hash),
    // evicting first when the entry would not fit in the memory budget.
    Insert insert(Entry&& e);

    // Calls fn(Entry&) under the shard lock when an entry for `k` exists and
    // matches it fully (never on a hash match alone). Returns fn's result, or
    // false when there is no such entry.
    template <class Fn>
    bool visit(const Key& k, Fn&& fn);

    // Calls fn(const Entry&) for every entry, one shard locked at a time
    // (cache snapshots; control thread, not the hot path).
    template <class Fn>
    void for_each(Fn&& fn);

    size_t size() const { return size_.load(std::memory_order_relaxed); }
    // Bytes this store charges to the budget (a metric per cache and type).
    size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
    // MemoryBudget::Reclaimer: evicts (expired first, else least recently
    // used) from shards in turn, skipping busy ones, until `want` bytes went.
    size_t reclaim(size_t want, int64_t now_ns) override;
    size_t shard_capacity() const { return shard_cap_; }

private:
    struct alignas(64) Shard {
        std::mutex mu;
        boost::unordered_flat_map<uint64_t, uint32_t> index;  // hash -> slot
        std::vector<Entry> slots;
        uint64_t rng = 0;
        uint32_t tick = 0;  // use clock for the approximate LRU
    };
    uint32_t pick_victim(Shard& s, int64_t now_ns);
    void remove_slot(Shard& s, uint32_t slot);
    void account(int64_t delta);
    Shard& shard_for(uint64_t hash) { return shards_[hash & (kShards - 1)]; }

    std::unique_ptr<Shard[]> shards_;
    size_t shard_cap_;
    std::atomic<size_t> size_{0};
    MemoryBudget& budget_;
    std::atomic<size_t> bytes_{0};
    std::atomic<size_t> reclaim_cursor_{0};
};

template <class Fn>
bool Store::visit(const Key& k, Fn&& fn) {
    Shard& s = shard_for(k.hash);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.index.find(k.hash);
    if (it == s.index.end()) return false;
    Entry& e = s.slots[it->second];
    if (!e.matches(k)) return false;
    e.last_use = ++s.tick;
    return fn(e);
}

template <class Fn>
void Store::for_each(Fn&& fn) {
    for (size_t i = 0; i < kShards; ++i) {
        std::lock_guard<std::mutex> lock(shards_[i].mu);
        for (const Entry& e : shards_[i].slots) fn(e);
    }
}

}  // namespace dnscore::plugins::cache
