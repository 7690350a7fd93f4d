#include "plugins/cache/store.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>

namespace dnscore::plugins::cache {

namespace {
class SystemClock final : public Clock {
public:
    int64_t now_ns() const override {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    int64_t wall_s() const override {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

inline uint64_t mix(uint64_t h) {
    // splitmix64 finaliser: spreads the low bits that pick the shard.
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}
}  // namespace

const Clock& system_clock() {
    static const SystemClock c;
    return c;
}

uint64_t process_seed() {
    static const uint64_t seed = [] {
        std::random_device rd;
        return (uint64_t(rd()) << 32) ^ rd();
    }();
    return seed;
}

uint64_t key_hash(uint64_t seed, const uint8_t* name, size_t name_len, uint16_t qtype, bool do_bit,
                  bool cd_bit) {
    uint64_t h = mix(seed ^ (uint64_t(qtype) << 2 | uint64_t(do_bit) << 1 | uint64_t(cd_bit)));
    size_t i = 0;
    for (; i + 8 <= name_len; i += 8) {
        uint64_t w;
        std::memcpy(&w, name + i, 8);
        h = mix(h ^ w) + 0x9e3779b97f4a7c15ull;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, name + i, name_len - i);
    return mix(h ^ tail ^ (uint64_t(name_len) << 56));
}

Key key_with_hash(const wire::QueryInfo& q, uint64_t hash) {
    Key k;
    k.name = q.name;
    k.name_len = q.name_len;
    k.qtype = q.qtype;
    k.do_bit = q.do_bit();
    k.cd_bit = q.cd_bit();
    k.hash = hash;
    return k;
}

Key make_key(const wire::QueryInfo& q, uint64_t seed) {
    return key_with_hash(q, key_hash(seed, q.name, q.name_len, q.qtype, q.do_bit(), q.cd_bit()));
}

bool Entry::matches(const Key& k) const {
    return hash == k.hash && qtype == k.qtype && do_bit == k.do_bit && cd_bit == k.cd_bit &&
           name_len == k.name_len && std::memcmp(name(), k.name, name_len) == 0;
}

bool make_entry(const uint8_t* msg, size_t len, const Key& key, int64_t now_ns, uint32_t ttl_s,
                Entry& out) {
    return make_entry(wire::ReplyView(msg, len), key, now_ns, ttl_s, out);
}

namespace {
// A hit writes the client's ID, new flags, the client's question over the
// stored one (its case, and its class: the key has none) and new TTLs over
// the stored ones, so the stored
// names must not read those bytes through a compression pointer: with other
// bytes there the hit could not be parsed. Checked on the copy `msg` with
// those bytes set to a reserved label type (0x40), which makes any name
// reading them fail, then put back from `original`. Only a crafted upstream
// reply points there (found by the cache fuzz target: names pointing at the
// question's class, names running through a record's TTL or the header).
bool names_independent_of_rewritten_bytes(uint8_t* msg, size_t len, const uint8_t* original,
                                          size_t question_end, const uint16_t* ttl_offs, size_t ttl_count) {
    auto poison = [&](size_t off, bool on) {
        if (off + 4 > len) return;
        if (on) std::memset(msg + off, 0x40, 4);
        else std::memcpy(msg + off, original + off, 4);
    };
    auto all = [&](bool on) {
        poison(0, on);  // ID and flags: the hit writes the client's ID and its own flags
        if (question_end >= wire::kHeaderLen + 5) poison(question_end - 4, on);
        for (size_t i = 0; i < ttl_count; ++i) poison(ttl_offs[i], on);
    };
    all(true);
    bool independent = wire::ReplyView(msg, len).ok();
    if (independent) {
        // Names inside RDATA (CNAME, NS, MX, SOA, ...) as the client unpacks them.
        static thread_local uint8_t rdata[wire::kMaxMessage];
        wire::for_each_rr(msg, len, [&](const wire::RR& rr) {
            if (rr.rdlen == 0 || wire::uncompressed_rdata(msg, len, rr, rdata, sizeof rdata) != 0) return true;
            // Malformed with those bytes changed; independent only if it was before too.
            independent = wire::uncompressed_rdata(original, len, rr, rdata, sizeof rdata) == 0;
            return independent;
        });
    }
    all(false);
    return independent;
}
}  // namespace

bool make_entry(const wire::ReplyView& reply, const Key& key, int64_t now_ns, uint32_t ttl_s, Entry& out) {
    const uint8_t* msg = reply.data();
    if (!reply.ok()) return false;
    const size_t len = reply.records_end();  // bytes after the last record are never sent
    uint16_t offsets[4096];
    size_t n = 0;
    bool fits = true;
    reply.for_each([&](const wire::RR& rr) {
        if (rr.type == wire::kTypeOPT) return true;
        if (n == std::size(offsets)) {
            fits = false;
            return false;
        }
        offsets[n++] = uint16_t(rr.type_off + 4);
        return true;
    });
    if (!fits) return false;
    const size_t total = len + 2 * n + key.name_len;
    out.blob.reset(new uint8_t[total]);
    uint8_t* b = out.blob.get();
    std::memcpy(b, msg, len);
    if (!names_independent_of_rewritten_bytes(b, len, msg, reply.question_end(), offsets, n)) {
        out.blob.reset();
        return false;
    }
    std::memcpy(b + len, offsets, 2 * n);
    std::memcpy(b + len + 2 * n, key.name, key.name_len);
    out.hash = key.hash;
    out.msg_len = uint16_t(len);
    out.ttl_count = uint16_t(n);
    out.name_len = key.name_len;
    out.qtype = key.qtype;
    out.do_bit = key.do_bit;
    out.cd_bit = key.cd_bit;
    out.rcode = wire::rcode(msg);
    out.ra = wire::flags(msg) & wire::kRA;
    out.ad = wire::flags(msg) & wire::kAD;
    out.stored_ns = now_ns;
    out.ttl_s = ttl_s;
    out.freq_last_ns = INT64_MIN;
    out.freq_hits = 0;
    out.stale_recheck_ns = 0;
    return true;
}

Store::Store(long long capacity, MemoryBudget& budget) : shards_(new Shard[kShards]), budget_(budget) {
    budget_.add(this);
    // CoreDNS pkg/cache.New: size / 256 per shard, at least 4.
    long long per = capacity / (long long)kShards;
    shard_cap_ = per < 4 ? 4 : size_t(per);
    // Shard RNGs from the process's seed and a count of the stores made:
    // random_device draws per shard (512 per store, and constructing a
    // random_device runs CPUID) were most of the time to build a store.
    static std::atomic<uint64_t> stores_made{0};
    uint64_t state = process_seed() ^ mix(stores_made.fetch_add(1, std::memory_order_relaxed) + 1);
    for (size_t i = 0; i < kShards; ++i) {
        state += 0x9e3779b97f4a7c15ull;
        shards_[i].rng = mix(state) | 1;
    }
}

Store::~Store() {
    budget_.remove(this);
    budget_.release(bytes_.load());
}

void Store::account(int64_t delta) {
    if (delta > 0) {
        budget_.charge(uint64_t(delta));
        bytes_.fetch_add(size_t(delta), std::memory_order_relaxed);
    } else if (delta < 0) {
        budget_.release(uint64_t(-delta));
        bytes_.fetch_sub(size_t(-delta), std::memory_order_relaxed);
    }
}

uint32_t Store::pick_victim(Shard& s, int64_t now_ns) {
    // Sample a few slots: an expired one goes first, else the one used least
    // recently (tick distance, so the wrap of the 32-bit clock is harmless).
    // A shard with no more slots than samples is scanned whole.
    constexpr uint32_t kSamples = 5;
    const uint32_t n = uint32_t(s.slots.size());
    uint32_t best = 0;
    uint32_t best_age = 0;
    for (uint32_t i = 0; i < kSamples && i < n; ++i) {
        uint32_t slot = i;
        if (n > kSamples) {
            s.rng ^= s.rng << 13;
            s.rng ^= s.rng >> 7;
            s.rng ^= s.rng << 17;
            slot = uint32_t(s.rng % n);
        }
        const Entry& e = s.slots[slot];
        if (e.remaining(now_ns) <= 0) return slot;
        const uint32_t age = s.tick - e.last_use;
        if (i == 0 || age > best_age) {
            best = slot;
            best_age = age;
        }
    }
    return best;
}

size_t Store::reclaim(size_t want, int64_t now_ns) {
    // One victim per shard visited, shards in turn: spreads the evictions
    // as the random choice of keys spreads the entries.
    size_t freed = 0;
    for (size_t visited = 0; visited < kShards && freed < want; ++visited) {
        Shard& s = shards_[reclaim_cursor_.fetch_add(1, std::memory_order_relaxed) & (kShards - 1)];
        std::unique_lock<std::mutex> lock(s.mu, std::try_to_lock);
        if (!lock.owns_lock() || s.slots.empty()) continue;
        const uint32_t victim = pick_victim(s, now_ns);
        freed += s.slots[victim].bytes();
        remove_slot(s, victim);
    }
    return freed;
}

void Store::remove_slot(Shard& s, uint32_t slot) {
    account(-int64_t(s.slots[slot].bytes()));
    s.index.erase(s.slots[slot].hash);
    const uint32_t last = uint32_t(s.slots.size() - 1);
    if (slot != last) {
        s.slots[slot] = std::move(s.slots[last]);
        s.index[s.slots[slot].hash] = slot;
    }
    s.slots.pop_back();
    size_.fetch_sub(1, std::memory_order_relaxed);
}

Store::Insert Store::insert(Entry&& e) {
    Shard& s = shard_for(e.hash);
    std::unique_lock<std::mutex> lock(s.mu, std::try_to_lock);
    if (!lock.owns_lock()) return Insert::busy;
    e.last_use = ++s.tick;
    const int64_t cost = int64_t(e.bytes());
    auto it = s.index.find(e.hash);
    const int64_t replaced = it != s.index.end() ? int64_t(s.slots[it->second].bytes()) : 0;
    bool evicted = false;
    if (!budget_.fits(uint64_t(std::max<int64_t>(cost - replaced, 0)))) {
        // Over the caches' share: make room in this shard first (the entry
        // being replaced, if any, is not a candidate: it goes anyway).
        if (it != s.index.end()) {
            remove_slot(s, it->second);
            it = s.index.end();
        }
        while (!s.slots.empty() && !budget_.fits(uint64_t(cost))) {
            remove_slot(s, pick_victim(s, e.stored_ns));
            evicted = true;
        }
        if (!budget_.fits(uint64_t(cost))) {
            // This shard is empty: other shards and stores give room (with
            // no shard lock held, so they can be visited in any order).
            lock.unlock();
            evicted |= budget_.make_room(uint64_t(cost), e.stored_ns);
            if (!lock.try_lock()) return Insert::busy;
            if (!budget_.fits(uint64_t(cost))) return Insert::no_room;
            it = s.index.find(e.hash);
        }
    }
    if (it != s.index.end()) {
        account(cost - int64_t(s.slots[it->second].bytes()));
        s.slots[it->second] = std::move(e);
        return evicted ? Insert::evicted : Insert::stored;
    }
    if (s.slots.size() < shard_cap_) {
        // Doubling, but never past the shard's capacity: a full shard of a
        // default cache (39 entries) holds 39 slots, not 64.
        if (s.slots.size() == s.slots.capacity())
            s.slots.reserve(std::min(shard_cap_, std::max<size_t>(4, 2 * s.slots.capacity())));
        account(cost);
        s.index.emplace(e.hash, uint32_t(s.slots.size()));
        s.slots.push_back(std::move(e));
        size_.fetch_add(1, std::memory_order_relaxed);
        return evicted ? Insert::evicted : Insert::stored;
    }
    // Full: evict one arbitrary entry of this shard (xorshift pick).
    s.rng ^= s.rng << 13;
    s.rng ^= s.rng >> 7;
    s.rng ^= s.rng << 17;
    const uint32_t victim = uint32_t(s.rng % s.slots.size());
    account(cost - int64_t(s.slots[victim].bytes()));
    s.index.erase(s.slots[victim].hash);
    s.index.emplace(e.hash, victim);
    s.slots[victim] = std::move(e);
    return Insert::evicted;
}

}  // namespace dnscore::plugins::cache
