#pragma once
// One byte budget for the whole process (issue 15, item 1). Every cache
// store (every block, success and denial) charges the bytes of the entries
// it holds against it and evicts to stay under the caches' share; the
// budget and the bytes charged are metrics.
//
// The process budget comes from, in order: the -memlimit flag, GOMEMLIMIT
// (Go's syntax, so node-cache pods that set it for Go keep their limit), 75 %
// of the container's cgroup memory limit; else there is none and the caches
// are bounded by their entry capacities only. The caches may use 40 % of
// the process budget, work in flight (forward's waiting exchanges, when the
// Corefile sets no bound of its own, and queued TCP replies) 20 %, open TCP
// connections 25 % (as a connection count): the rest is the process itself
// (code, thread stacks, query buffers) and allocator slack
// (measured: docs/reliability.md).
// Charging is one relaxed atomic add on insert/evict; lookups never touch it.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dnscore {

class MemoryBudget {
public:
    // The process's budget (never destroyed: stores may release at exit).
    static MemoryBudget& process();

    // Sets the process budget in bytes (0 = none); the caches' share is
    // kCacheSharePercent of it, in-flight work's kInflightSharePercent.
    static constexpr uint64_t kCacheSharePercent = 40;
    static constexpr uint64_t kInflightSharePercent = 20;
    void set_limit(uint64_t bytes);
    // Open TCP connections (DoT and DoH included) get a quarter: an idle one
    // costs ~3.7 KiB of RSS (measured, docs/reliability.md), counted as 4 KiB.
    // With a budget the process's connection limit is the smaller of
    // `fixed` and what that share holds (at least 64); without one, `fixed`.
    static constexpr uint64_t kConnectionSharePercent = 25;
    static constexpr uint64_t kConnectionBytes = 4096;
    size_t connection_limit(size_t fixed) const {
        const uint64_t lim = limit();
        if (lim == 0) return fixed;
        const uint64_t derived = std::max<uint64_t>(64, lim / kConnectionBytes * kConnectionSharePercent / 100);
        return size_t(std::min<uint64_t>(fixed, derived));
    }
    // For tests: the caches' share directly.
    void set_cache_limit(uint64_t bytes) { cache_limit_.store(bytes, std::memory_order_relaxed); }
    uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
    // Bytes the caches may hold together (0 = no byte limit).
    uint64_t cache_limit() const { return cache_limit_.load(std::memory_order_relaxed); }
    // Bytes work in flight may hold together (0 = no byte limit).
    uint64_t inflight_limit() const { return inflight_limit_.load(std::memory_order_relaxed); }
    // Takes `bytes` of the in-flight share if they fit (always, without a
    // limit); false (nothing taken) if they do not.
    bool try_charge_inflight(uint64_t bytes) {
        const uint64_t cap = inflight_limit();
        const uint64_t before = inflight_used_.fetch_add(bytes, std::memory_order_relaxed);
        if (cap == 0 || before + bytes <= cap) return true;
        inflight_used_.fetch_sub(bytes, std::memory_order_relaxed);
        return false;
    }
    void release_inflight(uint64_t bytes) { inflight_used_.fetch_sub(bytes, std::memory_order_relaxed); }
    uint64_t inflight_used() const { return inflight_used_.load(std::memory_order_relaxed); }
    // Where the limit came from ("flag", "GOMEMLIMIT", "cgroup", "none").
    const std::string& source() const { return source_; }

    void charge(uint64_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
    void release(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }
    uint64_t used() const { return used_.load(std::memory_order_relaxed); }
    // Whether `more` bytes fit in the caches' share now.
    bool fits(uint64_t more) const {
        const uint64_t cap = cache_limit();
        return cap == 0 || used() + more <= cap;
    }

    // What gives bytes back when an insert finds no room where it is (the
    // cache stores). Registered for its lifetime.
    class Reclaimer {
    public:
        virtual ~Reclaimer() = default;
        // Frees about `want` bytes if it can (never blocking on a lock);
        // returns the bytes freed. `now_ns` tells what has expired.
        virtual size_t reclaim(size_t want, int64_t now_ns) = 0;
    };
    void add(Reclaimer* r);
    void remove(Reclaimer* r);
    // Asks the reclaimers in turn until `more` bytes fit; returns whether any
    // were freed. When another thread is already at it, returns at once
    // (inserts never wait on each other).
    bool make_room(uint64_t more, int64_t now_ns);

    // Chooses the limit as described above and exports the metrics (once).
    // `flag` is the -memlimit value ("" = not given). Throws
    // std::invalid_argument on a malformed flag.
    void configure(const std::string& flag, const std::string& cgroup_root = "/sys/fs/cgroup",
                   const std::string& proc_cgroup = "/proc/self/cgroup");

    // For tests: a budget of one's own.
    MemoryBudget() = default;

private:
    std::atomic<uint64_t> limit_{0};
    std::atomic<uint64_t> cache_limit_{0};
    std::atomic<uint64_t> used_{0};
    std::atomic<uint64_t> inflight_limit_{0};
    std::atomic<uint64_t> inflight_used_{0};
    std::string source_ = "none";
    bool exported_ = false;
    std::mutex reclaimers_mu_;
    std::vector<Reclaimer*> reclaimers_;
    size_t next_reclaimer_ = 0;
};

// Go's GOMEMLIMIT syntax (runtime/debug parseByteCount): a non-negative
// integer with an optional unit B, KiB, MiB, GiB or TiB; "off" = no limit
// (returns 0). nullopt when malformed.
std::optional<uint64_t> parse_byte_count(std::string_view s);

// The memory limit of the cgroup this process is in: cgroup v2 memory.max,
// else v1 memory.limit_in_bytes; nullopt when unlimited or unknown.
std::optional<uint64_t> cgroup_memory_limit(const std::string& cgroup_root = "/sys/fs/cgroup",
                                            const std::string& proc_cgroup = "/proc/self/cgroup");

}  // namespace dnscore
