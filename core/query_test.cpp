// Query's reply view: parsed once, kept while the reply stays as parsed,
// dropped whenever the reply is written again.
#include "core/query.hpp"

#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using testing::Bytes;

namespace {
struct Slot {
    uint8_t buf[512];
    Query q;
    Slot() {
        q.resp = buf;
        q.resp_cap = sizeof buf;
    }
    size_t put(const Bytes& m) {
        std::copy(m.begin(), m.end(), buf);
        return m.size();
    }
};
}  // namespace

TEST_CASE("Query keeps a view made just before the reply is written", "[query]") {
    const Bytes req = testing::make_query("example.org.", "A");
    const Bytes a = testing::make_reply(req, 0, {"example.org. 60 IN A 192.0.2.1"});
    Slot s;
    const size_t n = s.put(a);
    wire::ReplyView& v = s.q.parse_reply(n);
    REQUIRE(v.ok());
    CHECK(&s.q.pending_reply(n) == &v);
    s.q.set_written(n, "test");
    REQUIRE(s.q.current_reply() == &v);
    CHECK(&s.q.reply() == &v);
    CHECK(v.rr_count() == 1);
}

TEST_CASE("Query drops the view when the reply is written again", "[query]") {
    const Bytes req = testing::make_query("example.org.", "A");
    const Bytes a = testing::make_reply(req, 0, {"example.org. 60 IN A 192.0.2.1"});
    const Bytes b = testing::make_reply(req, 0, {"example.org. 60 IN A 192.0.2.2"});  // same length
    Slot s;
    s.q.write_reply(a.data(), a.size(), "one");
    CHECK(s.q.current_reply() == nullptr);  // nothing parsed unasked
    CHECK(s.q.reply().rr_count() == 1);
    REQUIRE(s.q.current_reply() != nullptr);
    s.q.write_reply(b.data(), b.size(), "two");
    CHECK(s.q.current_reply() == nullptr);
    // A view parsed and then replaced by another write of the same length
    // is not kept either.
    s.q.parse_reply(s.put(a));
    s.q.reply_changed();
    s.q.set_written(s.put(b), "three");
    CHECK(s.q.current_reply() == nullptr);
    s.q.reply();
    s.q.clear_reply();
    CHECK(s.q.current_reply() == nullptr);
}

TEST_CASE("Query adopts a view of a copied reply", "[query]") {
    const Bytes req = testing::make_query("example.org.", "A");
    const Bytes a = testing::make_reply(req, 0, {"example.org. 60 IN A 192.0.2.1"});
    Slot leader, follower;
    leader.q.write_reply(a.data(), a.size(), "forward");
    const wire::ReplyView& lv = leader.q.reply();
    follower.q.write_reply(a.data(), a.size(), "forward");
    follower.q.adopt_reply(lv);
    const wire::ReplyView* fv = follower.q.current_reply();
    REQUIRE(fv != nullptr);
    CHECK(fv->data() == follower.buf);
    CHECK(fv->rr_count() == 1);
    // A copy of another length is not described by it.
    follower.q.write_reply(a.data(), a.size() - 4, "forward");
    follower.q.adopt_reply(lv);
    CHECK(follower.q.current_reply() == nullptr);
}

TEST_CASE("an empty reply (a null pointer, no bytes) is written without touching the buffer", "[query]") {
    // Found by tests/fuzz (cache, UBSan): memcpy from a null pointer.
    Slot s;
    CHECK(s.q.write_reply(nullptr, 0, "test"));
    CHECK(s.q.written);
    CHECK(s.q.resp_len == 0);
}

TEST_CASE("an OwnedQuery waiting with no reply holds no reply buffer; it takes one to write", "[query]") {
    const Bytes req = testing::make_query("example.org.", "A");
    const Bytes a = testing::make_reply(req, 0, {"example.org. 60 IN A 192.0.2.1"});
    Bytes req_copy = req;
    Slot s;
    s.q.req = req_copy.data();
    s.q.req_len = req_copy.size();
    OwnedQuery o(s.q);
    REQUIRE(o.has_reply_buffer());
    CHECK(o.resp_cap == wire::kMaxMessage);
    o.release_reply_buffer();
    CHECK_FALSE(o.has_reply_buffer());
    CHECK(o.resp_cap == 0);
    CHECK_FALSE(o.write_reply(a.data(), a.size(), "test"));  // nowhere to write: refused, not overrun
    o.ensure_reply_buffer();
    REQUIRE(o.has_reply_buffer());
    CHECK(o.resp_cap == wire::kMaxMessage);
    REQUIRE(o.write_reply(a.data(), a.size(), "test"));
    CHECK(o.reply().rr_count() == 1);
    // A written reply is kept: releasing it then would lose the answer.
    o.release_reply_buffer();
    CHECK(o.has_reply_buffer());
    CHECK(o.resp_len == a.size());
    o.ensure_reply_buffer();  // already has one: nothing changes
    CHECK(o.resp_len == a.size());
    CHECK(std::equal(a.begin(), a.end(), o.resp));
}

TEST_CASE("an OwnedQuery copied from one with a reply copies the reply", "[query]") {
    const Bytes req = testing::make_query("example.org.", "A");
    const Bytes a = testing::make_reply(req, 0, {"example.org. 60 IN A 192.0.2.1"});
    Bytes req_copy = req;
    Slot s;
    s.q.req = req_copy.data();
    s.q.req_len = req_copy.size();
    s.q.write_reply(a.data(), a.size(), "test");
    OwnedQuery o(s.q);
    REQUIRE(o.has_reply_buffer());
    CHECK(o.resp != s.buf);
    CHECK(std::equal(a.begin(), a.end(), o.resp));
}
