// The per-worker structures of forward's UDP miss path: timer wheel, record
// slab, single-flight table and the per-socket pending-ID table.
#include <chrono>
#include <set>
#include <vector>

#include "plugins/forward/flight_table.hpp"
#include "plugins/forward/slab.hpp"
#include "plugins/forward/timer_wheel.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore::plugins::forward;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {
struct Timed : WheelNode {
    int id = 0;
};
}  // namespace

TEST_CASE("timer wheel fires each node once, at or after its time, in time order", "[forward][wheel]") {
    const auto t0 = Clock::now();
    TimerWheel w(milliseconds(8), t0);
    std::vector<Timed> nodes(5);
    const int at_ms[] = {2000, 5, 16, 5000, 9000};  // 9000: past one turn of the wheel (8.192 s)
    for (int i = 0; i < 5; ++i) {
        nodes[i].id = i;
        w.schedule(nodes[i], t0 + milliseconds(at_ms[i]));
    }
    CHECK(w.size() == 5);
    std::vector<int> fired;
    auto fire = [&](WheelNode& n) { fired.push_back(static_cast<Timed&>(n).id); };

    CHECK(w.advance(t0 + milliseconds(4), fire) == 0);  // nothing is early
    CHECK(w.advance(t0 + milliseconds(16), fire) == 2);
    CHECK(fired == std::vector<int>{1, 2});
    CHECK(w.advance(t0 + milliseconds(1999), fire) == 0);
    CHECK(w.advance(t0 + milliseconds(2000), fire) == 1);
    // A long stall: everything overdue fires in one call, the 9 s node only at its turn.
    CHECK(w.advance(t0 + milliseconds(8500), fire) == 1);
    CHECK(fired.back() == 3);
    CHECK_FALSE(w.empty());
    CHECK(w.next_due() <= t0 + milliseconds(9000 + 8));
    CHECK(w.advance(t0 + milliseconds(9000), fire) == 1);
    CHECK(fired == std::vector<int>{1, 2, 0, 3, 4});
    CHECK(w.empty());
    for (const auto& n : nodes) CHECK_FALSE(n.scheduled());
}

TEST_CASE("timer wheel: cancel, reschedule and scheduling from inside fire", "[forward][wheel]") {
    const auto t0 = Clock::now();
    TimerWheel w(milliseconds(8), t0);
    Timed a, b, c;
    a.id = 1;
    b.id = 2;
    c.id = 3;
    w.schedule(a, t0 + milliseconds(100));
    w.schedule(b, t0 + milliseconds(100));
    w.schedule(c, t0 + milliseconds(300));
    w.cancel(c);
    CHECK_FALSE(c.scheduled());
    w.cancel(c);  // twice is harmless
    w.schedule(c, t0 + milliseconds(50));
    w.schedule(c, t0 + milliseconds(60));  // rescheduling moves it
    CHECK(w.size() == 3);
    CHECK(w.due_time(c) >= t0 + milliseconds(60));
    CHECK(w.due_time(c) < t0 + milliseconds(68));

    std::vector<int> fired;
    // Firing a cancels b (same slot) and reschedules itself in the past:
    // it goes to the next tick, not into this advance again.
    auto fire = [&](WheelNode& n) {
        auto& t = static_cast<Timed&>(n);
        fired.push_back(t.id);
        if (t.id == 1 && fired.size() == 2) {
            w.cancel(b);
            w.schedule(a, t0);
        }
    };
    CHECK(w.advance(t0 + milliseconds(104), fire) == 2);  // c, then a (b cancelled meanwhile)
    CHECK(fired == std::vector<int>{3, 1});
    CHECK(w.size() == 1);
    CHECK(a.scheduled());
    CHECK(w.advance(t0 + milliseconds(112), fire) == 1);
    CHECK(fired == std::vector<int>{3, 1, 1});
    CHECK(w.empty());
}

namespace {
struct Rec {
    static inline int live = 0;
    explicit Rec(int v) : v(v) { ++live; }
    ~Rec() { --live; }
    int v;
    char pad[100];
};
}  // namespace

TEST_CASE("slab recycles records and is bounded", "[forward][slab]") {
    {
        Slab<Rec, 4> s(10);
        std::vector<Rec*> got;
        for (int i = 0; i < 10; ++i) {
            Rec* r = s.acquire(i);
            REQUIRE(r);
            CHECK(r->v == i);
            got.push_back(r);
        }
        CHECK(s.in_use() == 10);
        CHECK(s.acquire(99) == nullptr);  // bounded
        CHECK(std::set<Rec*>(got.begin(), got.end()).size() == 10);
        const size_t cap = s.capacity();
        s.release(got[3]);
        s.release(got[7]);
        CHECK(Rec::live == 8);
        // Released records are reused; the slab does not grow.
        Rec* a = s.acquire(100);
        Rec* b = s.acquire(101);
        CHECK(std::set<Rec*>{a, b} == std::set<Rec*>{got[3], got[7]});
        CHECK(s.capacity() == cap);
        CHECK(a->v + b->v == 201);
        CHECK(Rec::live == 10);
    }
    CHECK(Rec::live == 0);  // records in use at destruction are destroyed
}

namespace {
struct Leader {
    uint64_t flight_hash = 0;
    Leader* flight_next = nullptr;
    int key = 0;
};
}  // namespace

TEST_CASE("flight table finds by hash and full key, colliding hashes kept apart", "[forward][singleflight]") {
    FlightTable<Leader, 8> t;
    Leader a{.flight_hash = 42, .key = 1}, b{.flight_hash = 42, .key = 2}, c{.flight_hash = 42 + 8, .key = 3};
    t.insert(a);
    t.insert(b);
    t.insert(c);  // same bucket, other hash
    CHECK(t.size() == 3);
    auto key_is = [](int k) { return [k](const Leader& l) { return l.key == k; }; };
    CHECK(t.find(42, key_is(1)) == &a);
    CHECK(t.find(42, key_is(2)) == &b);
    CHECK(t.find(42, key_is(3)) == nullptr);  // key 3 has another hash
    CHECK(t.find(50, key_is(3)) == &c);
    CHECK(t.find(7, key_is(1)) == nullptr);
    CHECK(t.erase(b));
    CHECK_FALSE(t.erase(b));
    CHECK(t.find(42, key_is(2)) == nullptr);
    CHECK(t.find(42, key_is(1)) == &a);
    CHECK(t.find(50, key_is(3)) == &c);
    CHECK(t.erase(a));
    CHECK(t.erase(c));
    CHECK(t.size() == 0);
}

TEST_CASE("pending IDs: unique per socket, bounded, taken once", "[forward][pending]") {
    PendingIds<int, 4> p;
    int e[5] = {0, 1, 2, 3, 4};
    CHECK(p.add(100, &e[0]));
    CHECK_FALSE(p.add(100, &e[1]));  // an ID waiting already names one exchange only
    CHECK(p.add(200, &e[1]));
    CHECK(p.add(300, &e[2]));
    CHECK(p.add(400, &e[3]));
    CHECK_FALSE(p.add(500, &e[4]));  // full
    CHECK(p.size() == 4);
    CHECK(p.take(999) == nullptr);  // a reply to an unknown ID is no one's
    CHECK(p.take(200) == &e[1]);
    CHECK(p.take(200) == nullptr);  // a duplicate reply finds no one
    CHECK_FALSE(p.remove(300, &e[0]));  // another exchange's ID
    CHECK(p.remove(300, &e[2]));
    CHECK(p.contains(100));
    CHECK(p.add(500, &e[4]));
    std::set<int*> rest;
    while (int* x = p.take_any()) rest.insert(x);
    CHECK(rest == std::set<int*>{&e[0], &e[3], &e[4]});
    CHECK(p.empty());
}

// A UDP socket whose source port equals the upstream's (a dead loopback
// upstream's free port picked by the kernel) would read its own queries back.
// Forced here by binding the source port first; the guard must hand back a
// socket on another port that still reaches the upstream address.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "plugins/forward/internal.hpp"

TEST_CASE("a UDP socket connected to itself is replaced by one on another port", "[forward][udp]") {
    namespace asio = boost::asio;
    using asio::ip::udp;
    asio::io_context io;
    // A free loopback port: bound, read back, released.
    udp::endpoint upstream;
    {
        udp::socket probe(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        upstream = probe.local_endpoint();
    }
    udp::socket s(io);
    s.open(udp::v4());
    s.bind(upstream);  // the source port the kernel could have chosen
    boost::system::error_code ec;
    connect_udp_not_self(s, upstream, ec);
    REQUIRE_FALSE(ec);
    CHECK(s.local_endpoint() != upstream);
    CHECK(s.remote_endpoint() == upstream);
    // The upstream can bind its port again: nothing holds it any more.
    udp::socket again(io);
    again.open(udp::v4());
    again.bind(upstream, ec);
    CHECK_FALSE(ec);

    // An ordinary connection is left as it is.
    udp::socket other(io);
    other.open(udp::v4());
    udp::endpoint target = again.local_endpoint();
    connect_udp_not_self(other, target, ec);
    REQUIRE_FALSE(ec);
    CHECK(other.remote_endpoint() == target);
}
