#include "core/wire/reply.hpp"

#include <string>
#include <vector>

#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using namespace dnscore::wire;
using dnscore::testing::Bytes;
using dnscore::testing::make_query;
using dnscore::testing::make_reply;

namespace {
constexpr int64_t kNow = 1'700'000'000;
const std::string kSoa = "example.org. 300 IN SOA ns. h. 1 2 3 4 5";

// Appends an OPT record (TTL field as given) to the additional section.
void add_opt(Bytes& m, uint32_t ttl, uint16_t udp = 4096) {
    const size_t at = m.size();
    m.resize(at + 11);
    m[at] = 0;
    wr16(m.data() + at + 1, kTypeOPT);
    wr16(m.data() + at + 3, udp);
    wr32(m.data() + at + 5, ttl);
    wr16(m.data() + at + 9, 0);
    wr16(m.data() + 10, uint16_t(arcount(m.data()) + 1));
}
ReplyType ty(const Bytes& m) { return ReplyView(m.data(), m.size()).typify(kNow); }
}  // namespace

TEST_CASE("ReplyView reads counts, question, OPT and the minimum TTL in one walk", "[reply]") {
    Bytes q = make_query("Example.ORG.", "A");
    Bytes r = make_reply(q, 0, {"example.org. 60 IN A 192.0.2.1", "example.org. 30 IN A 192.0.2.2"},
                         {kSoa}, {"ns. 20 IN A 192.0.2.9"});
    add_opt(r, 0x8000u | 0u);
    ReplyView v(r.data(), r.size());
    REQUIRE(v.ok());
    CHECK(v.of(r.data(), r.size()));
    CHECK_FALSE(v.of(r.data(), r.size() - 1));
    CHECK(v.rr_count() == 5);
    CHECK(v.indexed());
    CHECK(v.has_question());
    CHECK(v.qtype() == kTypeA);
    CHECK(v.qclass() == kClassIN);
    CHECK(v.question_end() == skip_question(r.data(), r.size()));
    CHECK(v.has_opt());
    CHECK(v.do_bit());
    CHECK(v.opt_off() == r.size() - 11);
    CHECK(v.opt_len() == 11);
    CHECK(v.soa_in_authority());
    CHECK(v.ns_in_authority() == 0);
    CHECK(v.minimal_ttl(ReplyType::no_error) == 20);
    CHECK(v.minimal_ttl(ReplyType::delegation) == 5);
    std::vector<int> sections;
    v.for_each([&](const RR& rr) {
        sections.push_back(rr.section);
        return true;
    });
    CHECK(sections == std::vector<int>{1, 1, 2, 3, 3});
}

TEST_CASE("ReplyView: an OPT whose options run past its RDATA is not a readable reply", "[reply]") {
    Bytes q = make_query("example.org.", "A");
    Bytes r = make_reply(q, 0, {"example.org. 60 IN A 192.0.2.1"});
    add_opt(r, 0);
    REQUIRE(ReplyView(r.data(), r.size()).ok());
    // RDATA of 6: an option claiming 8 bytes with 2 there.
    wr16(r.data() + r.size() - 2, 6);
    r.insert(r.end(), {0, 10, 0, 8, 1, 2});
    CHECK_FALSE(ReplyView(r.data(), r.size()).ok());
    // Framed properly (length 2), it reads.
    r[r.size() - 3] = 2;
    CHECK(ReplyView(r.data(), r.size()).ok());
}

TEST_CASE("ReplyView::typify is CoreDNS response.Typify", "[reply]") {
    const Bytes q = make_query("example.org.", "A");
    CHECK(ty(make_reply(q, 0, {"example.org. 1 IN A 192.0.2.1"})) == ReplyType::no_error);
    CHECK(ty(make_reply(q, 0, {})) == ReplyType::no_error);
    CHECK(ty(make_reply(q, 0, {}, {kSoa})) == ReplyType::no_data);
    CHECK(ty(make_reply(q, 3, {}, {kSoa})) == ReplyType::name_error);
    CHECK(ty(make_reply(q, 3, {})) == ReplyType::other_error);
    CHECK(ty(make_reply(q, 0, {}, {"example.org. 1 IN NS ns.example.org."})) == ReplyType::delegation);
    CHECK(ty(make_reply(q, 2, {})) == ReplyType::server_error);
    CHECK(ty(make_reply(q, 4, {})) == ReplyType::server_error);
    CHECK(ty(make_reply(q, 5, {})) == ReplyType::other_error);
    CHECK(ty(make_reply(make_query("example.org.", "AXFR"), 0, {})) == ReplyType::meta);
    CHECK(ty(make_reply(make_query("example.org.", "IXFR"), 0, {})) == ReplyType::meta);
    Bytes notify = make_reply(q, 0, {});
    notify[2] = uint8_t((notify[2] & 0x87) | (4 << 3));
    CHECK(ty(notify) == ReplyType::meta);
    Bytes update = make_reply(q, 0, {});
    update[2] = uint8_t((update[2] & 0x87) | (5 << 3));
    CHECK(ty(update) == ReplyType::update);
    // Extended rcode bits count (miekg folds them into Msg.Rcode): BADVERS.
    Bytes badvers = make_reply(q, 0, {"example.org. 1 IN A 192.0.2.1"});
    add_opt(badvers, 1u << 24);
    CHECK(ReplyView(badvers.data(), badvers.size()).rcode() == 16);
    CHECK(ty(badvers) == ReplyType::other_error);
    // Malformed or short: OtherError.
    Bytes cut = make_reply(q, 0, {"example.org. 1 IN A 192.0.2.1"});
    cut.resize(cut.size() - 2);
    CHECK_FALSE(ReplyView(cut.data(), cut.size()).ok());
    CHECK(ty(cut) == ReplyType::other_error);
    CHECK(ReplyView(nullptr, 0).typify(kNow) == ReplyType::other_error);
}

TEST_CASE("ReplyView: an expired RRSIG makes a DO reply OtherError", "[reply]") {
    const Bytes q = make_query("www.example.", "A");
    const std::string old_sig = "www.example. 300 IN RRSIG A 8 2 300 20200101000000 20191201000000 1 example. AAAA";
    const std::string good_sig = "www.example. 300 IN RRSIG A 8 2 300 20300101000000 20191201000000 1 example. AAAA";
    Bytes expired = make_reply(q, 0, {"www.example. 300 IN A 192.0.2.1", old_sig});
    CHECK(ty(expired) == ReplyType::no_error);  // no DO: not checked
    CHECK(ReplyView(expired.data(), expired.size()).rrsig_expired(kNow));
    add_opt(expired, 0x8000u);
    CHECK(ty(expired) == ReplyType::other_error);
    Bytes valid = make_reply(q, 0, {"www.example. 300 IN A 192.0.2.1", good_sig});
    add_opt(valid, 0x8000u);
    CHECK(ty(valid) == ReplyType::no_error);
    // Too short to hold the times: counts as valid.
    uint8_t rdata[17] = {};
    CHECK(rrsig_valid(rdata, sizeof rdata, kNow));
}

TEST_CASE("ReplyView::minimal_ttl is dnsutil.MinimalTTL", "[reply]") {
    const Bytes q = make_query("example.org.", "A");
    Bytes empty = make_reply(q, 0, {});
    CHECK(ReplyView(empty.data(), empty.size()).minimal_ttl(ReplyType::no_error) == 5);
    add_opt(empty, 0);
    CHECK(ReplyView(empty.data(), empty.size()).minimal_ttl(ReplyType::no_error) == 5);
    Bytes big = make_reply(q, 0, {"example.org. 99999 IN A 192.0.2.1"});
    CHECK(ReplyView(big.data(), big.size()).minimal_ttl(ReplyType::no_error) == 3600);
    Bytes neg = make_reply(q, 3, {}, {"example.org. 120 IN SOA ns. h. 1 2 3 4 5"});
    CHECK(ReplyView(neg.data(), neg.size()).minimal_ttl(ReplyType::name_error) == 120);
    // Only additional records (not OPT): their TTL counts.
    Bytes extra = make_reply(q, 0, {}, {}, {"ns. 42 IN A 192.0.2.9"});
    CHECK(ReplyView(extra.data(), extra.size()).minimal_ttl(ReplyType::no_error) == 42);
}

TEST_CASE("ReplyView::answers is request.Match, with the class on request", "[reply]") {
    const Bytes q = make_query("www.Example.org.", "A");
    QueryInfo qi;
    REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);
    Bytes r = make_reply(q, 0, {});
    CHECK(ReplyView(r.data(), r.size()).answers(qi, true));
    Bytes upper = make_reply(make_query("WWW.EXAMPLE.ORG.", "A"), 0, {});
    CHECK(ReplyView(upper.data(), upper.size()).answers(qi, true));
    Bytes other_type = make_reply(make_query("www.example.org.", "AAAA"), 0, {});
    CHECK_FALSE(ReplyView(other_type.data(), other_type.size()).answers(qi, false));
    Bytes other_name = make_reply(make_query("xxx.example.org.", "A"), 0, {});
    CHECK_FALSE(ReplyView(other_name.data(), other_name.size()).answers(qi, false));
    testing::QueryOptions ch;
    ch.qclass = 3;
    Bytes other_class = make_reply(make_query("www.example.org.", "A", ch), 0, {});
    CHECK(ReplyView(other_class.data(), other_class.size()).answers(qi, false));
    CHECK_FALSE(ReplyView(other_class.data(), other_class.size()).answers(qi, true));
    Bytes not_reply = r;
    set_flag(not_reply.data(), kQR, false);
    CHECK_FALSE(ReplyView(not_reply.data(), not_reply.size()).answers(qi, false));
}

TEST_CASE("ReplyView edits match the walking ones and keep the view true", "[reply]") {
    const Bytes q = make_query("example.org.", "A");
    Bytes r = make_reply(q, 0, {"example.org. 60 IN A 192.0.2.1"}, {kSoa}, {"ns. 20 IN A 192.0.2.9"});
    add_opt(r, 0x8000u);
    Bytes walked = r;
    const size_t wn = wire::strip_opt(walked.data(), walked.size());
    set_all_ttls(walked.data(), wn, 7);
    ReplyView v(r.data(), r.size());
    const size_t n = v.strip_opt(r.data());
    v.set_all_ttls(r.data(), 7);
    REQUIRE(n == wn);
    CHECK(Bytes(r.begin(), r.begin() + long(n)) == Bytes(walked.begin(), walked.begin() + long(wn)));
    CHECK(v.size() == n);
    CHECK_FALSE(v.has_opt());
    CHECK_FALSE(v.do_bit());
    CHECK(v.rr_count() == 3);
    CHECK(v.minimal_ttl(ReplyType::no_error) == 7);
    ReplyView again(r.data(), n);
    std::vector<size_t> a, b;
    v.for_each([&](const RR& rr) { a.push_back(rr.type_off); return true; });
    again.for_each([&](const RR& rr) { b.push_back(rr.type_off); return true; });
    CHECK(a == b);
}

TEST_CASE("ReplyView handles more records than it indexes", "[reply]") {
    const Bytes q = make_query("example.org.", "A");
    std::vector<std::string> answers;
    for (int i = 0; i < 100; ++i) answers.push_back("example.org. " + std::to_string(100 + i) + " IN A 192.0.2." + std::to_string(i));
    Bytes r = make_reply(q, 0, answers);
    add_opt(r, 0x8000u);
    ReplyView v(r.data(), r.size());
    REQUIRE(v.ok());
    CHECK_FALSE(v.indexed());
    CHECK(v.rr_count() == 101);
    CHECK(v.has_opt());
    CHECK(v.minimal_ttl(ReplyType::no_error) == 100);
    int seen = 0;
    v.for_each([&](const RR&) { return ++seen, true; });
    CHECK(seen == 101);
    const size_t n = v.strip_opt(r.data());
    CHECK(n == r.size() - 11);
    CHECK(v.of(r.data(), n));
    CHECK_FALSE(v.has_opt());
    v.set_all_ttls(r.data(), 9);
    r.resize(n);
    for (const auto& line : testing::section(r, 1)) CHECK(line.find("\t9\tIN\tA\t") != std::string::npos);
}

TEST_CASE("ReplyView survives random mutations", "[reply]") {
    const Bytes q = make_query("fuzz.example.org.", "A");
    Bytes base = make_reply(q, 0, {"fuzz.example.org. 60 IN A 192.0.2.1"}, {kSoa});
    add_opt(base, 0x8000u);
    uint32_t seed = 777;
    auto rnd = [&] { return seed = seed * 1103515245u + 12345u; };
    QueryInfo qi;
    REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);
    for (int i = 0; i < 20000; ++i) {
        Bytes m = base;
        for (int f = 0, flips = 1 + int(rnd() % 4); f < flips; ++f) m[rnd() % m.size()] = uint8_t(rnd());
        if (rnd() % 4 == 0) m.resize(rnd() % (m.size() + 1));
        ReplyView v(m.data(), m.size());
        CHECK(v.ok() == for_each_rr(m.data(), m.size(), [](const RR&) { return true; }));
        (void)v.typify(kNow);
        (void)v.answers(qi, true);
        const size_t n = v.strip_opt(m.data());
        CHECK(n <= m.size());
        v.set_all_ttls(m.data(), 1);
    }
    SUCCEED("no crash");
}

TEST_CASE("finish_reply gives the same bytes with or without a view", "[reply]") {
    testing::QueryOptions o;
    o.edns = true;
    o.do_bit = true;
    o.udp_size = 1232;
    const Bytes q = make_query("example.org.", "TXT", o);
    QueryInfo qi;
    REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);
    std::vector<Bytes> replies;
    replies.push_back(make_reply(q, 0, {"example.org. 60 IN TXT \"a\""}));
    Bytes with_opt = make_reply(make_query("example.org.", "TXT"), 0, {"example.org. 60 IN TXT \"a\""});
    add_opt(with_opt, 0x01000000u, 4096);
    replies.push_back(with_opt);
    std::vector<std::string> many;
    for (int i = 0; i < 40; ++i) many.push_back("example.org. 60 IN TXT \"" + std::string(60, char('a' + i % 26)) + "\"");
    replies.push_back(make_reply(make_query("example.org.", "TXT"), 0, many));  // truncated at 1232
    for (const Bytes& r : replies) {
        for (bool tcp : {false, true}) {
            Bytes a = r, b = r;
            a.resize(65535);
            b.resize(65535);
            const size_t na = finish_reply(a.data(), r.size(), a.size(), q.data(), qi, tcp);
            const ReplyView v(b.data(), r.size());
            const size_t nb = finish_reply(b.data(), r.size(), b.size(), q.data(), qi, tcp, &v);
            REQUIRE(na == nb);
            CHECK(std::equal(a.begin(), a.begin() + long(na), b.begin()));
        }
    }
}

TEST_CASE("strip_opt: a record whose owner points into the removed OPT leaves the view not ok", "[reply]") {
    // The wire fuzz target's finding (regressions/wire/crash-ef4ba37...):
    // the view claimed ok after the strip and the cache could keep a reply
    // that no longer walks. Here: OPT with one empty option whose code bytes
    // spell the name "b." (01 62 00 00), then an A record owned by a pointer
    // to those bytes. Valid before the strip; after it, the pointer points
    // at bytes of the moved record itself (not strictly backwards).
    const Bytes q = make_query("a.", "A");
    Bytes r = make_reply(q, 0, {});
    const size_t opt_at = r.size();
    const uint8_t opt[] = {0x00, 0x00, 41, 0x10, 0x00, 0, 0, 0, 0, 0x00, 0x04, 0x01, 0x62, 0x00, 0x00};
    r.insert(r.end(), std::begin(opt), std::end(opt));
    const uint16_t name_at = uint16_t(opt_at + 11);
    const uint8_t a[] = {uint8_t(0xC0 | (name_at >> 8)), uint8_t(name_at), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    r.insert(r.end(), std::begin(a), std::end(a));
    r[11] = 2;  // ARCOUNT: the OPT and the A record
    ReplyView v(r.data(), r.size());
    REQUIRE(v.ok());
    REQUIRE(v.has_opt());
    const size_t n = v.strip_opt(r.data());
    CHECK(n == r.size() - sizeof opt);
    CHECK_FALSE(v.ok());  // the cache refuses to store what does not walk
    CHECK_FALSE(for_each_rr(r.data(), n, [](const RR&) { return true; }));
}

TEST_CASE("strip_opt removes every OPT of one walk, as the view does, even when a name reads through them", "[reply]") {
    // The wire fuzz target's finding (regressions/wire/crash-e74dfd8...): two
    // OPTs, and an answer whose owner name runs through both. Removing one
    // and walking again read that name differently and stopped with the
    // second OPT still in; the view removed both.
    const Bytes m = {0x12, 0x34, 0x80, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x07, 0x65, 0x70,
                     0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x01, 0x00, 0x01, 0xc0,
                     0x1c, 0x00, 0x01, 0x00, 0x01, 0x08, 0x0a, 0x01, 0x2c, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x01,
                     0x00, 0x00, 0x29, 0x80, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x29, 0x00,
                     0x00, 0x00, 0x00, 0x00, 0x44, 0x00, 0x00, 0x67};
    Bytes walked = m;
    const size_t wn = wire::strip_opt(walked.data(), walked.size());
    Bytes viewed = m;
    ReplyView v(viewed.data(), viewed.size());
    REQUIRE(v.ok());
    const size_t n = v.strip_opt(viewed.data());
    CHECK(wn == m.size() - 22);
    CHECK(n == wn);
    CHECK(Bytes(walked.begin(), walked.begin() + long(wn)) == Bytes(viewed.begin(), viewed.begin() + long(n)));
    CHECK(arcount(walked.data()) == 0);
    CHECK_FALSE(v.ok());  // the owner name now runs past the end
}
