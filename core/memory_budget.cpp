#include "core/memory_budget.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/log.hpp"
#include "core/metrics.hpp"

namespace dnscore {

namespace {
std::optional<std::string> read_first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    return line;
}

std::optional<uint64_t> parse_decimal(std::string_view s) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        const uint64_t d = uint64_t(c - '0');
        if (v > (UINT64_MAX - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}
}  // namespace

MemoryBudget& MemoryBudget::process() {
    static MemoryBudget* b = new MemoryBudget();
    return *b;
}

namespace {
// percent % of bytes, without overflow.
uint64_t share(uint64_t bytes, uint64_t percent) { return bytes / 100 * percent + bytes % 100 * percent / 100; }
}  // namespace

void MemoryBudget::set_limit(uint64_t bytes) {
    limit_.store(bytes, std::memory_order_relaxed);
    cache_limit_.store(share(bytes, kCacheSharePercent), std::memory_order_relaxed);
    inflight_limit_.store(share(bytes, kInflightSharePercent), std::memory_order_relaxed);
}

void MemoryBudget::add(Reclaimer* r) {
    std::lock_guard<std::mutex> lock(reclaimers_mu_);
    reclaimers_.push_back(r);
}

void MemoryBudget::remove(Reclaimer* r) {
    std::lock_guard<std::mutex> lock(reclaimers_mu_);
    reclaimers_.erase(std::remove(reclaimers_.begin(), reclaimers_.end(), r), reclaimers_.end());
}

bool MemoryBudget::make_room(uint64_t more, int64_t now_ns) {
    std::unique_lock<std::mutex> lock(reclaimers_mu_, std::try_to_lock);
    if (!lock.owns_lock() || reclaimers_.empty()) return false;
    bool freed = false;
    // Each reclaimer visits all its shards once per call: a few rounds over
    // all of them is enough unless everything is busy or empty.
    for (size_t tries = 0; tries < 2 * reclaimers_.size() && !fits(more); ++tries) {
        const uint64_t cap = cache_limit(), u = used();
        const uint64_t want = u + more > cap ? u + more - cap : 0;
        Reclaimer* r = reclaimers_[next_reclaimer_++ % reclaimers_.size()];
        freed |= r->reclaim(size_t(want), now_ns) > 0;
    }
    return freed;
}

std::optional<uint64_t> parse_byte_count(std::string_view s) {
    if (s == "off") return 0;
    static constexpr struct {
        std::string_view suffix;
        uint64_t mult;
    } kUnits[] = {{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40}, {"B", 1}};
    uint64_t mult = 1;
    for (const auto& u : kUnits) {
        if (s.size() > u.suffix.size() && s.substr(s.size() - u.suffix.size()) == u.suffix) {
            s.remove_suffix(u.suffix.size());
            mult = u.mult;
            break;
        }
    }
    const auto v = parse_decimal(s);
    if (!v || *v > UINT64_MAX / mult) return std::nullopt;
    return *v * mult;
}

std::optional<uint64_t> cgroup_memory_limit(const std::string& cgroup_root, const std::string& proc_cgroup) {
    std::ifstream in(proc_cgroup);
    std::string line, v2_path, v1_path;
    bool v2 = false;
    while (std::getline(in, line)) {
        // "0::/path" (v2) or "4:memory:/path" (v1).
        const auto a = line.find(':');
        const auto b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1);
        const std::string path = line.substr(b + 1);
        if (line.compare(0, a, "0") == 0 && controllers.empty()) {
            v2 = true;
            v2_path = path;
        }
        std::stringstream ss(controllers);
        for (std::string c; std::getline(ss, c, ',');)
            if (c == "memory") v1_path = path;
    }
    auto limit_at = [](const std::string& file, bool v1) -> std::optional<uint64_t> {
        auto text = read_first_line(file);
        if (!text || *text == "max") return std::nullopt;
        auto v = parse_decimal(*text);
        // v1 says "no limit" with a huge page-rounded number.
        if (!v || (v1 && *v >= (uint64_t(1) << 62))) return std::nullopt;
        return v;
    };
    if (v2) {
        // Inside a container's cgroup namespace the path is "/" and the
        // limit sits at the mount root.
        if (auto l = limit_at(cgroup_root + v2_path + "/memory.max", false)) return l;
        if (v2_path != "/")
            if (auto l = limit_at(cgroup_root + "/memory.max", false)) return l;
    }
    if (!v1_path.empty()) {
        if (auto l = limit_at(cgroup_root + "/memory" + v1_path + "/memory.limit_in_bytes", true)) return l;
        if (auto l = limit_at(cgroup_root + "/memory/memory.limit_in_bytes", true)) return l;
    }
    return std::nullopt;
}

void MemoryBudget::configure(const std::string& flag, const std::string& cgroup_root,
                             const std::string& proc_cgroup) {
    uint64_t limit = 0;
    source_ = "none";
    if (!flag.empty()) {
        const auto v = parse_byte_count(flag);
        if (!v) throw std::invalid_argument("invalid -memlimit " + flag + ": want bytes, or a number with B, KiB, MiB, GiB or TiB");
        limit = *v;
        source_ = "flag";
    } else if (const char* env = std::getenv("GOMEMLIMIT"); env && *env) {
        if (const auto v = parse_byte_count(env)) {
            limit = *v;
            source_ = "GOMEMLIMIT";
        } else {
            log::warning("GOMEMLIMIT={} is not a byte count; ignored", env);
        }
    }
    if (source_ == "none") {
        if (const auto cg = cgroup_memory_limit(cgroup_root, proc_cgroup)) {
            limit = *cg / 4 * 3;
            source_ = "cgroup";
        }
    }
    set_limit(limit);
    if (!exported_ && this == &process()) {
        exported_ = true;
        metrics::Registry::global().add([this](std::vector<metrics::Family>& out) {
            auto b = metrics::gauge_family("dnscore_memory_budget_bytes",
                                           "The process's byte budget (0 = none); the caches may use 40% of it, "
                                           "work in flight 20%.");
            metrics::add_gauge(b, {}, double(this->limit()));
            out.push_back(std::move(b));
            auto c = metrics::gauge_family("dnscore_memory_budget_cache_bytes",
                                           "Bytes all caches together hold against the budget.");
            metrics::add_gauge(c, {}, double(this->used()));
            out.push_back(std::move(c));
            auto f = metrics::gauge_family("dnscore_memory_budget_inflight_bytes",
                                           "Bytes work in flight holds against the budget: forward's waiting "
                                           "exchanges (when no max_pending is set) and replies queued on TCP "
                                           "connections.");
            metrics::add_gauge(f, {}, double(this->inflight_used()));
            out.push_back(std::move(f));
        });
    }
}

}  // namespace dnscore
