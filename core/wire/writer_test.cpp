#include "core/wire/writer.hpp"

#include <string>
#include <vector>

#include "core/wire/reply.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using namespace dnscore::wire;
using dnscore::testing::Bytes;
using dnscore::testing::make_query;

namespace {
Bytes wname(const std::string& text) {
    uint8_t buf[kMaxNameLen];
    const size_t n = text_to_name(text, buf);
    return Bytes(buf, buf + n);
}
Bytes done(const uint8_t* buf, const Writer& w) { return Bytes(buf, buf + w.finish()); }
}  // namespace

TEST_CASE("Writer: header and question, byte for byte", "[writer]") {
    uint8_t buf[512];
    Writer w(buf, sizeof buf);
    w.header(0xBEEF, kQR | kRD);
    const Bytes n = wname("a.Example.");
    w.question(n.data(), n.size(), kTypeA, kClassIN);
    const Bytes want = {0xBE, 0xEF, 0x81, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                        1, 'a', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
    CHECK(done(buf, w) == want);
}

TEST_CASE("Writer: typed records as ldns reads them", "[writer]") {
    uint8_t buf[1024];
    Writer w(buf, sizeof buf);
    w.header(1, kQR | kAA);
    const Bytes owner = wname("www.example.org.");
    const Bytes target = wname("host.example.org.");
    w.question(owner.data(), owner.size(), kTypeA, kClassIN);
    const uint8_t v4[4] = {192, 0, 2, 1};
    const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    w.section(Section::answer);
    w.a(owner.data(), owner.size(), kClassIN, 300, v4);
    w.aaaa(owner.data(), owner.size(), kClassIN, 300, v6);
    w.cname(owner.data(), owner.size(), kClassIN, 60, target.data(), target.size());
    w.txt(owner.data(), owner.size(), kClassIN, 60, "hello world");
    w.section(Section::authority);
    w.ptr(owner.data(), owner.size(), kClassIN, 10, target.data(), target.size());
    w.section(Section::additional);
    const Bytes srv_owner = wname("_udp.www.example.org.");
    const Bytes root = wname(".");
    w.srv(srv_owner.data(), srv_owner.size(), kClassIN, 0, 1, 2, 53, root.data(), root.size());
    REQUIRE(w.ok());
    const Bytes m = done(buf, w);
    CHECK(qdcount(m.data()) == 1);
    CHECK(ancount(m.data()) == 4);
    CHECK(nscount(m.data()) == 1);
    CHECK(arcount(m.data()) == 1);
    const auto an = testing::section(m, 1);
    REQUIRE(an.size() == 4);
    CHECK(an[0] == "www.example.org.\t300\tIN\tA\t192.0.2.1");
    CHECK(an[1] == "www.example.org.\t300\tIN\tAAAA\t2001:db8::1");
    CHECK(an[2] == "www.example.org.\t60\tIN\tCNAME\thost.example.org.");
    CHECK(an[3] == "www.example.org.\t60\tIN\tTXT\t\"hello world\"");
    CHECK(testing::section(m, 2) == std::vector<std::string>{"www.example.org.\t10\tIN\tPTR\thost.example.org."});
    CHECK(testing::section(m, 3) == std::vector<std::string>{"_udp.www.example.org.\t0\tIN\tSRV\t1 2 53 ."});
    // Compression: every owner after the question is a 2-byte pointer.
    CHECK(ReplyView(m.data(), m.size()).ok());
    CHECK(m.size() < 200);
}

TEST_CASE("Writer: compression points at earlier names, exact case only", "[writer]") {
    uint8_t buf[512];
    Writer w(buf, sizeof buf);
    w.header(7, kQR);
    const Bytes q = wname("a.example.org.");
    w.question(q.data(), q.size(), kTypeA, kClassIN);
    const size_t after_question = w.size();
    const Bytes sub = wname("b.example.org.");
    const uint8_t ip[4] = {10, 0, 0, 1};
    w.a(sub.data(), sub.size(), kClassIN, 1, ip);
    // "b" label (2 bytes) + pointer to "example.org." at 14.
    CHECK(buf[after_question] == 1);
    CHECK(buf[after_question + 1] == 'b');
    CHECK(rd16(buf + after_question + 2) == (0xC000 | 14));
    const size_t before_upper = w.size();
    const Bytes upper = wname("B.EXAMPLE.ORG.");
    w.a(upper.data(), upper.size(), kClassIN, 1, ip);
    // Different case: written out, never pointed at another spelling.
    CHECK(w.size() - before_upper == upper.size() + 10 + 4);
    const Bytes m = done(buf, w);
    const auto an = testing::section(m, 1);
    REQUIRE(an.size() == 2);
    CHECK(an[0] == "b.example.org.\t1\tIN\tA\t10.0.0.1");
    CHECK(an[1] == "B.EXAMPLE.ORG.\t1\tIN\tA\t10.0.0.1");
    // Without compression names are written in full.
    Writer plain(buf, sizeof buf);
    plain.set_compression(false);
    plain.header(7, kQR);
    plain.question(q.data(), q.size(), kTypeA, kClassIN);
    plain.a(q.data(), q.size(), kClassIN, 1, ip);
    CHECK(plain.size() == kHeaderLen + q.size() + 4 + q.size() + 10 + 4);
}

TEST_CASE("Writer: names of repeated labels compress only against whole earlier names", "[writer]") {
    // 100 labels "a": a name never points into itself (its labels written so
    // far have no root yet), and a later name points at the suffix of equal
    // length only (the edns fuzzer found such names slow to compress).
    std::string many;
    for (int i = 0; i < 100; ++i) many += "a.";
    uint8_t buf[1024];
    Writer w(buf, sizeof buf);
    w.header(7, kQR);
    const Bytes q = wname(many);
    REQUIRE(q.size() == 201);
    w.question(q.data(), q.size(), kTypeA, kClassIN);
    CHECK(w.size() == kHeaderLen + q.size() + 4);  // written in full
    const uint8_t ip[4] = {10, 0, 0, 1};
    const size_t at_owner = w.size();
    const Bytes longer = wname("b." + many);
    w.a(longer.data(), longer.size(), kClassIN, 1, ip);
    // "b" then a pointer to the question name (offset 12).
    CHECK(buf[at_owner] == 1);
    CHECK(buf[at_owner + 1] == 'b');
    CHECK(rd16(buf + at_owner + 2) == (0xC000 | kHeaderLen));
    const size_t at_short = w.size();
    const Bytes shorter = wname(many.substr(20));  // 90 labels
    w.a(shorter.data(), shorter.size(), kClassIN, 1, ip);
    // The question's suffix of 90 labels (the first 32 label suffixes are
    // remembered): 10 labels in, at 12 + 2 * 10.
    CHECK(rd16(buf + at_short) == (0xC000 | (kHeaderLen + 2 * 10)));
    const Bytes m = done(buf, w);
    const auto an = testing::section(m, 1);
    REQUIRE(an.size() == 2);
    CHECK(an[0] == "b." + many + "\t1\tIN\tA\t10.0.0.1");
    CHECK(an[1] == many.substr(20) + "\t1\tIN\tA\t10.0.0.1");
}

TEST_CASE("Writer: capacity is checked on every write", "[writer]") {
    const Bytes n = wname("www.example.org.");
    const uint8_t ip[4] = {192, 0, 2, 1};
    uint8_t big[512];
    Writer full(big, sizeof big);
    full.header(1, kQR);
    full.question(n.data(), n.size(), kTypeA, kClassIN);
    full.a(n.data(), n.size(), kClassIN, 1, ip);
    const size_t need = full.finish();
    REQUIRE(need > 0);
    for (size_t cap = 0; cap < need; ++cap) {
        std::vector<uint8_t> buf(cap + 16, 0xAA);
        Writer w(buf.data(), cap);
        w.header(1, kQR);
        w.question(n.data(), n.size(), kTypeA, kClassIN);
        w.a(n.data(), n.size(), kClassIN, 1, ip);
        CHECK_FALSE(w.ok());
        CHECK(w.finish() == 0);
        for (size_t i = cap; i < buf.size(); ++i) CHECK(buf[i] == 0xAA);  // nothing past cap
    }
    Writer exact(big, need);
    exact.header(1, kQR);
    exact.question(n.data(), n.size(), kTypeA, kClassIN);
    exact.a(n.data(), n.size(), kClassIN, 1, ip);
    CHECK(exact.finish() == need);
}

TEST_CASE("Writer: OPT with options and an Extended DNS Error", "[writer]") {
    uint8_t buf[512];
    Writer w(buf, sizeof buf);
    w.header(0x0102, kQR);
    const Bytes n = wname("example.");
    w.question(n.data(), n.size(), kTypeA, kClassIN);
    w.opt(1232, 0, 0, true);
    const uint8_t cookie[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    w.option(10, cookie, sizeof cookie);
    w.ede(18, "no");
    REQUIRE(w.ok());
    const Bytes m = done(buf, w);
    const size_t opt = kHeaderLen + n.size() + 4;
    const Bytes want_opt = {0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 12 + 8,
                            0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8,
                            0, 15, 0, 4, 0, 18, 'n', 'o'};
    CHECK(Bytes(m.begin() + long(opt), m.end()) == want_opt);
    CHECK(arcount(m.data()) == 1);
    ReplyView v(m.data(), m.size());
    REQUIRE(v.ok());
    CHECK(v.has_opt());
    CHECK(v.do_bit());
    CHECK(testing::to_text(m).find("EDNS") != std::string::npos);

    // An option added later to an OPT that is the last record.
    Writer again = Writer::append(buf, m.size(), sizeof buf);
    again.reopen_opt(opt);
    again.ede(3);
    REQUIRE(again.ok());
    CHECK(again.size() == m.size() + 6);
    CHECK(rd16(buf + opt + 9) == 12 + 8 + 6);
    CHECK(arcount(buf) == 1);
    // Not the last record: refused.
    Writer bad = Writer::append(buf, again.size(), sizeof buf);
    bad.reopen_opt(kHeaderLen);
    CHECK_FALSE(bad.ok());
}

TEST_CASE("Writer: a reply header keeps the request's case and flags", "[writer]") {
    testing::QueryOptions o;
    o.cd = true;
    o.ad = true;
    const Bytes q = make_query("MiXeD.Example.", "AAAA", o);
    QueryInfo qi;
    REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);
    uint8_t buf[512];
    Writer w(buf, sizeof buf);
    w.reply_header(q.data(), qi, kNXDomain, true, true);
    const Bytes m = done(buf, w);
    REQUIRE(m.size() == q.size());
    CHECK(std::equal(m.begin() + kHeaderLen, m.end(), q.begin() + kHeaderLen));
    CHECK(flags(m.data()) == (kQR | kRD | kCD | kAD | kNXDomain));
    CHECK(id(m.data()) == qi.id);
}
