#include "plugins/cache/store.hpp"

#include <atomic>
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
