#include "plugins/cache/store.hpp"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using namespace dnscore::plugins::cache;

namespace {
// A key that owns its name (copyable: the pointer is re-aimed on copy).
struct NamedKey {
    uint8_t name[wire::kMaxNameLen];
    Key key;
    NamedKey(const std::string& text, uint16_t qtype, bool do_bit = false, bool cd_bit = false) {
        key.name_len = uint8_t(wire::text_to_name(text, name));
        key.name = name;
        key.qtype = qtype;
        key.do_bit = do_bit;
        key.cd_bit = cd_bit;
        key.hash = key_hash(process_seed(), name, key.name_len, qtype, do_bit, cd_bit);
    }
    NamedKey(const NamedKey& o) : key(o.key) {
        std::memcpy(name, o.name, sizeof name);
        key.name = name;
    }
    NamedKey& operator=(const NamedKey&) = delete;
};

Entry entry_for(const Key& k, const testing::Bytes& msg, uint32_t ttl = 60) {
    Entry e;
    REQUIRE(make_entry(msg.data(), msg.size(), k, 0, ttl, e));
    return e;
}
}  // namespace

TEST_CASE("capacity follows CoreDNS pkg/cache: 256 shards of max(cap/256, 4)", "[cache][store]") {
    CHECK(Store(10000).shard_capacity() == 39);
    CHECK(Store(9984).shard_capacity() == 39);
    CHECK(Store(0).shard_capacity() == 4);
    CHECK(Store(-5).shard_capacity() == 4);
    CHECK(Store(100000).shard_capacity() == 390);
}

TEST_CASE("entries record every TTL offset and the key; hits need a full match", "[cache][store]") {
    const auto q = testing::make_query("example.org.", "A");
    const auto r = testing::make_reply(q, 0, {"example.org. 300 IN A 192.0.2.1", "example.org. 300 IN A 192.0.2.2"},
                                       {}, {"ns.example.org. 5 IN A 192.0.2.53"});
    NamedKey k("example.org.", 1);
    Entry e = entry_for(k.key, r);
    CHECK(e.ttl_count == 3);
    CHECK(e.msg_len == r.size());
    CHECK(e.matches(k.key));

    Store s(1000);
    CHECK(s.insert(std::move(e)) == Store::Insert::stored);
    CHECK(s.size() == 1);
    int seen = 0;
    CHECK(s.visit(k.key, [&](Entry& found) {
        ++seen;
        return found.ttl_s == 60;
    }));
    CHECK(seen == 1);

    // Same hash, different key fields: never a hit (no hash-only hits).
    NamedKey other("example.org.", 1, true);
    other.key.hash = k.key.hash;
    CHECK_FALSE(s.visit(other.key, [](Entry&) { return true; }));
    NamedKey wrong_name("example.net.", 1);
    wrong_name.key.hash = k.key.hash;
    CHECK_FALSE(s.visit(wrong_name.key, [](Entry&) { return true; }));
}

TEST_CASE("a full shard evicts one entry per new key; a known key is replaced", "[cache][store]") {
    Store s(0);  // 4 per shard
    const auto q = testing::make_query("example.org.", "A");
    const auto r = testing::make_reply(q, 0, {"example.org. 300 IN A 192.0.2.1"});
    std::vector<NamedKey> keys;
    // Names that all land in shard 0.
    for (int i = 0; keys.size() < 6; ++i) {
        NamedKey k("n" + std::to_string(i) + ".example.org.", 1);
        if ((k.key.hash & (Store::kShards - 1)) == 0) keys.push_back(k);
    }
    int evictions = 0;
    for (auto& k : keys)
        if (s.insert(entry_for(k.key, r)) == Store::Insert::evicted) ++evictions;
    CHECK(evictions == 2);
    CHECK(s.size() == 4);
    int present = 0;
    for (auto& k : keys)
        if (s.visit(k.key, [](Entry&) { return true; })) ++present;
    CHECK(present == 4);
    // The last key stored is always present; replacing it evicts nothing.
    CHECK(s.insert(entry_for(keys.back().key, r, 99)) == Store::Insert::stored);
    CHECK(s.visit(keys.back().key, [](Entry& e) { return e.ttl_s == 99; }));
}

TEST_CASE("an insert skips a busy shard instead of waiting", "[cache][store]") {
    Store s(1000);
    const auto q = testing::make_query("example.org.", "A");
    const auto r = testing::make_reply(q, 0, {"example.org. 300 IN A 192.0.2.1"});
    NamedKey k("example.org.", 1);
    std::atomic<bool> inside{false}, release{false};
    s.insert(entry_for(k.key, r));
    std::thread holder([&] {
        s.visit(k.key, [&](Entry&) {
            inside = true;
            while (!release) std::this_thread::yield();
            return true;
        });
    });
    while (!inside) std::this_thread::yield();
    CHECK(s.insert(entry_for(k.key, r)) == Store::Insert::busy);
    release = true;
    holder.join();
    CHECK(s.insert(entry_for(k.key, r)) == Store::Insert::stored);
}

TEST_CASE("threads hammering one store", "[cache][store]") {
    Store s(2048);  // 8 per shard: plenty of evictions
    const auto q = testing::make_query("example.org.", "A");
    const auto r = testing::make_reply(q, 0, {"example.org. 300 IN A 192.0.2.1"});
    std::vector<NamedKey> keys;
    for (int i = 0; i < 4000; ++i) keys.emplace_back("h" + std::to_string(i) + ".example.org.", 1);
    std::atomic<long> hits{0}, bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            uint8_t buf[512];
            for (int round = 0; round < 5; ++round) {
                for (size_t i = size_t(t); i < keys.size(); i += 2) {
                    const Key& k = keys[i].key;
                    if (!s.visit(k, [&](Entry& e) {
                            std::memcpy(buf, e.msg(), e.msg_len);
                            if (!e.matches(k)) ++bad;
                            return true;
                        })) {
                        Entry e;
                        if (make_entry(r.data(), r.size(), k, 0, 60, e)) s.insert(std::move(e));
                    } else {
                        ++hits;
                    }
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(bad == 0);
    CHECK(hits > 0);
    CHECK(s.size() <= 2048);
}

TEST_CASE("an entry keeps the records only, not bytes after the last one", "[cache][store]") {
    // Found by tests/fuzz (cache): a SERVFAIL with one stray byte after its
    // question was stored whole and its hits could not be read once the
    // client's OPT was appended after the stray byte.
    const auto q = testing::make_query("example.org.", "A");
    auto r = testing::make_reply(q, 2, {});
    const size_t records = r.size();
    r.push_back(1);
    NamedKey k("example.org.", 1);
    Entry e = entry_for(k.key, r);
    CHECK(e.msg_len == records);
}

// ---- the memory budget (core/memory_budget.hpp) ----

namespace {
// Names of one length, so every entry costs the same.
std::string fixed_name(const char* prefix, int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%07d.example.org.", prefix, i);
    return buf;
}
Entry entry_at(const Key& k, const testing::Bytes& msg, int64_t stored_ns, uint32_t ttl) {
    Entry e;
    REQUIRE(make_entry(msg.data(), msg.size(), k, stored_ns, ttl, e));
    return e;
}
}  // namespace

TEST_CASE("every entry's bytes are charged to the budget and released with it", "[cache][store][budget]") {
    MemoryBudget budget;  // no limit: counts only
    const auto q = testing::make_query("example.org.", "A");
    const auto r = testing::make_reply(q, 0, {"example.org. 300 IN A 192.0.2.1"});
    {
        Store s(1000, budget);
        NamedKey k("example.org.", 1);
        Entry e = entry_for(k.key, r);
        const size_t cost = e.bytes();
        CHECK(cost > r.size());
        CHECK(s.insert(std::move(e)) == Store::Insert::stored);
        CHECK(s.bytes() == cost);
        CHECK(budget.used() == cost);
        // Replacing the entry charges the difference only.
        CHECK(s.insert(entry_for(k.key, r)) == Store::Insert::stored);
        CHECK(budget.used() == cost);
    }
    CHECK(budget.used() == 0);  // the store's destruction released everything
}

TEST_CASE("over the budget an insert evicts expired entries first, then the least recently used",
          "[cache][store][budget]") {
    MemoryBudget budget;
    // One shard is enough to see the order: every key lands in its shard,
    // so use a store whose keys all share one (filtered below).
    Store s(100000, budget);
    const auto q = testing::make_query("example.org.", "A");
    const auto r = testing::make_reply(q, 0, {"example.org. 300 IN A 192.0.2.1"});
    // Find 4 names in shard 0.
    std::vector<NamedKey> keys;
    for (int i = 0; keys.size() < 4; ++i) {
        NamedKey k(fixed_name("n", i), 1);
        if ((k.key.hash & (Store::kShards - 1)) == 0) keys.push_back(k);
    }
    const size_t cost = entry_for(keys[0].key, r).bytes();
    budget.set_cache_limit(3 * cost);  // exactly 3 entries
    const int64_t t0 = 1000 * kSecond;
    CHECK(s.insert(entry_at(keys[0].key, r, t0, 5)) == Store::Insert::stored);    // expires at t0+5 s
    CHECK(s.insert(entry_at(keys[1].key, r, t0, 300)) == Store::Insert::stored);
    CHECK(s.insert(entry_at(keys[2].key, r, t0, 300)) == Store::Insert::stored);
    CHECK(budget.used() == 3 * cost);
    // keys[1] is used, keys[2] is not: after the expired keys[0], keys[2] goes.
    auto hit = [&](const NamedKey& k) { return s.visit(k.key, [](Entry&) { return true; }); };
    CHECK(hit(keys[1]));
    CHECK(s.insert(entry_at(keys[3].key, r, t0 + 10 * kSecond, 300)) == Store::Insert::evicted);
    CHECK_FALSE(hit(keys[0]));
    CHECK(hit(keys[1]));
    CHECK(hit(keys[2]));
    CHECK(hit(keys[3]));
    CHECK(budget.used() == 3 * cost);
    CHECK(s.size() == 3);
    // No expired entry left: the least recently used of the shard goes
    // (keys[2] and keys[3] were used after keys[1]; use keys[1] again last).
    CHECK(hit(keys[2]));
    CHECK(hit(keys[3]));
    CHECK(hit(keys[1]));
    NamedKey extra = [&] {
        for (int i = 100;; ++i) {
            NamedKey k(fixed_name("m", i), 1);
            if ((k.key.hash & (Store::kShards - 1)) == 0) return k;
        }
    }();
    CHECK(s.insert(entry_at(extra.key, r, t0 + 10 * kSecond, 300)) == Store::Insert::evicted);
    CHECK(budget.used() <= 3 * cost);
    CHECK(hit(extra));
    CHECK(hit(keys[1]));  // the most recently used stays
}

TEST_CASE("an entry that cannot fit even in an emptied shard is not stored", "[cache][store][budget]") {
    MemoryBudget budget;
    Store s(1000, budget);
    const auto q = testing::make_query("example.org.", "A");
    const auto r = testing::make_reply(q, 0, {"example.org. 300 IN A 192.0.2.1"});
    NamedKey k("example.org.", 1);
    budget.set_cache_limit(entry_for(k.key, r).bytes() - 1);
    CHECK(s.insert(entry_for(k.key, r)) == Store::Insert::no_room);
    CHECK(s.size() == 0);
    CHECK(budget.used() == 0);
}

TEST_CASE("two stores share one budget: a full one makes the other evict", "[cache][store][budget]") {
    MemoryBudget budget;
    Store a(100000, budget), b(100000, budget);
    const auto q = testing::make_query("example.org.", "A");
    const auto r = testing::make_reply(q, 0, {"example.org. 300 IN A 192.0.2.1"});
    const size_t cost = entry_for(NamedKey("x.", 1).key, r).bytes();
    budget.set_cache_limit(200 * cost);
    int i = 0;
    for (; a.bytes() < 200 * cost && i < 100000; ++i) a.insert(entry_for(NamedKey("a" + std::to_string(i) + ".", 1).key, r));
    CHECK(budget.used() <= 200 * cost);
    for (int j = 0; j < 2000; ++j) b.insert(entry_for(NamedKey("b" + std::to_string(j) + ".", 1).key, r));
    CHECK(budget.used() <= 200 * cost);
    CHECK(a.bytes() + b.bytes() == budget.used());
    CHECK(b.size() > 0);
    CHECK(a.size() + b.size() <= 200);
}

TEST_CASE("threads inserting into two stores under a small budget: the accounting stays exact",
          "[cache][store][budget]") {
    MemoryBudget budget;
    auto a = std::make_unique<Store>(100000, budget);
    auto b = std::make_unique<Store>(100000, budget);
    const auto q = testing::make_query("example.org.", "A");
    const auto r = testing::make_reply(q, 0, {"example.org. 300 IN A 192.0.2.1"});
    const size_t cost = entry_for(NamedKey(fixed_name("t", 0), 1).key, r).bytes();
    budget.set_cache_limit(300 * cost);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            Store& s = t % 2 ? *a : *b;
            for (int i = 0; i < 5000; ++i) {
                NamedKey k(fixed_name(t % 2 ? "a" : "b", t * 100000 + i), 1);
                Entry e;
                if (!make_entry(r.data(), r.size(), k.key, int64_t(i) * kSecond, 60, e)) continue;
                s.insert(std::move(e));
                s.visit(k.key, [](Entry&) { return true; });
            }
        });
    }
    for (auto& th : threads) th.join();
    // Concurrent inserts may each pass the check before charging: at most
    // one entry per thread over.
    CHECK(budget.used() <= 304 * cost);
    CHECK(a->bytes() + b->bytes() == budget.used());
    // Either store may have given all its room to the other's last inserts.
    CHECK(a->size() + b->size() > 0);
    a.reset();
    CHECK(budget.used() == b->bytes());
    b.reset();
    CHECK(budget.used() == 0);
}

TEST_CASE("a reply whose names read the question's type or class bytes or a TTL is not stored", "[cache][store]") {
    // Hits carry the client's question (its class too), so a name pointing
    // at the stored question's class would read other bytes (found by the
    // cache fuzz target). Question example.org. A IN at 12..28; the answer's
    // owner is a pointer to 12 (the name: kept) or to 27, the class's high
    // byte 00 read as the root name (valid only while that byte is 0).
    const testing::Bytes question = {0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x03, 'o', 'r', 'g', 0x00,
                                     0x00, 0x01, 0x00, 0x01};
    auto reply_with_owner_pointer = [&](uint8_t target) {
        testing::Bytes m = {0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
        m.insert(m.end(), question.begin(), question.end());
        const testing::Bytes answer = {0xc0, target, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c,
                                       0x00, 0x04, 10,   0,    0,    1};
        m.insert(m.end(), answer.begin(), answer.end());
        return m;
    };
    const NamedKey k("example.org.", wire::kTypeA);
    Entry e;
    CHECK(make_entry(reply_with_owner_pointer(12).data(), reply_with_owner_pointer(12).size(), k.key, 0, 60, e));
    const testing::Bytes via_class = reply_with_owner_pointer(27);
    REQUIRE(wire::ReplyView(via_class.data(), via_class.size()).ok());
    Entry not_kept;
    CHECK_FALSE(make_entry(via_class.data(), via_class.size(), k.key, 0, 60, not_kept));
    // Hits write new TTLs too: a second answer whose owner points at the
    // first answer's TTL (at 35, its high byte 00: the root name).
    testing::Bytes via_ttl = reply_with_owner_pointer(12);
    via_ttl[7] = 2;  // ANCOUNT
    const testing::Bytes second = {0xc0, 35, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 10, 0, 0, 2};
    via_ttl.insert(via_ttl.end(), second.begin(), second.end());
    REQUIRE(wire::ReplyView(via_ttl.data(), via_ttl.size()).ok());
    Entry not_kept_either;
    CHECK_FALSE(make_entry(via_ttl.data(), via_ttl.size(), k.key, 0, 60, not_kept_either));
}
