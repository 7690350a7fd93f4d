#include "core/wire/wire.hpp"

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
std::string text_of(const uint8_t* name, size_t len) {
    char buf[1024];
    return std::string(buf, name_to_text(name, len, buf, sizeof buf));
}
Bytes header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    Bytes b(12);
    wr16(b.data(), id);
    wr16(b.data() + 2, flags);
    wr16(b.data() + 4, qd);
    wr16(b.data() + 6, an);
    wr16(b.data() + 8, ns);
    wr16(b.data() + 10, ar);
    return b;
}
}  // namespace

TEST_CASE("read_name expands, lower-cases and bounds names", "[wire]") {
    Bytes q = make_query("WwW.ExAmple.ORG.", "A");
    uint8_t out[255];
    size_t n = 0;
    REQUIRE(read_name(q.data(), q.size(), 12, out, &n, true) == 12 + 17);
    CHECK(text_of(out, n) == "www.example.org.");
    REQUIRE(read_name(q.data(), q.size(), 12, out, &n, false) != 0);
    CHECK(text_of(out, n) == "WwW.ExAmple.ORG.");

    SECTION("a pointer loop is rejected") {
        Bytes m = header(1, 0, 1, 0, 0, 0);
        m.push_back(0xC0);
        m.push_back(12);  // points at itself
        m.insert(m.end(), {0, 1, 0, 1});
        CHECK(read_name(m.data(), m.size(), 12) == 0);
    }
    SECTION("a forward pointer is rejected") {
        Bytes m = header(1, 0, 1, 0, 0, 0);
        m.push_back(0xC0);
        m.push_back(20);
        m.insert(m.end(), {0, 1, 0, 1, 1, 'a', 0});
        CHECK(read_name(m.data(), m.size(), 12) == 0);
    }
    SECTION("a truncated label is rejected") {
        Bytes m = header(1, 0, 1, 0, 0, 0);
        m.insert(m.end(), {5, 'a', 'b'});
        CHECK(read_name(m.data(), m.size(), 12) == 0);
    }
    SECTION("a name longer than 255 octets is rejected") {
        Bytes m = header(1, 0, 1, 0, 0, 0);
        for (int i = 0; i < 5; ++i) {
            m.push_back(63);
            m.insert(m.end(), 63, 'a');
        }
        m.push_back(0);
        CHECK(read_name(m.data(), m.size(), 12) == 0);
    }
    SECTION("backward pointers are followed") {
        Bytes r = make_reply(q, 0, {"www.example.org. 300 IN A 192.0.2.1"});
        size_t after_q = skip_question(r.data(), r.size());
        REQUIRE(after_q != 0);
        CHECK(read_name(r.data(), r.size(), after_q, out, &n, true) != 0);
        CHECK(text_of(out, n) == "www.example.org.");
    }
}

TEST_CASE("text_to_name and name_to_text round trip", "[wire]") {
    uint8_t w[255];
    for (const char* s : {".", "example.org.", "a.b.c.", "x\\.y.org.", "\\000.org."}) {
        size_t n = text_to_name(s, w);
        REQUIRE(n != 0);
        CHECK(text_of(w, n) == s);
    }
    CHECK(text_to_name("example.org", w) == 13);
    CHECK(text_of(w, 13) == "example.org.");
    CHECK(text_to_name("a..b", w) == 0);
    CHECK(text_to_name(".a", w) == 0);
    CHECK(text_to_name(std::string(64, 'a') + ".", w) == 0);
    CHECK(text_to_name(std::string(63, 'a') + ".", w) == 65);
}

TEST_CASE("is_subdomain and label_count", "[wire]") {
    uint8_t a[255], b[255], root[1] = {0};
    size_t al = text_to_name("www.example.org.", a), bl = text_to_name("example.org.", b);
    CHECK(is_subdomain(a, al, b, bl));
    CHECK(is_subdomain(b, bl, b, bl));
    CHECK_FALSE(is_subdomain(b, bl, a, al));
    CHECK(is_subdomain(a, al, root, 1));
    uint8_t c[255];
    size_t cl = text_to_name("wexample.org.", c);
    CHECK_FALSE(is_subdomain(c, cl, b, bl));
    CHECK(label_count(a, al) == 3);
    CHECK(label_count(root, 1) == 0);
}

TEST_CASE("mnemonics as CoreDNS prints them", "[wire]") {
    char s[16];
    CHECK(type_name(1, s) == "A");
    CHECK(type_name(65, s) == "HTTPS");
    CHECK(type_name(65280, s) == "TYPE65280");
    CHECK(class_name(1, s) == "IN");
    CHECK(class_name(3, s) == "CH");
    CHECK(class_name(9, s) == "CLASS9");
    CHECK(rcode_name(3, s) == "NXDOMAIN");
    CHECK(rcode_name(16, s) == "BADSIG");
    CHECK(rcode_name(12, s) == "12");
    CHECK(type_from_name("aaaa") == 28);
    CHECK(type_from_name("TYPE123") == 123);
    CHECK(type_from_name("bogus") == -1);
    CHECK(rcode_from_name("nxdomain") == 3);
}

TEST_CASE("parse_query applies the acceptance rules", "[wire]") {
    QueryInfo qi;
    SECTION("a normal query") {
        testing::QueryOptions o;
        o.edns = true;
        o.udp_size = 1232;
        o.do_bit = true;
        Bytes q = make_query("Example.ORG.", "AAAA", o);
        REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);
        CHECK(qi.qtype == 28);
        CHECK(qi.qclass == 1);
        CHECK(text_of(qi.name, qi.name_len) == "example.org.");
        CHECK(qi.edns.present);
        CHECK(qi.edns.udp_size == 1232);
        CHECK(qi.do_bit());
        CHECK(qi.udp_size(false) == 1232);
        CHECK(qi.udp_size(true) == 65535);
    }
    SECTION("short messages and responses are dropped") {
        Bytes s(11, 0);
        CHECK(parse_query(s.data(), s.size(), qi) == Verdict::drop);
        Bytes q = make_query("a.", "A");
        q[2] |= 0x80;
        CHECK(parse_query(q.data(), q.size(), qi) == Verdict::drop);
    }
    SECTION("unknown opcodes get NOTIMP, NOTIFY passes") {
        Bytes q = make_query("a.", "A");
        q[2] = uint8_t((q[2] & 0x87) | (2 << 3));
        CHECK(parse_query(q.data(), q.size(), qi) == Verdict::notimp);
        q[2] = uint8_t((q[2] & 0x87) | (4 << 3));
        CHECK(parse_query(q.data(), q.size(), qi) == Verdict::ok);
    }
    SECTION("bad counts are FORMERR") {
        Bytes q = make_query("a.", "A");
        wr16(q.data() + 4, 0);
        CHECK(parse_query(q.data(), q.size(), qi) == Verdict::formerr);
        wr16(q.data() + 4, 2);
        CHECK(parse_query(q.data(), q.size(), qi) == Verdict::formerr);
        wr16(q.data() + 4, 1);
        wr16(q.data() + 10, 3);
        CHECK(parse_query(q.data(), q.size(), qi) == Verdict::formerr);
    }
    SECTION("a body that does not parse is FORMERR with the question kept") {
        Bytes q = make_query("a.", "A");
        wr16(q.data() + 10, 1);  // claims an additional record that is not there
        CHECK(parse_query(q.data(), q.size(), qi) == Verdict::formerr);
        CHECK(qi.has_question);
    }
    SECTION("truncated question is FORMERR") {
        Bytes q = make_query("abc.", "A");
        q.resize(q.size() - 3);
        CHECK(parse_query(q.data(), q.size(), qi) == Verdict::formerr);
        CHECK_FALSE(qi.has_question);
    }
}

TEST_CASE("build_header_reply keeps the asked case and the right flags", "[wire]") {
    testing::QueryOptions o;
    o.cd = true;
    o.ad = true;
    Bytes q = make_query("MiXeD.org.", "MX", o);
    QueryInfo qi;
    REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);
    uint8_t out[512];
    size_t n = build_header_reply(q.data(), qi, kServFail, true, false, out, sizeof out);
    REQUIRE(n == q.size());
    CHECK(id(out) == 0x1234);
    CHECK((flags(out) & kQR));
    CHECK((flags(out) & kRD));
    CHECK((flags(out) & kCD));
    CHECK_FALSE((flags(out) & kAD));
    CHECK(rcode(out) == kServFail);
    CHECK(std::equal(out + 12, out + n, q.data() + 12));  // question byte-identical
    n = build_header_reply(q.data(), qi, kFormErr, false, true, out, sizeof out);
    CHECK(n == 12);
    CHECK((flags(out) & kAD));
    CHECK(qdcount(out) == 0);
}

TEST_CASE("badvers reply layout", "[wire]") {
    Bytes q = make_query("a.", "A");
    q.insert(q.end(), {0, 0, 41, 0x10, 0, 0, 1, 0, 0, 0, 0});  // OPT version 1
    wr16(q.data() + 10, 1);
    QueryInfo qi;
    REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);
    CHECK(qi.edns.version == 1);
    uint8_t out[512];
    size_t n = build_badvers_reply(q.data(), qi, out, sizeof out);
    REQUIRE(n == q.size());
    CHECK(rcode(out) == 0);
    CHECK(arcount(out) == 1);
    CHECK(out[n - 6] == 1);  // extended rcode high bits = 1 -> BADVERS
    CHECK(rd16(out + n - 8) == 0);  // UDP size 0
}

TEST_CASE("finish_reply mirrors EDNS and truncates", "[wire]") {
    testing::QueryOptions o;
    o.edns = true;
    o.udp_size = 1232;
    o.do_bit = true;
    Bytes q = make_query("big.example.", "TXT", o);
    QueryInfo qi;
    REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);

    SECTION("client OPT appended when the reply has none") {
        Bytes r = make_reply(q, 0, {"big.example. 60 IN TXT \"x\""});
        r = Bytes(r.begin(), r.end());
        size_t plain = r.size();
        r.resize(65535);
        // make_reply echoes no OPT
        REQUIRE(arcount(r.data()) == 0);
        size_t n = finish_reply(r.data(), plain, r.size(), q.data(), qi, false);
        CHECK(n == plain + 11);
        CHECK(arcount(r.data()) == 1);
        r.resize(n);
        auto t = testing::to_text(r);
        CHECK(t.find("EDNS: version 0; flags: do ; udp: 1232") != std::string::npos);
    }
    SECTION("no EDNS: limit 512 and TC with whole records kept") {
        Bytes q2 = make_query("big.example.", "TXT");
        QueryInfo qi2;
        REQUIRE(parse_query(q2.data(), q2.size(), qi2) == Verdict::ok);
        std::vector<std::string> rrs;
        for (int i = 0; i < 20; ++i)
            rrs.push_back("big.example. 60 IN TXT \"" + std::string(40, char('a' + i)) + "\"");
        Bytes r = make_reply(q2, 0, rrs);
        const size_t full = r.size();
        REQUIRE(full > 512);
        r.resize(65535);
        size_t n = finish_reply(r.data(), full, r.size(), q2.data(), qi2, false);
        CHECK(n <= 512);
        CHECK((flags(r.data()) & kTC));
        CHECK(ancount(r.data()) > 0);
        CHECK(ancount(r.data()) < 20);
        r.resize(n);
        CHECK(testing::section(r, 1).size() == ancount(r.data()));
        // Over TCP nothing is cut.
        Bytes r2 = make_reply(q2, 0, rrs);
        r2.resize(65535);
        CHECK(finish_reply(r2.data(), full, r2.size(), q2.data(), qi2, true) == full);
        CHECK_FALSE((flags(r2.data()) & kTC));
    }
    SECTION("a reply OPT is patched to the client's size and DO") {
        Bytes r = make_reply(q, 0, {"big.example. 60 IN TXT \"x\""});
        r.insert(r.end(), {0, 0, 41, 0x02, 0x00, 0x05, 0x01, 0x00, 0x00, 0, 0});  // size 512, ext 5, ver 1
        wr16(r.data() + 10, 1);
        const size_t len = r.size();
        r.resize(65535);
        size_t n = finish_reply(r.data(), len, r.size(), q.data(), qi, false);
        CHECK(n == len);
        CHECK(rd16(r.data() + len - 8) == 1232);
        CHECK(r[len - 6] == 0);       // extended rcode cleared
        CHECK(r[len - 5] == 0);       // version 0
        CHECK((r[len - 4] & 0x80));   // DO set
    }
}

TEST_CASE("strip_opt and set_all_ttls", "[wire]") {
    testing::QueryOptions o;
    o.edns = true;
    Bytes q = make_query("x.example.", "A", o);
    Bytes r = make_reply(q, 0, {"x.example. 60 IN A 192.0.2.1", "x.example. 70 IN A 192.0.2.2"});
    r.insert(r.end(), {0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0});
    wr16(r.data() + 10, 1);
    size_t n = strip_opt(r.data(), r.size());
    CHECK(n == r.size() - 11);
    CHECK(arcount(r.data()) == 0);
    r.resize(n);
    set_all_ttls(r.data(), r.size(), 5);
    for (const auto& line : testing::section(r, 1)) CHECK(line.find("\t5\tIN\tA\t") != std::string::npos);
}

TEST_CASE("fuzz-style: random mutations never crash parse, walk or finish", "[wire]") {
    testing::QueryOptions o;
    o.edns = true;
    Bytes base = make_query("fuzz.example.org.", "A", o);
    uint32_t seed = 12345;
    auto rnd = [&] { return seed = seed * 1103515245u + 12345u; };
    uint8_t out[65535];
    for (int i = 0; i < 20000; ++i) {
        Bytes m = base;
        const int flips = 1 + int(rnd() % 4);
        for (int f = 0; f < flips; ++f) m[rnd() % m.size()] = uint8_t(rnd());
        if (rnd() % 4 == 0) m.resize(rnd() % (m.size() + 1));
        QueryInfo qi;
        auto v = parse_query(m.data(), m.size(), qi);
        size_t count = 0;
        for_each_rr(m.data(), m.size(), [&](const RR&) { return ++count < 100; });
        if (v == Verdict::ok) {
            std::copy(m.begin(), m.end(), out);
            size_t n = finish_reply(out, m.size(), sizeof out, m.data(), qi, false);
            CHECK(n <= sizeof out);
        }
    }
    SUCCEED("no crash");
}

TEST_CASE("add_ede attaches the client's OPT with an Extended DNS Error", "[wire]") {
    auto req = testing::make_query("example.org.", "A", {.edns = true, .udp_size = 1400});
    wire::QueryInfo qi;
    REQUIRE(wire::parse_query(req.data(), req.size(), qi) == wire::Verdict::ok);
    auto reply = testing::make_reply(testing::make_query("example.org.", "A"), 0, {"example.org. 1 IN A 192.0.2.1"});
    const size_t base = reply.size();
    reply.resize(base + 64);
    const size_t len = wire::add_ede(reply.data(), base, reply.size(), req.data(), qi, 3);
    REQUIRE(len == base + 11 + 6);
    CHECK(wire::arcount(reply.data()) == 1);
    const uint8_t* opt = reply.data() + base;
    CHECK(wire::rd16(opt + 1) == wire::kTypeOPT);
    CHECK(wire::rd16(opt + 3) == 1400);
    CHECK(wire::rd16(opt + 9) == 6);
    CHECK(wire::rd16(opt + 11) == 15);
    CHECK(wire::rd16(opt + 13) == 2);
    CHECK(wire::rd16(opt + 15) == 3);
    // Without client EDNS nothing changes.
    auto plain = testing::make_query("example.org.", "A");
    wire::QueryInfo pi;
    REQUIRE(wire::parse_query(plain.data(), plain.size(), pi) == wire::Verdict::ok);
    CHECK(wire::add_ede(reply.data(), base, reply.size(), plain.data(), pi, 3) == base);
}
