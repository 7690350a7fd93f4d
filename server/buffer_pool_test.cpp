#include "server/buffer_pool.hpp"

#include <vector>

#include "tests/support/catch.hpp"

using dnscore::BufferPool;

TEST_CASE("buffer pool: smallest class that holds the request") {
    BufferPool pool;
    CHECK(pool.get(0).capacity() == 512);
    CHECK(pool.get(12).capacity() == 512);
    CHECK(pool.get(512).capacity() == 512);
    CHECK(pool.get(513).capacity() == 4096);
    CHECK(pool.get(4096).capacity() == 4096);
    CHECK(pool.get(4097).capacity() == 65536);
    CHECK(pool.get(65535).capacity() == 65536);
}

TEST_CASE("buffer pool: released buffers are reused, not reallocated") {
    BufferPool pool;
    uint8_t* first;
    {
        auto b = pool.get(100);
        first = b.data();
    }
    CHECK(pool.cached_bytes() == 512);
    auto again = pool.get(200);
    CHECK(again.data() == first);
    CHECK(pool.cached_bytes() == 0);
}

TEST_CASE("buffer pool: what it keeps is bounded") {
    BufferPool pool;
    {
        std::vector<BufferPool::Buffer> held;
        for (int i = 0; i < 1000; ++i) {
            held.push_back(pool.get(100));
            held.push_back(pool.get(1000));
            held.push_back(pool.get(60000));
        }
    }  // 3000 buffers come back at once: most are freed
    CHECK(pool.cached_bytes() == BufferPool::kMaxCachedBytes);
}

TEST_CASE("buffer pool: a moved-from buffer gives nothing back twice") {
    BufferPool pool;
    {
        auto a = pool.get(10);
        auto b = std::move(a);
        CHECK_FALSE(a);
        CHECK(b.capacity() == 512);
        a = pool.get(3000);
        a = std::move(b);  // the 4 KiB one goes back, the 512 one moves in
        CHECK(a.capacity() == 512);
        CHECK(pool.cached_bytes() == 4096);
    }
    CHECK(pool.cached_bytes() == 4096 + 512);
}
