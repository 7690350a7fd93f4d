// forward: pure logic (upstream order policies, resolv.conf parsing, name
// matching with except, address parsing), and the in-flight bounds derived
// from the memory budget (through a chain with a silent loopback upstream).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <map>
#include <set>

#include <unistd.h>

#include "corefile/loader.hpp"
#include "core/memory_budget.hpp"
#include "plugins/forward/forward.hpp"
#include "plugins/forward/internal.hpp"
#include "plugins/forward/metrics.hpp"
#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/test_query.hpp"

using namespace dnscore;
using namespace dnscore::plugins::forward;

namespace {
uint64_t counter_rng(void* ctx) { return (*static_cast<uint64_t*>(ctx))++; }
uint64_t lcg_rng(void* ctx) {
    auto& s = *static_cast<uint64_t*>(ctx);
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return s >> 33;
}
std::vector<int> order_of(Policy p, size_t n, std::atomic<uint32_t>& robin, uint64_t& seed,
                          uint64_t (*rng)(void*) = lcg_rng) {
    uint8_t o[kMaxUpstreams];
    upstream_order(p, n, rng, &seed, robin, o);
    return std::vector<int>(o, o + n);
}
std::vector<uint8_t> name(const std::string& text) {
    std::vector<uint8_t> w(255);
    w.resize(wire::text_to_name(text, w.data()));
    return w;
}
}  // namespace

TEST_CASE("forward policy: sequential keeps configuration order", "[forward]") {
    std::atomic<uint32_t> robin{0};
    uint64_t seed = 1;
    CHECK(order_of(Policy::sequential, 4, robin, seed) == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("forward policy: round_robin is [p_i, p_0..p_{i-1}, p_{i+1}..]", "[forward]") {
    std::atomic<uint32_t> robin{0};
    uint64_t seed = 1;
    // The counter is incremented before use, as CoreDNS's atomic.AddUint32.
    CHECK(order_of(Policy::round_robin, 4, robin, seed) == std::vector<int>{1, 0, 2, 3});
    CHECK(order_of(Policy::round_robin, 4, robin, seed) == std::vector<int>{2, 0, 1, 3});
    CHECK(order_of(Policy::round_robin, 4, robin, seed) == std::vector<int>{3, 0, 1, 2});
    CHECK(order_of(Policy::round_robin, 4, robin, seed) == std::vector<int>{0, 1, 2, 3});
    CHECK(order_of(Policy::round_robin, 1, robin, seed) == std::vector<int>{0});
}

TEST_CASE("forward policy: random is a permutation, two upstreams a coin flip", "[forward]") {
    std::atomic<uint32_t> robin{0};
    uint64_t seed = 42;
    std::map<std::vector<int>, int> seen;
    for (int i = 0; i < 2000; ++i) {
        auto o = order_of(Policy::random, 3, robin, seed);
        CHECK(std::set<int>(o.begin(), o.end()) == std::set<int>{0, 1, 2});
        seen[o]++;
    }
    CHECK(seen.size() == 6);  // every permutation occurs
    for (auto& [o, count] : seen) CHECK(count > 200);
    uint64_t c = 0;
    CHECK(order_of(Policy::random, 2, robin, c, counter_rng) == std::vector<int>{1, 0});  // even -> swap
    CHECK(order_of(Policy::random, 2, robin, c, counter_rng) == std::vector<int>{0, 1});
    CHECK(robin.load() == 0);  // only round_robin touches the shared counter
}

TEST_CASE("forward: resolv.conf parsing", "[forward]") {
    CHECK(resolv_conf_nameservers("nameserver 1.2.3.4\n#nameserver 9.9.9.9\n\tnameserver\t::1 extra\n"
                                  "domain x\nnameserver\nnameserver 5.6.7.8") ==
          std::vector<std::string>{"1.2.3.4", "::1", "5.6.7.8"});
    CHECK(resolv_conf_nameservers("").empty());
    CHECK(resolv_conf_nameservers("search a b\n").empty());
}

TEST_CASE("forward: address parsing", "[forward]") {
    sockaddr_storage ss;
    socklen_t len;
    REQUIRE(to_sockaddr("127.0.0.1:5353", ss, len));
    CHECK(ss.ss_family == AF_INET);
    CHECK(ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port) == 5353);
    REQUIRE(to_sockaddr("[::1]:53", ss, len));
    CHECK(ss.ss_family == AF_INET6);
    CHECK_FALSE(to_sockaddr("127.0.0.1", ss, len));
    CHECK_FALSE(to_sockaddr("127.0.0.1:99999", ss, len));
    CHECK_FALSE(to_sockaddr("127.0.0.1:dns", ss, len));
    CHECK_FALSE(to_sockaddr("host.example:53", ss, len));
}

TEST_CASE("forward: FROM and except decide which names are handled", "[forward]") {
    auto set = corefile::load(".:1053 {\n forward example.org 127.0.0.1 {\n except a.example.org b.EXAMPLE.org\n }\n}\n",
                              "Corefile", {});
    auto* f = static_cast<Forward*>(set->blocks[0]->chain[0]);
    auto m = [&](const std::string& n) {
        auto w = name(n);
        return f->matches(w.data(), w.size());
    };
    CHECK(m("example.org."));
    CHECK(m("www.example.org."));
    CHECK_FALSE(m("example.com."));
    CHECK_FALSE(m("org."));
    CHECK_FALSE(m("a.example.org."));
    CHECK_FALSE(m("x.a.example.org."));
    CHECK_FALSE(m("b.example.org."));
    CHECK(m("c.example.org."));
    CHECK(m("xa.example.org."));

    // FROM itself is never excepted.
    auto set2 = corefile::load(".:1053 {\n forward example.org 127.0.0.1 {\n except example.org\n }\n}\n",
                               "Corefile", {});
    auto* f2 = static_cast<Forward*>(set2->blocks[0]->chain[0]);
    auto w = name("example.org.");
    CHECK(f2->matches(w.data(), w.size()));
    auto w2 = name("www.example.org.");
    CHECK_FALSE(f2->matches(w2.data(), w2.size()));
}

TEST_CASE("forward: query() passes unmatched names on and keeps matched ones", "[forward]") {
    auto set = corefile::load(".:1053 {\n forward example.org 127.0.0.1\n}\n", "Corefile", {});
    auto* f = set->blocks[0]->chain[0];
    Query q;
    uint8_t req[64];
    auto w = name("www.example.com.");
    std::memcpy(q.info.name, w.data(), w.size());
    q.info.name_len = uint8_t(w.size());
    q.req = req;
    CHECK(f->query(q) == Step::next);
    w = name("www.example.org.");
    std::memcpy(q.info.name, w.data(), w.size());
    q.info.name_len = uint8_t(w.size());
    CHECK(f->query(q) == Step::async);
}

#include "plugins/forward/internal.hpp"
#include "plugins/forward/metrics.hpp"

TEST_CASE("forward: pipelined replies are matched to waiters by ID", "[forward]") {
    boost::asio::io_context io;
    auto conn = std::make_shared<StreamConn>(io, nullptr);
    Waiter a(io), b(io), c(io);
    a.id = 0x1111;
    b.id = 0x2222;
    c.id = 0x3333;
    for (Waiter* w : {&a, &b, &c}) conn->waiting.push_back(w);
    CHECK(conn->has_id(0x2222));
    CHECK_FALSE(conn->has_id(0x4444));
    // Out of order: the second query's reply first.
    CHECK(conn->take_waiter(0x2222) == &b);
    CHECK(conn->take_waiter(0x2222) == nullptr);  // a duplicate reply matches nothing
    CHECK(conn->take_waiter(0x9999) == nullptr);  // a late reply for a finished exchange
    CHECK(conn->take_waiter(0x1111) == &a);
    // A failing connection fails everyone still waiting, with the error text.
    conn->fail_all("EOF", true);
    CHECK(conn->waiting.empty());
    CHECK(c.failed);
    CHECK(c.peer_closed);
    CHECK(c.err == "EOF");
    CHECK_FALSE(a.failed);
}

TEST_CASE("forward: pipelined writes are framed with a length prefix, in order", "[forward]") {
    boost::asio::io_context io;
    auto conn = std::make_shared<StreamConn>(io, nullptr);
    const uint8_t m1[] = {1, 2, 3}, m2[] = {4, 5};
    conn->enqueue(m1, sizeof m1);  // not connected yet: queued, not written
    conn->enqueue(m2, sizeof m2);
    CHECK(conn->outq == std::vector<uint8_t>{0, 3, 1, 2, 3, 0, 2, 4, 5});
    CHECK_FALSE(conn->writing);
}

// ---- bounds derived from the memory budget ----
namespace {
// A UDP socket on loopback that reads nothing: exchanges to it wait.
struct SilentUpstream {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    uint16_t port = 0;
    SilentUpstream() {
        sockaddr_in a = testing::loopback(0);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t l = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
        port = ntohs(a.sin_port);
    }
    ~SilentUpstream() { ::close(fd); }
};
// The process budget for one test case, set back to none after it. The
// exchanges a test leaves waiting are destroyed with its harness without
// finishing (declared after the scope, so destroyed before it): what they
// charged is given back here, so later tests start from the same count.
struct BudgetScope {
    const uint64_t charged_before = MemoryBudget::process().inflight_used();
    explicit BudgetScope(uint64_t limit) { MemoryBudget::process().set_limit(limit); }
    ~BudgetScope() {
        MemoryBudget& b = MemoryBudget::process();
        b.release_inflight(b.inflight_used() - charged_before);
        b.set_limit(0);
    }
};
std::vector<Forward*> load_forwards(const std::shared_ptr<ServerSet>& set) {
    std::vector<Forward*> out;
    for (const auto& b : set->blocks)
        for (const auto& p : b->plugins)
            if (auto* f = dynamic_cast<Forward*>(p.get())) out.push_back(f);
    return out;
}
}  // namespace

TEST_CASE("forward: derived bounds fill the budget's in-flight share; a client gets an eighth", "[forward][budget]") {
    CHECK(derived_bounds(0).max_pending == 0);
    CHECK(derived_bounds(0).max_pending_per_client == 0);
    const uint64_t share = 64ull * 1024 * 1024 * MemoryBudget::kInflightSharePercent / 100;
    const DerivedBounds d = derived_bounds(share);
    CHECK(d.max_pending == int64_t(share / kExchangeBytes));
    CHECK(d.max_pending * int64_t(kExchangeBytes) <= int64_t(share));
    CHECK(d.max_pending_per_client == d.max_pending / 8);
    // A waiting exchange costs a few KiB at most, not a 64 KiB reply buffer.
    CHECK(kExchangeBytes < 4096);
    CHECK(derived_bounds(kExchangeBytes).max_pending_per_client == 1);  // never 0 with a budget
}

TEST_CASE("forward: bounds in force: the Corefile's, else the budget's, else none", "[forward][budget]") {
    auto bounds = [](const std::string& forward) {
        auto set = corefile::load(".:53 {\n " + forward + "\n}\n", "Corefile", {});
        auto fs = load_forwards(set);
        REQUIRE(fs.size() == 1);
        return fs[0]->pending_bounds();
    };
    {
        const auto b = bounds("forward . 10.0.0.1");  // no budget: today's behaviour, no bound
        CHECK(b.max_pending == 0);
        CHECK(b.max_pending_per_client == 0);
    }
    BudgetScope scope(64ull * 1024 * 1024);
    const DerivedBounds d = derived_bounds(MemoryBudget::process().inflight_limit());
    REQUIRE(d.max_pending > 0);
    {
        const auto b = bounds("forward . 10.0.0.1");
        CHECK(b.max_pending == d.max_pending);
        CHECK(b.max_pending_from_budget);
        CHECK(b.max_pending_per_client == d.max_pending_per_client);
        CHECK(b.per_client_from_budget);
    }
    {
        const auto b = bounds("forward . 10.0.0.1 {\n max_pending 1000\n }");
        CHECK(b.max_pending == 1000);
        CHECK_FALSE(b.max_pending_from_budget);
        CHECK(b.max_pending_per_client == d.max_pending_per_client);  // each bound on its own
        CHECK(b.per_client_from_budget);
    }
    {
        // 0 written: no bound, not the derived one.
        const auto b = bounds("forward . 10.0.0.1 {\n max_pending 0\n max_pending_per_client 0\n }");
        CHECK(b.max_pending == 0);
        CHECK(b.max_pending_per_client == 0);
        CHECK_FALSE(b.max_pending_from_budget);
        CHECK_FALSE(b.per_client_from_budget);
    }
    {
        const auto b = bounds("forward . 10.0.0.1 {\n max_pending_per_client 7\n }");
        CHECK(b.max_pending_per_client == 7);
        CHECK_FALSE(b.per_client_from_budget);
        CHECK(b.max_pending_from_budget);
    }
}

TEST_CASE("forward: the derived max_pending charges every waiting exchange to the budget and sheds past it",
          "[forward][budget]") {
    SilentUpstream silent;
    // An in-flight share of three exchanges: max_pending 3.
    BudgetScope scope((3 * kExchangeBytes + 50) * 100 / MemoryBudget::kInflightSharePercent);
    REQUIRE(derived_bounds(MemoryBudget::process().inflight_limit()).max_pending == 3);
    testing::ChainHarness h(".:53 {\n forward . 127.0.0.1:" + std::to_string(silent.port) +
                            " {\n max_pending_per_client 0\n }\n}\n");
    MemoryBudget& budget = MemoryBudget::process();
    const uint64_t before = budget.inflight_used();
    // Two distinct names and a single-flight follower of the first: each
    // holds an exchange record, so each is charged.
    for (const char* n : {"a.example.", "b.example.", "a.example."}) {
        testing::TestQuery t(n, "A");
        const auto r = h.run(t);
        CHECK(r.async);
        CHECK(r.reply.empty());
    }
    CHECK(budget.inflight_used() - before == 3 * kExchangeBytes);
    auto& shed = plugins::forward::metrics::families().shed;
    const uint64_t shed_before = shed.value({plugins::forward::metrics::kShedMaxPending});
    testing::TestQuery over("c.example.", "A");
    const auto r = h.run(over);
    // Answered at once (the reply is already sent when run returns).
    REQUIRE(r.reply.size() >= wire::kHeaderLen);
    CHECK(wire::rcode(r.reply.data()) == wire::kServFail);
    CHECK(shed.value({plugins::forward::metrics::kShedMaxPending}) == shed_before + 1);
    CHECK(budget.inflight_used() - before == 3 * kExchangeBytes);  // the shed one took nothing
}

TEST_CASE("forward: background refreshes keep to an eighth of max_pending; clients' queries still go",
          "[forward][budget]") {
    SilentUpstream silent;
    // max_pending 16 written: refreshes may hold 2.
    testing::ChainHarness h(".:53 {\n forward . 127.0.0.1:" + std::to_string(silent.port) +
                            " {\n max_pending 16\n }\n}\n");
    auto fs = load_forwards(h.set());
    REQUIRE(fs.size() == 1);
    CHECK(fs[0]->pending_bounds().max_background == 2);
    for (const char* n : {"r1.example.", "r2.example."}) {
        testing::TestQuery t(n, "A");
        t.q.background = true;  // as the cache's prefetch starts it (run_below)
        CHECK(h.run(t).async);
    }
    auto& shed = plugins::forward::metrics::families().shed;
    const uint64_t shed_before = shed.value({plugins::forward::metrics::kShedBackground});
    testing::TestQuery third("r3.example.", "A");
    third.q.background = true;
    const auto r = h.run(third);
    REQUIRE(r.reply.size() >= wire::kHeaderLen);
    CHECK(wire::rcode(r.reply.data()) == wire::kServFail);
    CHECK(shed.value({plugins::forward::metrics::kShedBackground}) == shed_before + 1);
    // A client's query is not held back by the refreshes' share.
    testing::TestQuery client("c.example.", "A");
    CHECK(h.run(client).async);
}

TEST_CASE("forward: the derived per-client bound counts one address's waiting queries", "[forward][budget]") {
    SilentUpstream silent;
    // max_pending 16, so 2 per client.
    BudgetScope scope((16 * kExchangeBytes + 50) * 100 / MemoryBudget::kInflightSharePercent);
    REQUIRE(derived_bounds(MemoryBudget::process().inflight_limit()).max_pending_per_client == 2);
    testing::ChainHarness h(".:53 {\n forward . 127.0.0.1:" + std::to_string(silent.port) + "\n}\n");
    for (const char* n : {"a.example.", "b.example."}) {
        testing::TestQuery t(n, "A");
        t.client("192.0.2.1", 5353);
        CHECK(h.run(t).async);
    }
    auto& shed = plugins::forward::metrics::families().shed;
    const uint64_t shed_before = shed.value({plugins::forward::metrics::kShedPerClient});
    testing::TestQuery third("c.example.", "A");
    third.client("192.0.2.1", 5353);
    const auto r = h.run(third);
    REQUIRE(r.reply.size() >= wire::kHeaderLen);
    CHECK(wire::rcode(r.reply.data()) == wire::kServFail);
    CHECK(shed.value({plugins::forward::metrics::kShedPerClient}) == shed_before + 1);
    // Another address still gets through (unless its bucket is the same:
    // one in 4,096, from a seed chosen at start; two tries make it ~never).
    int through = 0;
    for (const char* ip : {"192.0.2.77", "198.51.100.9"}) {
        testing::TestQuery other("d.example.", "A");
        other.client(ip, 5353);
        through += h.run(other).reply.empty() ? 1 : 0;  // waiting upstream, not answered
    }
    CHECK(through >= 1);
}
