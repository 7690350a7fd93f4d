#include "plugins/cache/snapshot.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "plugins/cache/cache.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using namespace dnscore::plugins::cache;

namespace {
class ManualClock final : public Clock {
public:
    int64_t mono = 1000 * kSecond;
    int64_t wall = 1'700'000'000;
    int64_t now_ns() const override { return mono; }
    int64_t wall_s() const override { return wall; }
};

struct Named {
    uint8_t name[wire::kMaxNameLen];
    Key key;
    Named(const std::string& text, uint16_t qtype, bool do_bit = false) {
        key.name_len = uint8_t(wire::text_to_name(text, name));
        key.name = name;
        key.qtype = qtype;
        key.do_bit = do_bit;
        key.hash = key_hash(process_seed(), name, key.name_len, qtype, do_bit, false);
    }
};

void put_entry(Store& s, const std::string& qname, const std::string& rr, int64_t stored_ns, uint32_t ttl,
               bool do_bit = false) {
    const auto q = testing::make_query(qname, "A");
    const auto r = testing::make_reply(q, 0, {rr});
    Named k(qname, 1, do_bit);
    Entry e;
    REQUIRE(make_entry(r.data(), r.size(), k.key, stored_ns, ttl, e));
    REQUIRE(s.insert(std::move(e)) == Store::Insert::stored);
}

// Seconds left for the entry of qname in s, or INT64_MIN when absent.
int64_t remaining(Store& s, const std::string& qname, int64_t now, bool do_bit = false) {
    Named k(qname, 1, do_bit);
    int64_t left = INT64_MIN;
    s.visit(k.key, [&](Entry& e) {
        left = e.remaining(now);
        return true;
    });
    return left;
}
}  // namespace

TEST_CASE("a snapshot restores success and denial entries into the store with the same id, aged",
          "[cache][snapshot]") {
    ManualClock clock;
    std::string data;
    {
        auto stores = shared_stores("snapshot-test-roundtrip", 1000, 1000);
        put_entry(stores->success, "a.example.", "a.example. 300 IN A 192.0.2.1", clock.mono - 100 * kSecond, 300);
        put_entry(stores->success, "b.example.", "b.example. 300 IN A 192.0.2.2", clock.mono, 300, true);
        put_entry(stores->denial, "gone.example.", "gone.example. 30 IN A 192.0.2.3", clock.mono, 30);
        // Expired and no stale window: left out.
        put_entry(stores->success, "old.example.", "old.example. 10 IN A 192.0.2.4", clock.mono - 20 * kSecond, 10);
        SnapshotStats st;
        data = write_snapshot(clock, kMaxSnapshotBytes, &st);
        CHECK(st.entries == 3);
        CHECK(st.skipped == 1);
    }
    // A new process: the registry forgot the old stores; the same block and
    // configuration make stores with the same id. 20 s passed.
    auto fresh = shared_stores("snapshot-test-roundtrip", 1000, 1000);
    REQUIRE(fresh->success.size() == 0);
    ManualClock later;
    later.mono = 5 * kSecond;  // another process: another monotonic origin
    later.wall = clock.wall + 20;
    const SnapshotStats st = load_snapshot(data, later);
    CHECK(st.entries == 3);
    CHECK(st.stores >= 1);
    CHECK(fresh->success.size() == 2);
    CHECK(fresh->denial.size() == 1);
    CHECK(remaining(fresh->success, "a.example.", later.mono) == 300 - 100 - 20);
    CHECK(remaining(fresh->success, "b.example.", later.mono, true) == 300 - 20);
    CHECK(remaining(fresh->success, "b.example.", later.mono, false) == INT64_MIN);  // DO is part of the key
    CHECK(remaining(fresh->denial, "gone.example.", later.mono) == 10);
}

TEST_CASE("entries that expired while no process ran are not restored, unless a stale window keeps them",
          "[cache][snapshot]") {
    ManualClock clock;
    std::string data;
    {
        auto stores = shared_stores("snapshot-test-expiry", 100, 100);
        put_entry(stores->success, "short.example.", "short.example. 60 IN A 192.0.2.1", clock.mono, 60);
        put_entry(stores->success, "long.example.", "long.example. 600 IN A 192.0.2.2", clock.mono, 600);
        data = write_snapshot(clock);
    }
    ManualClock later = clock;
    later.wall += 120;
    {
        auto stores = shared_stores("snapshot-test-expiry", 100, 100);
        CHECK(load_snapshot(data, later).entries == 1);
        CHECK(remaining(stores->success, "short.example.", later.mono) == INT64_MIN);
        CHECK(remaining(stores->success, "long.example.", later.mono) == 480);
    }
    auto stores = shared_stores("snapshot-test-expiry", 100, 100);
    stores->keep_expired_s = 3600;  // serve_stale 1h
    CHECK(load_snapshot(data, later).entries == 2);
    CHECK(remaining(stores->success, "short.example.", later.mono) == -60);
}

TEST_CASE("a snapshot of another configuration restores nothing into this one", "[cache][snapshot]") {
    ManualClock clock;
    std::string data;
    {
        auto stores = shared_stores("snapshot-test-config-A", 100, 100);
        put_entry(stores->success, "x.example.", "x.example. 60 IN A 192.0.2.1", clock.mono, 60);
        data = write_snapshot(clock);
    }
    auto other = shared_stores("snapshot-test-config-B", 100, 100);
    const SnapshotStats st = load_snapshot(data, clock);
    CHECK(other->success.size() == 0);
    CHECK(st.skipped >= 1);
}

TEST_CASE("truncated, corrupt, oversized or foreign input is rejected whole, never crashes", "[cache][snapshot]") {
    ManualClock clock;
    std::string data;
    {
        auto stores = shared_stores("snapshot-test-corrupt", 100, 100);
        put_entry(stores->success, "c.example.", "c.example. 60 IN A 192.0.2.1", clock.mono, 60);
        put_entry(stores->denial, "d.example.", "d.example. 60 IN A 192.0.2.2", clock.mono, 60);
        data = write_snapshot(clock);
    }
    auto stores = shared_stores("snapshot-test-corrupt", 100, 100);
    // Every truncation.
    for (size_t n = 0; n < data.size(); ++n)
        CHECK_THROWS_AS(load_snapshot(std::string_view(data).substr(0, n), clock), std::invalid_argument);
    // Every single-byte flip (the checksum catches it; the structural checks
    // run even so).
    for (size_t i = 0; i < data.size(); ++i) {
        std::string bad = data;
        bad[i] = char(bad[i] ^ 0x5a);
        CHECK_THROWS_AS(load_snapshot(bad, clock), std::invalid_argument);
    }
    CHECK(stores->success.size() == 0);
    CHECK(stores->denial.size() == 0);
    CHECK_THROWS_WITH(load_snapshot(std::string(100, 'x'), clock), "not a cache snapshot");
    // Another version: refused.
    std::string v2 = data;
    v2[8] = 2;
    CHECK_THROWS_AS(load_snapshot(v2, clock), std::invalid_argument);
    // The good one still loads.
    CHECK(load_snapshot(data, clock).entries == 2);
}

TEST_CASE("a snapshot stays within its byte bound and is still valid", "[cache][snapshot]") {
    ManualClock clock;
    auto stores = shared_stores("snapshot-test-bound", 10000, 10000);
    for (int i = 0; i < 200; ++i) {
        const std::string n = "n" + std::to_string(i) + ".example.";
        put_entry(stores->success, n, n + " 60 IN A 192.0.2.1", clock.mono, 60);
    }
    SnapshotStats st;
    const std::string small = write_snapshot(clock, 4096, &st);
    CHECK(small.size() <= 4096);
    CHECK(st.entries > 0);
    CHECK(st.entries < 200);
    CHECK(st.skipped >= 200 - st.entries);
    CHECK_NOTHROW(load_snapshot(small, clock));
}
