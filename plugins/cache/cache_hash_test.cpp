// The cache key is hashed once per exchange and carried in the Query.
#include "plugins/cache/cache.hpp"

#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using namespace dnscore::plugins::cache;

TEST_CASE("cache hashes the key once and carries it in the Query", "[cache]") {
    Cache cache(Config{}, std::make_shared<Stores>(100, 100));
    testing::QueryOptions o;
    o.edns = true;
    o.do_bit = true;
    const testing::Bytes req = testing::make_query("Example.org.", "AAAA", o);
    uint8_t resp[512];
    Query q;
    q.req = const_cast<uint8_t*>(req.data());
    q.req_len = req.size();
    q.resp = resp;
    q.resp_cap = sizeof resp;
    REQUIRE(wire::parse_query(q.req, q.req_len, q.info) == wire::Verdict::ok);
    REQUIRE_FALSE(q.cache_hash_set);
    CHECK(cache.query(q) == Step::next);  // a miss
    REQUIRE(q.cache_hash_set);
    CHECK(q.cache_hash == make_key(q.info, process_seed()).hash);
    // A carried hash is used as is (not hashed again).
    q.cache_hash ^= 1;
    const uint64_t carried = q.cache_hash;
    CHECK(cache.query(q) == Step::next);
    CHECK(q.cache_hash == carried);
    q.reset();
    CHECK_FALSE(q.cache_hash_set);
}
