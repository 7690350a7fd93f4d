// Floods against the real binary on loopback, bounded in count and time
// (issue 15, item 4), each with a memory budget of 64 MiB (-memlimit):
//   - random names at the client's maximum rate, upstream black-holed
//     (a UDP socket that never answers), with a fast upstream and with one
//     that answers after 300 ms; forward's max_pending and
//     max_pending_per_client bound the exchanges in flight; once more
//     black-holed with no bound configured: the bounds derived from the
//     budget keep RSS under it, and an expired name asked from the
//     flooder's address (shed) is answered stale;
//   - meanwhile a second client asks a cached name: every answer must come
//     over TCP (p99 bounded), over UDP as many as the kernel's drops of the
//     full socket queue allow; with an answering upstream a third client
//     (another loopback address, so its own per-client count) asks uncached
//     names: answered likewise, median bounded;
//   - 500 slowloris TCP connections (one byte at a time, never a whole
//     query).
// Each asserts: RSS under the budget (in sanitizer builds: growth under six
// times it — ASan's quarantine keeps up to 256 MiB of freed blocks resident
// and its shadow and redzones add more, none of it the server's; the exact
// bound is the normal build's, and 6x still catches unbounded growth, which
// reaches 550+ MiB without caps), no descriptor leak,
// and the server back to its baseline afterwards (connections closed,
// descriptors as before, uncached names answered again). Figures are
// printed as WARN lines for docs/reliability.md.
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"

using namespace dnscore;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr long kBudgetKiB = 64 * 1024;

// `meson test` sets MALLOC_PERTURB_, which makes glibc fill every block it
// hands out and takes back: pages a process would never touch (the unused
// tail of a pooled buffer) become resident. The servers started here would
// measure ~16 MiB more at the peak of the fast-upstream flood (62 vs 46 MiB)
// than the same binary in production, so they start without it.
const bool kNoMallocPerturb = [] {
    ::unsetenv("MALLOC_PERTURB_");
    return true;
}();
// Bystander p99 bound: generous for a 2-core machine shared with the
// flooder, the server and (in CI) other jobs; the measured value is printed.
constexpr double kBystanderP99Ms = 500;
// The uncached UDP bystander's median. Its tail is not bounded: a
// datagram the kernel dropped from the server's full socket queue waits for
// the 200 ms resends, so the p99 is the resends' (measured 1.0-1.4 s here,
// within 300 ms of the bystander's 2 s give-up; a slower machine drops more
// and pushed it past the old 1.8 s bound with the server itself answering
// in milliseconds, as the TCP bystander shows). The median still fails when
// the upstream path is starved or slowed: it stays under 1 s unless the
// kernel drops more than ~84 % of what arrives (then p^4 > 1/2: half the
// exchanges lose their first four sends).
constexpr double kUncachedP50Ms = 1000;

long rss_kib(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

int open_fds(pid_t pid) {
    DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (!d) return -1;
    int n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

// EDNS with 1232 bytes, as stub resolvers send: the fast upstream's
// ~700-byte answers fit, so they are cached rather than truncated.
testing::QueryOptions edns_query() {
    testing::QueryOptions o;
    o.edns = true;
    o.udp_size = 1232;
    return o;
}

// Entry capacities far above what 64 MiB holds (as node-cache's four blocks
// of 9,984 entries per store are above a 200 Mi pod limit): only the byte
// budget bounds the caches.
// `success` is the cache's success line after the keyword.
std::string corefile(const std::string& upstreams, const std::string& forward_options = "",
                     const std::string& success = "1000000") {
    return ".:0 {\n    bind 127.0.0.1\n    cache 300 {\n        success " + success + "\n        denial 1000000\n    }\n"
           "    forward . " + upstreams + " {\n" + forward_options + "    }\n    prometheus 127.0.0.1:0\n}\n";
}


// A UDP socket bound on loopback that reads nothing and answers nothing.
struct BlackHole {
    int fd = -1;
    uint16_t port = 0;
    BlackHole() {
        fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a = testing::loopback(0);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t l = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
        port = ntohs(a.sin_port);
    }
    ~BlackHole() { ::close(fd); }
    std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
};

// Random names under flood.example. at the client's maximum rate (one
// non-blocking socket, replies drained and counted), for at most `max_queries`
// or `duration`.
struct FloodResult {
    uint64_t sent = 0, answered = 0;
};
FloodResult flood(uint16_t port, uint64_t max_queries, Clock::duration duration, std::atomic<bool>& stop) {
    FloodResult r;
    const testing::Bytes tmpl = testing::make_query("aaaaaaaaaaaa.flood.example.", "A", edns_query());
    // The socket queue full (the server is behind): wait a little, as a
    // client at its maximum rate would, instead of spinning.
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    const sockaddr_in to = testing::loopback(port);
    ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    std::mt19937_64 rng(42);
    static const char kHex[] = "0123456789abcdef";
    uint8_t msg[512];
    std::memcpy(msg, tmpl.data(), tmpl.size());
    char buf[4096];
    const auto end = Clock::now() + duration;
    while (r.sent < max_queries && Clock::now() < end && !stop) {
        for (int burst = 0; burst < 64; ++burst) {
            const uint64_t x = rng();
            msg[0] = uint8_t(x >> 56);
            msg[1] = uint8_t(x >> 48);
            for (int i = 0; i < 12; ++i) msg[13 + i] = uint8_t(kHex[(x >> (4 * i)) & 15]);
            if (::send(fd, msg, tmpl.size(), 0) < 0) {
                std::this_thread::sleep_for(std::chrono::microseconds(50));
                break;
            }
            ++r.sent;
        }
        while (::recv(fd, buf, sizeof buf, 0) > 0) ++r.answered;
    }
    // Late replies.
    const auto drain_end = Clock::now() + milliseconds(300);
    while (Clock::now() < drain_end)
        if (::recv(fd, buf, sizeof buf, 0) > 0) ++r.answered;
        else std::this_thread::sleep_for(milliseconds(5));
    ::close(fd);
    return r;
}

// Asks one cached name over UDP every 5 ms until `stop`, as a stub resolver
// does: the query is sent again every 200 ms while unanswered (a flood that
// fills the server's socket queue makes the kernel drop datagrams of every
// sender alike), up to 2 s; records each exchange's time from the first send.
struct Bystander {
    int asked = 0, answered = 0;
    std::vector<double> ms;
    double percentile(double q) const {
        if (ms.empty()) return 0;
        std::vector<double> s = ms;
        std::sort(s.begin(), s.end());
        return s[std::min(s.size() - 1, size_t(double(s.size()) * q))];
    }
    double p99() const { return percentile(0.99); }
    double p50() const { return percentile(0.5); }
};
// With `distinct`, each exchange asks a new name under `name` (uncached:
// it goes upstream); `source` is the loopback address it sends from, so
// forward's per-client cap counts it apart from the flooder (127.0.0.1).
Bystander bystander(uint16_t port, const std::string& name, std::atomic<bool>& stop, bool distinct = false,
                    const char* source = "127.0.0.1") {
    Bystander b;
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in from = testing::loopback(0);
    ::inet_pton(AF_INET, source, &from.sin_addr);
    ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from);
    const sockaddr_in to = testing::loopback(port);
    ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    uint16_t id = 1;
    char buf[4096];
    while (!stop) {
        testing::QueryOptions o = edns_query();
        o.id = ++id;
        const testing::Bytes q =
            testing::make_query(distinct ? "u" + std::to_string(id) + "." + name : name, "A", o);
        ++b.asked;
        const auto t0 = Clock::now();
        auto next_send = t0;
        for (;;) {
            const auto now = Clock::now();
            if (now - t0 >= milliseconds(2000)) break;
            if (now >= next_send) {
                ::send(fd, q.data(), q.size(), 0);
                next_send = now + milliseconds(200);
            }
            const int wait = int(std::chrono::duration_cast<milliseconds>(next_send - now).count()) + 1;
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, wait) != 1) continue;
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n >= 12 && uint8_t(buf[0]) == uint8_t(id >> 8) && uint8_t(buf[1]) == uint8_t(id) &&
                (buf[3] & 0x0f) == 0 && (uint8_t(buf[6]) << 8 | uint8_t(buf[7])) > 0) {
                ++b.answered;
                b.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
                break;
            }
        }
        std::this_thread::sleep_for(milliseconds(5));
    }
    ::close(fd);
    return b;
}

// The same over one kept TCP connection (RFC 7766 framing, one query at a
// time): not subject to the UDP socket queue the flood fills, so it shows
// whether the server itself still serves a cached name promptly.
Bystander tcp_bystander(uint16_t port, const std::string& name, std::atomic<bool>& stop) {
    Bystander b;
    const int fd = testing::tcp_connect(port);
    if (fd < 0) return b;
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint16_t id = 1;
    std::vector<uint8_t> buf(65536);
    while (!stop) {
        testing::QueryOptions o = edns_query();
        o.id = ++id;
        const testing::Bytes q = testing::make_query(name, "A", o);
        testing::Bytes framed{uint8_t(q.size() >> 8), uint8_t(q.size())};
        framed.insert(framed.end(), q.begin(), q.end());
        ++b.asked;
        const auto t0 = Clock::now();
        if (::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) != ssize_t(framed.size())) break;
        size_t got = 0, want = 2;
        while (got < want) {
            const ssize_t n = ::recv(fd, buf.data() + got, want - got, 0);
            if (n <= 0) break;
            got += size_t(n);
            if (got == 2 && want == 2) want = 2 + (size_t(buf[0]) << 8 | buf[1]);
        }
        if (got < 14 || got != want) break;  // timed out or closed: counted as unanswered
        const uint8_t* m = buf.data() + 2;
        if (m[0] == uint8_t(id >> 8) && m[1] == uint8_t(id) && (m[3] & 0x0f) == 0 && (m[6] << 8 | m[7]) > 0) {
            ++b.answered;
            b.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        std::this_thread::sleep_for(milliseconds(5));
    }
    ::close(fd);
    return b;
}

// Samples the server's RSS every 20 ms until `stop`; returns the peak (KiB).
long sample_peak(pid_t pid, std::atomic<bool>& stop) {
    long peak = 0;
    while (!stop) {
        peak = std::max(peak, rss_kib(pid));
        std::this_thread::sleep_for(milliseconds(20));
    }
    return std::max(peak, rss_kib(pid));
}

void check_rss(long base_kib, long peak_kib) {
    INFO("RSS base " << base_kib << " KiB, peak " << peak_kib << " KiB, budget " << kBudgetKiB << " KiB");
    if (kSanitized)
        CHECK(peak_kib - base_kib < 6 * kBudgetKiB);
    else
        CHECK(peak_kib < kBudgetKiB);
}

// Waits up to `ms` for the descriptor count to come back to `base` (+1 per
// worker: the upstream socket its last query used stays pooled). forward keeps idle
// upstream sockets until `expire` (2 s in these Corefiles) and closes them
// all when it next needs one and finds the newest expired (CoreDNS closes
// them on a ticker): so a quiet spell past `expire`, then one query.
int fds_settle(const testing::ServerProcess& sp, int base, int ms) {
    int n = open_fds(sp.pid());
    for (int i = 0; i < ms / 2600 && n > base + 2; ++i) {
        std::this_thread::sleep_for(milliseconds(2600));
        testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("settle" + std::to_string(i) + ".example.", "A"), 300);
        n = open_fds(sp.pid());
    }
    return n;
}

// forward keeps up to 4 connected UDP sockets per upstream per worker
// (kLiveUdpSockets in plugins/forward/internal.hpp), each replaced once
// idle past `expire`: that many may stay open after a flood without a leak.
int udp_pool_slack(int upstreams) {
    return 4 * upstreams * int(std::max(1u, std::thread::hardware_concurrency()));
}

// Datagrams the kernel dropped at the server's UDP sockets bound to
// 127.0.0.1:`port` (one per worker, SO_REUSEPORT): the `drops` column of
// /proc/net/udp.
uint64_t udp_drops(uint16_t port) {
    std::ifstream f("/proc/net/udp");
    char want[16];
    std::snprintf(want, sizeof want, "0100007F:%04X", unsigned(port));
    uint64_t drops = 0;
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
        std::istringstream in(line);
        std::vector<std::string> col;
        for (std::string c; in >> c;) col.push_back(c);
        if (col.size() >= 13 && col[1] == want) drops += std::stoull(col.back());
    }
    return drops;
}

struct FloodRun {
    FloodResult flood;
    Bystander bystander, tcp, uncached, stale;
    long base_kib = 0, peak_kib = 0;
    uint64_t kernel_drops = 0;  // datagrams dropped at the server's full socket queues
    // The fraction of the datagrams sent to the server that the kernel
    // dropped (the flood's, nearly all of them).
    double drop_rate() const { return flood.sent ? std::min(1.0, double(kernel_drops) / double(flood.sent)) : 0; }
};

// The share of UDP bystander exchanges that may go unanswered. The kernel
// drops a full socket queue's overflow whoever sent it; with a fraction p
// of the datagrams dropped, an exchange that sends up to 10 times (every
// 200 ms for 2 s) is lost whatever the server does with probability ~p^10:
// 10 % is allowed, or three times p^10 when the kernel drops more (a slower
// machine: p = 0.8 loses ~11 % and failed the old fixed 90 %), never more
// than half, so a server that stops answering them still fails.
double unanswered_allowed(const FloodRun& r) {
    return std::clamp(3 * std::pow(r.drop_rate(), 10), 0.10, 0.50);
}

// A UDP bystander behind the flood's socket queue: answered as the kernel's
// drops allow. When it drops so much that most exchanges lose all ten sends
// whatever the server does (p^10 > 0.4: p = 0.98 with an ASan server on a
// busy machine), or under sanitizers (several times slower, ~97 % of the
// flood left queued), an exchange takes seconds and only a handful fit in
// the flood's 8 s (5-6 asked, 2 answered in one run): what still holds is
// that they get through at all. The TCP bystander is the check of the
// server itself.
void check_udp_answered(const Bystander& b, const FloodRun& r) {
    INFO("kernel drop rate " << r.drop_rate() << ", unanswered allowed " << unanswered_allowed(r));
    if (kSanitized || std::pow(r.drop_rate(), 10) > 0.4) {
        CHECK(b.asked >= 3);
        CHECK(b.answered >= 1);
    } else {
        CHECK(b.asked > 10);
        CHECK(b.answered >= double(b.asked) * (1 - unanswered_allowed(r)));
    }
}

// TCP: every cached query answered, p99 bounded (not behind the UDP socket
// queue: this is what the server itself does). UDP: answered as the
// kernel's drops allow (above; all of them when the server keeps up).
void check_bystanders(const FloodRun& r) {
    CHECK(r.tcp.asked > 50);
    CHECK(r.tcp.answered == r.tcp.asked);
    CHECK(r.tcp.p99() < kBystanderP99Ms);
    check_udp_answered(r.bystander, r);
}

// `uncached_zone` non-empty: a third client (from 127.0.0.2) asks a new
// name under it each time, answered by the upstream.
// The uncached bystander (its own address, so its own per-client count):
// answered like the cached UDP one (it shares the server's socket queue
// with the flood), and its median under `p50_bound_ms`.
void check_uncached(const FloodRun& r, double p50_bound_ms) {
    check_udp_answered(r.uncached, r);
    // Sanitizer builds run the server several times slower: the bound triples.
    CHECK(r.uncached.p50() < (kSanitized ? 3 * p50_bound_ms : p50_bound_ms));
}

// `stale_name` non-empty: a fourth client asks that (expired) name from
// the flooder's address, whose per-client count the flood keeps full.
FloodRun run_flood(testing::ServerProcess& sp, const std::string& cached_name, uint64_t max_queries,
                   Clock::duration duration, const std::string& uncached_zone = "",
                   const std::string& stale_name = "") {
    FloodRun run;
    run.base_kib = rss_kib(sp.pid());
    const uint64_t drops_before = udp_drops(sp.port());
    std::atomic<bool> stop{false}, flood_done{false};
    std::thread rss([&] { run.peak_kib = sample_peak(sp.pid(), flood_done); });
    std::thread by([&] { run.bystander = bystander(sp.port(), cached_name, stop); });
    std::thread tcp([&] { run.tcp = tcp_bystander(sp.port(), cached_name, stop); });
    std::thread unc;
    if (!uncached_zone.empty())
        unc = std::thread([&] { run.uncached = bystander(sp.port(), uncached_zone, stop, true, "127.0.0.2"); });
    std::thread stale;
    if (!stale_name.empty()) stale = std::thread([&] { run.stale = bystander(sp.port(), stale_name, stop); });
    run.flood = flood(sp.port(), max_queries, duration, stop);
    stop = true;
    by.join();
    tcp.join();
    if (unc.joinable()) unc.join();
    if (stale.joinable()) stale.join();
    flood_done = true;
    rss.join();
    run.kernel_drops = udp_drops(sp.port()) - drops_before;
    return run;
}

void report(const char* what, const FloodRun& r, const std::string& metrics_scrape) {
    WARN(what << ": " << r.flood.sent << " queries sent, " << r.flood.answered << " answered; RSS "
              << r.base_kib << " -> peak " << r.peak_kib << " KiB; UDP bystander " << r.bystander.answered << "/"
              << r.bystander.asked << " answered, p99 " << r.bystander.p99() << " ms; TCP bystander "
              << r.tcp.answered << "/" << r.tcp.asked << ", p99 " << r.tcp.p99() << " ms; uncached bystander "
              << r.uncached.answered << "/" << r.uncached.asked << ", p50 " << r.uncached.p50() << " ms, p99 "
              << r.uncached.p99() << " ms; kernel drops " << r.kernel_drops << " (" << r.drop_rate()
              << "); peak RSS " << r.peak_kib << " KiB; cache bytes "
              << testing::metric_family_sum(metrics_scrape, "dnscore_memory_budget_cache_bytes") << ", evictions "
              << testing::metric_family_sum(metrics_scrape, "coredns_cache_evictions_total") << ", forward max_concurrent rejects "
              << testing::metric_family_sum(metrics_scrape, "coredns_forward_max_concurrent_rejects_total") << ", forward shed "
              << testing::metric_family_sum(metrics_scrape, "dnscore_forward_shed_total"));
}

}  // namespace

TEST_CASE("random-name flood with the upstream black-holed: bounded memory, cached names answered",
          "[e2e][flood]") {
    testing::FakeUpstream up;  // answers the priming query, then never again
    BlackHole hole;
    // Two upstreams, both silent during the flood: `hole` never reads,
    // `up` answers the priming query, then reads and ignores.
    // Round robin: the priming query may try the hole first (2 s), then `up`.
    // max_pending / max_pending_per_client bound the exchanges in flight:
    // without them each black-holed exchange lives for forward's 5 s
    // deadline, up to 65,536 per worker, and RSS went past 600 MiB
    // (docs/reliability.md); with them the flooder is answered SERVFAIL
    // at once past its share.
    testing::ServerProcess sp(
        corefile(up.addr() + " " + hole.addr(),
                 "        policy round_robin\n        max_pending 1000\n        max_pending_per_client 200\n"
                 "        expire 2s\n"),
        {"-memlimit", "64MiB"});
    REQUIRE(sp.started());
    const std::string metrics = testing::served_address(sp, "prometheus", "/metrics");
    REQUIRE_FALSE(metrics.empty());
    REQUIRE(testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("cached.example.", "A", edns_query()), 6000).size() > 12);
    CHECK(testing::scrape_metric(metrics, "dnscore_memory_budget_bytes") == 64.0 * 1024 * 1024);
    up.set_mode(testing::FakeUpstream::Mode::no_answer);
    const int base_fds = open_fds(sp.pid());

    const FloodRun r = run_flood(sp, "cached.example.", 5000000, std::chrono::seconds(8));
    report("black-holed upstream", r, testing::http_get(metrics, "/metrics").body);
    CHECK(r.flood.sent > 10000);
    check_rss(r.base_kib, r.peak_kib);
    check_bystanders(r);
    const std::string during = testing::http_get(metrics, "/metrics").body;
    CHECK(testing::metric_value(during, "dnscore_forward_shed_total{reason=\"max_pending_per_client\"}") > 1000);

    // Recovery: with `up` answering again, the exchanges to the hole time
    // out, its idle sockets expire (closed when forward next uses that
    // upstream; round robin sends it some of the settling queries), and
    // uncached names resolve.
    up.set_mode(testing::FakeUpstream::Mode::answer);
    CHECK(fds_settle(sp, base_fds, 15000) <= base_fds + udp_pool_slack(2));
    testing::Bytes fresh;
    for (int i = 0; i < 3 && fresh.size() <= 12; ++i) {
        fresh = testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("after.example.", "A"), 6000);
        if (fresh.size() <= 12 || (fresh[3] & 0x0f) != 0) {
            fresh.clear();
            std::this_thread::sleep_for(milliseconds(200));
        }
    }
    CHECK(fresh.size() > 12);
    CHECK(sp.alive());
}

TEST_CASE("random-name flood with the upstream black-holed and no caps configured: the budget bounds the exchanges in flight",
          "[e2e][flood]") {
    // No max_pending, no max_pending_per_client: the defaults derived from
    // the 64 MiB budget (plugins/forward/README.md) must keep RSS under it;
    // without them this flood took RSS to 553-776 MiB (docs/reliability.md).
    // The upstream answers the priming queries (stale.* with TTL 1, so its
    // entry expires before the flood), then nothing.
    testing::FakeUpstream up;
    std::atomic<bool> answering{true};
    up.set_responder([&answering](const std::vector<uint8_t>& q) -> std::vector<uint8_t> {
        wire::QueryInfo info;
        if (!answering || wire::parse_query(q.data(), q.size(), info) != wire::Verdict::ok) return {};
        char name[1024];
        const std::string text(name, wire::name_to_text(info.name, info.name_len, name, sizeof name));
        const std::string ttl = text.rfind("stale.", 0) == 0 ? "1" : "60";
        return testing::make_reply(q, 0, {text + " " + ttl + " IN A 192.0.2.1"});
    });
    // MINTTL 1: the stale.* entry lives its 1 s TTL, not the default 5 s.
    testing::ServerProcess sp(corefile(up.addr(), "        expire 2s\n", "1000000 300 1"), {"-memlimit", "64MiB"});
    REQUIRE(sp.started());
    const std::string metrics = testing::served_address(sp, "prometheus", "/metrics");
    REQUIRE_FALSE(metrics.empty());
    REQUIRE(testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("cached.example.", "A", edns_query())).size() > 12);
    REQUIRE(testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("stale.example.", "A", edns_query())).size() > 12);
    answering = false;
    std::this_thread::sleep_for(milliseconds(1100));  // stale.example. expires

    const FloodRun r = run_flood(sp, "cached.example.", 5000000, std::chrono::seconds(6), "", "stale.example.");
    const std::string after = testing::http_get(metrics, "/metrics").body;
    report("black-holed upstream, no caps", r, after);
    WARN("no caps: shed " << testing::metric_family_sum(after, "dnscore_forward_shed_total") << " (per client "
                          << testing::metric_value(after, "dnscore_forward_shed_total{reason=\"max_pending_per_client\"}")
                          << "), answered stale instead " << testing::metric_family_sum(after, "dnscore_cache_shed_stale_total")
                          << "; stale bystander " << r.stale.answered << "/" << r.stale.asked);
    REQUIRE(sp.alive());
    CHECK(r.flood.sent > 10000);
    check_rss(r.base_kib, r.peak_kib);
    check_bystanders(r);
    // The flooder's address hits its derived per-client bound.
    CHECK(testing::metric_value(after, "dnscore_forward_shed_total{reason=\"max_pending_per_client\"}") > 1000);
    // Its expired name, shed with it, is answered from the cache rather
    // than SERVFAIL.
    CHECK(r.stale.answered > 0);
    CHECK(testing::metric_family_sum(after, "dnscore_cache_shed_stale_total") > 0);

    // Once the black-holed exchanges reach forward's 5 s deadline, new
    // names from the flooder's address go upstream again.
    answering = true;
    testing::Bytes fresh;
    for (int i = 0; i < 40 && fresh.size() <= 12; ++i) {
        fresh = testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("after" + std::to_string(i) + ".example.", "A"), 1000);
        if (fresh.size() <= 12 || (fresh[3] & 0x0f) != 0) {
            fresh.clear();
            std::this_thread::sleep_for(milliseconds(200));
        }
    }
    CHECK(fresh.size() > 12);
}

TEST_CASE("random-name flood with a fast upstream: the caches stay inside the budget", "[e2e][flood]") {
    testing::FakeUpstream up;
    up.set_extra_records(40);  // ~700-byte answers: the caches fill fast
    testing::ServerProcess sp(
        corefile(up.addr(), "        max_pending 1000\n        max_pending_per_client 200\n        expire 2s\n"),
        {"-memlimit", "64MiB"});
    REQUIRE(sp.started());
    const std::string metrics = testing::served_address(sp, "prometheus", "/metrics");
    REQUIRE_FALSE(metrics.empty());
    REQUIRE(testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("cached.example.", "A", edns_query())).size() > 12);
    const int base_fds = open_fds(sp.pid());

    const FloodRun r = run_flood(sp, "cached.example.", 5000000, std::chrono::seconds(8), "bystander.example.");
    const std::string after = testing::http_get(metrics, "/metrics").body;
    report("fast upstream", r, after);
    REQUIRE(sp.alive());
    CHECK(r.flood.answered > 1000);
    check_rss(r.base_kib, r.peak_kib);
    check_bystanders(r);
    check_uncached(r, kUncachedP50Ms);
    // The caches filled their share (40 % of the budget) and stayed in it.
    const double cache_bytes = testing::metric_family_sum(after, "dnscore_memory_budget_cache_bytes");
    CHECK(cache_bytes <= 0.4 * 64 * 1024 * 1024);
    CHECK(cache_bytes > 0.3 * 64 * 1024 * 1024);
    CHECK(testing::metric_family_sum(after, "coredns_cache_evictions_total") > 0);
    CHECK(testing::metric_family_sum(after, "dnscore_cache_bytes") == testing::metric_family_sum(after, "dnscore_memory_budget_cache_bytes"));
    CHECK(fds_settle(sp, base_fds, 10000) <= base_fds + udp_pool_slack(1));
    CHECK(testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("after.example.", "A")).size() > 12);
}

TEST_CASE("random-name flood with a slow upstream (300 ms): per-client caps keep another client's uncached names answered",
          "[e2e][flood]") {
    testing::FakeUpstream up;
    // The flooder alone could fill max_pending (1000 exchanges of 300 ms
    // are ~3,300 queries/s); its own cap (200) leaves room for others.
    testing::ServerProcess sp(
        corefile(up.addr(), "        max_pending 1000\n        max_pending_per_client 200\n        expire 2s\n"),
        {"-memlimit", "64MiB"});
    REQUIRE(sp.started());
    const std::string metrics = testing::served_address(sp, "prometheus", "/metrics");
    REQUIRE_FALSE(metrics.empty());
    REQUIRE(testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("cached.example.", "A", edns_query())).size() > 12);
    up.set_delay_ms(300);
    const int base_fds = open_fds(sp.pid());

    const FloodRun r = run_flood(sp, "cached.example.", 5000000, std::chrono::seconds(8), "bystander.example.");
    const std::string after = testing::http_get(metrics, "/metrics").body;
    report("slow upstream (300 ms)", r, after);
    WARN("slow upstream shed: max_pending "
         << testing::metric_value(after, "dnscore_forward_shed_total{reason=\"max_pending\"}") << ", per client "
         << testing::metric_value(after, "dnscore_forward_shed_total{reason=\"max_pending_per_client\"}"));
    REQUIRE(sp.alive());
    CHECK(r.flood.answered > 1000);
    check_rss(r.base_kib, r.peak_kib);
    check_bystanders(r);
    // Each uncached answer takes the upstream's 300 ms at least.
    check_uncached(r, kUncachedP50Ms);
    CHECK(testing::metric_value(after, "dnscore_forward_shed_total{reason=\"max_pending_per_client\"}") > 1000);

    up.set_delay_ms(0);
    CHECK(fds_settle(sp, base_fds, 10000) <= base_fds + udp_pool_slack(1));
    CHECK(testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("after.example.", "A"), 3000).size() > 12);
}

TEST_CASE("500 slowloris TCP connections: closed by the read timeout, bystander answered throughout",
          "[e2e][flood][tcp]") {
    constexpr int kConnections = 500;
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < kConnections + 256) {
        rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, kConnections + 256);
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < kConnections + 256) {
        WARN("SKIP: the open-file limit is below " << kConnections + 256);
        return;
    }
    testing::FakeUpstream up;
    testing::ServerProcess sp(corefile(up.addr()), {"-memlimit", "64MiB"});
    REQUIRE(sp.started());
    const std::string metrics = testing::served_address(sp, "prometheus", "/metrics");
    REQUIRE_FALSE(metrics.empty());
    REQUIRE(testing::udp_exchange("127.0.0.1", sp.port(), testing::make_query("cached.example.", "A", edns_query())).size() > 12);
    const int base_fds = open_fds(sp.pid());
    const long base_kib = rss_kib(sp.pid());

    std::atomic<bool> stop{false};
    long peak_kib = 0;
    std::thread rss([&] { peak_kib = sample_peak(sp.pid(), stop); });
    Bystander by;
    std::thread byt([&] { by = bystander(sp.port(), "cached.example.", stop); });

    // Each connection sends the first byte of a length prefix, then one more
    // byte a second: never a whole query.
    const testing::Bytes q = testing::make_query("slow.example.", "A");
    testing::Bytes framed{uint8_t(q.size() >> 8), uint8_t(q.size())};
    framed.insert(framed.end(), q.begin(), q.end());
    std::vector<int> fds;
    for (int i = 0; i < kConnections; ++i) {
        const int fd = testing::tcp_connect(sp.port());
        REQUIRE(fd >= 0);
        ::send(fd, framed.data(), 1, MSG_NOSIGNAL);
        fds.push_back(fd);
    }
    // Connecting 500 takes a while on a loaded machine and each is closed
    // 3 s after its accept: the most open at once is sampled.
    double open_peak = 0;
    for (int i = 0; i < 10; ++i) {
        open_peak = std::max(open_peak, testing::scrape_metric(metrics, "dnscore_tcp_connections"));
        std::this_thread::sleep_for(milliseconds(100));
    }
    int closed_by_server = 0;
    std::vector<bool> closed(fds.size(), false);
    for (size_t step = 1; step < 8 && closed_by_server < kConnections; ++step) {
        std::this_thread::sleep_for(milliseconds(1000));
        for (size_t i = 0; i < fds.size(); ++i) {
            if (closed[i]) continue;
            char c;
            const ssize_t n = ::recv(fds[i], &c, 1, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                ::send(fds[i], framed.data() + step, 1, MSG_NOSIGNAL) < 0) {
                closed[i] = true;
                ++closed_by_server;
            }
        }
    }
    stop = true;
    byt.join();
    rss.join();
    for (int fd : fds) ::close(fd);
    const std::string after = testing::http_get(metrics, "/metrics").body;
    WARN("500 slowloris connections: " << open_peak << " open at once, " << closed_by_server
                                       << " closed by the server within 8 s; RSS " << base_kib << " -> peak "
                                       << peak_kib << " KiB; bystander " << by.answered << "/" << by.asked
                                       << ", p99 " << by.p99() << " ms; dropped "
                                       << testing::metric_family_sum(after, "dnscore_tcp_connections_dropped_total"));
    CHECK(open_peak >= 100);
    // The 3 s first-read timeout: trickling bytes does not keep a connection.
    CHECK(closed_by_server == kConnections);
    check_rss(base_kib, peak_kib);
    CHECK(by.answered == by.asked);
    CHECK(by.p99() < kBystanderP99Ms);
    CHECK(fds_settle(sp, base_fds, 5000) <= base_fds + 2);
    double left = -1;
    for (int i = 0; i < 100 && left != 0; ++i) {
        left = testing::scrape_metric(metrics, "dnscore_tcp_connections");
        if (left != 0) std::this_thread::sleep_for(milliseconds(50));
    }
    CHECK(left == 0);
    CHECK(testing::tcp_exchange("127.0.0.1", sp.port(), testing::make_query("after.example.", "A"), 2000).size() > 12);
}

TEST_CASE("5,000 idle TCP connections under a 64 MiB budget: its connection share (4,096) open, the rest closed at once, RSS bounded, cached names answered throughout",
          "[e2e][flood][tcp]") {
    constexpr int kConnections = 5000;
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < kConnections + 256) {
        rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, kConnections + 256);
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < kConnections + 256) {
        WARN("SKIP: the hard limit of open files is below " << kConnections + 256 << " (ulimit -Hn)");
        return;
    }
    testing::FakeUpstream up;
    testing::ServerProcess sp(corefile(up.addr(), "        max_pending 1000\n        max_pending_per_client 200\n"),
                              {"-memlimit", "64MiB"});
    REQUIRE(sp.started());
    const std::string metrics = testing::served_address(sp, "prometheus", "/metrics");
    REQUIRE_FALSE(metrics.empty());
    const testing::Bytes query = testing::make_query("cached.example.", "A", edns_query());
    REQUIRE(testing::udp_exchange("127.0.0.1", sp.port(), query).size() > 12);
    const int base_fds = open_fds(sp.pid());
    const long base_kib = rss_kib(sp.pid());

    std::atomic<bool> stop{false};
    long peak_kib = 0;
    std::thread rss([&] { peak_kib = sample_peak(sp.pid(), stop); });
    Bystander by;
    std::thread byt([&] { by = bystander(sp.port(), "cached.example.", stop); });

    // Each connection sends one query and reads its answer, then stays open
    // and silent (within the 10 s idle timeout; the 3 s first-read timeout
    // would close never-used ones before a slow machine opened them all).
    testing::Bytes one{uint8_t(query.size() >> 8), uint8_t(query.size())};
    one.insert(one.end(), query.begin(), query.end());
    std::vector<int> fds;
    for (int i = 0; i < kConnections; ++i) {
        const int fd = testing::tcp_connect(sp.port());
        REQUIRE(fd >= 0);
        REQUIRE(::send(fd, one.data(), one.size(), MSG_NOSIGNAL) == ssize_t(one.size()));
        fds.push_back(fd);
    }
    int answered = 0;
    for (int fd : fds) {
        pollfd p{fd, POLLIN, 0};
        char buf[4096];
        if (::poll(&p, 1, 5000) == 1 && ::recv(fd, buf, sizeof buf, 0) > 2) ++answered;
    }
    // Held idle for 2 s (under the 10 s idle timeout) while the bystander asks.
    std::this_thread::sleep_for(milliseconds(2000));
    const double open = testing::scrape_metric(metrics, "dnscore_tcp_connections");
    const double limit = testing::scrape_metric(metrics, "dnscore_tcp_connections_limit");
    const double refused = testing::scrape_metric(metrics, "dnscore_tcp_connections_dropped_total{reason=\"limit\"}");
    stop = true;
    byt.join();
    rss.join();
    for (int fd : fds) ::close(fd);
    WARN("5,000 idle TCP connections under 64 MiB: limit " << limit << ", " << answered << " answered, " << open
                                                           << " open at once, " << refused
                                                           << " closed at once; RSS " << base_kib << " -> peak "
                                                           << peak_kib << " KiB; UDP bystander " << by.answered << "/"
                                                           << by.asked << ", p99 " << by.p99() << " ms");
    // A quarter of 64 MiB at 4 KiB a connection (core/memory_budget.hpp),
    // split between the workers (each rounds up; the kernel spreads the
    // connections over them, so each fills its part).
    const int workers = int(std::max(1u, std::thread::hardware_concurrency()));
    CHECK(limit == 4096);
    CHECK(open <= limit + workers);
    CHECK(open >= 0.9 * limit);
    CHECK(answered == int(open));         // every open connection was answered...
    CHECK(answered + refused == kConnections);  // ...and every other one closed at once
    check_rss(base_kib, peak_kib);
    CHECK(by.asked > 10);
    CHECK(by.answered == by.asked);
    CHECK(by.p99() < kBystanderP99Ms);
    // 5,000 closes to notice: up to 20 s (an ASan server on a shared CI
    // machine is several times slower than the 0.5 s measured here).
    double left = -1;
    for (int i = 0; i < 400 && left != 0; ++i) {
        left = testing::scrape_metric(metrics, "dnscore_tcp_connections");
        if (left != 0) std::this_thread::sleep_for(milliseconds(50));
    }
    CHECK(left == 0);
    // The gauge drops when a connection ends, its descriptor closes just
    // after: wait for the count as the other floods do.
    CHECK(fds_settle(sp, base_fds, 8000) <= base_fds + 2);
    CHECK(testing::tcp_exchange("127.0.0.1", sp.port(), testing::make_query("after.example.", "A"), 2000).size() > 12);
}

TEST_CASE("-memlimit: a malformed value stops the start with a clear error; GOMEMLIMIT is read", "[e2e][budget]") {
    {
        testing::ServerProcess sp(".:0 {\n    whoami\n}\n", {"-memlimit", "lots"});
        CHECK_FALSE(sp.started());
        CHECK(sp.err().find("invalid -memlimit lots") != std::string::npos);
    }
    ::setenv("GOMEMLIMIT", "100MiB", 1);
    testing::ServerProcess sp(".:0 {\n    whoami\n    prometheus 127.0.0.1:0\n}\n");
    ::unsetenv("GOMEMLIMIT");
    REQUIRE(sp.started());
    const std::string metrics = testing::served_address(sp, "prometheus", "/metrics");
    REQUIRE_FALSE(metrics.empty());
    CHECK(testing::scrape_metric(metrics, "dnscore_memory_budget_bytes") == 100.0 * 1024 * 1024);
}
