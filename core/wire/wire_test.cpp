#include "core/wire/wire.hpp"

#include <map>
#include <string>
#include <vector>

#include "core/wire/reply.hpp"
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
    SECTION("a pointer into the header is rejected") {
        // 03 www 07 example C0 0B: "example" then a jump to ARCOUNT's low
        // byte (0, the root): the name only reads through header bytes.
        Bytes m = header(1, 0x8180, 1, 0, 0, 0);
        m.insert(m.end(), {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0xC0, 11, 0, 1, 0, 1});
        CHECK(read_name(m.data(), m.size(), 12) == 0);
        for (uint8_t target : {0, 4, 6}) {
            m[24] = 0xC0;
            m[25] = target;
            CHECK(read_name(m.data(), m.size(), 12) == 0);
        }
        CHECK(skip_question(m.data(), m.size()) == 0);
    }
    SECTION("a pointer into the name being read is rejected") {
        // 03 www C0 0C: backwards from where the pointer sits, but at the
        // start of this very name (a loop).
        Bytes m = header(1, 0, 1, 0, 0, 0);
        m.insert(m.end(), {3, 'w', 'w', 'w', 0xC0, 12, 0, 1, 0, 1});
        CHECK(read_name(m.data(), m.size(), 12) == 0);
        // 04 [01 'z' 00 'q'] C0 0D: the pointer lands inside the first label
        // of the same name, which then reads "z." and ends: no loop, but
        // not an earlier name either.
        Bytes inside = header(1, 0, 1, 0, 0, 0);
        inside.insert(inside.end(), {4, 1, 'z', 0, 'q', 0xC0, 13, 0, 1, 0, 1});
        CHECK(read_name(inside.data(), inside.size(), 12) == 0);
    }
    SECTION("after a jump, a pointer must land before where the jump went") {
        // At 12 a label and a pointer to 13 (inside it); at 19 a pointer to
        // 12. Read from 19: each pointer goes backwards from where it sits,
        // but the second lands after where the first went.
        Bytes m = header(1, 0, 1, 0, 0, 0);
        m.insert(m.end(), {4, 1, 'z', 0, 'q', 0xC0, 13, 0xC0, 12});
        CHECK(read_name(m.data(), m.size(), 19) == 0);
        // A proper chain: "b." at 21, "c" + pointer to 21 at 24, and at 28
        // a pointer to 24: each jump lands before the last.
        m.insert(m.end(), {1, 'b', 0, 1, 'c', 0xC0, 21, 0xC0, 24});
        CHECK(read_name(m.data(), m.size(), 28, out, &n, false) == 30);
        CHECK(text_of(out, n) == "c.b.");
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
    // miekg/dns TypeToString (ztypes.go), every entry; anything else is TYPEn.
    const std::map<uint16_t, std::string> types = {
        {0, "None"}, {1, "A"}, {2, "NS"}, {3, "MD"}, {4, "MF"}, {5, "CNAME"}, {6, "SOA"}, {7, "MB"},
        {8, "MG"}, {9, "MR"}, {10, "NULL"}, {12, "PTR"}, {13, "HINFO"}, {14, "MINFO"}, {15, "MX"},
        {16, "TXT"}, {17, "RP"}, {18, "AFSDB"}, {19, "X25"}, {20, "ISDN"}, {21, "RT"}, {23, "NSAP-PTR"},
        {24, "SIG"}, {25, "KEY"}, {26, "PX"}, {27, "GPOS"}, {28, "AAAA"}, {29, "LOC"}, {30, "NXT"},
        {31, "EID"}, {32, "NIMLOC"}, {33, "SRV"}, {34, "ATMA"}, {35, "NAPTR"}, {36, "KX"}, {37, "CERT"},
        {39, "DNAME"}, {41, "OPT"}, {42, "APL"}, {43, "DS"}, {44, "SSHFP"}, {45, "IPSECKEY"},
        {46, "RRSIG"}, {47, "NSEC"}, {48, "DNSKEY"}, {49, "DHCID"}, {50, "NSEC3"}, {51, "NSEC3PARAM"},
        {52, "TLSA"}, {53, "SMIMEA"}, {55, "HIP"}, {56, "NINFO"}, {57, "RKEY"}, {58, "TALINK"},
        {59, "CDS"}, {60, "CDNSKEY"}, {61, "OPENPGPKEY"}, {62, "CSYNC"}, {63, "ZONEMD"}, {64, "SVCB"},
        {65, "HTTPS"}, {99, "SPF"}, {100, "UINFO"}, {101, "UID"}, {102, "GID"}, {103, "UNSPEC"},
        {104, "NID"}, {105, "L32"}, {106, "L64"}, {107, "LP"}, {108, "EUI48"}, {109, "EUI64"},
        {128, "NXNAME"}, {249, "TKEY"}, {250, "TSIG"}, {251, "IXFR"}, {252, "AXFR"}, {253, "MAILB"},
        {254, "MAILA"}, {255, "ANY"}, {256, "URI"}, {257, "CAA"}, {258, "AVC"}, {260, "AMTRELAY"},
        {261, "RESINFO"}, {32768, "TA"}, {32769, "DLV"}, {65535, "Reserved"},
    };
    REQUIRE(types.size() == 88);
    // miekg Class.String: ClassToString, except "ANY", which is also a type
    // name and so prints as CLASS255.
    const std::map<uint16_t, std::string> classes = {{1, "IN"}, {2, "CS"}, {3, "CH"}, {4, "HS"}, {254, "NONE"}};
    for (uint32_t v = 0; v <= 65535; ++v) {
        auto t = types.find(uint16_t(v));
        const std::string want_t = t != types.end() ? t->second : "TYPE" + std::to_string(v);
        if (type_name(uint16_t(v), s) != want_t) FAIL("type " << v << ": " << type_name(uint16_t(v), s));
        auto c = classes.find(uint16_t(v));
        const std::string want_c = c != classes.end() ? c->second : "CLASS" + std::to_string(v);
        if (class_name(uint16_t(v), s) != want_c) FAIL("class " << v << ": " << class_name(uint16_t(v), s));
    }
    CHECK(type_name(0, s) == "None");
    CHECK(type_name(65535, s) == "Reserved");
    CHECK(class_name(255, s) == "CLASS255");
    CHECK(class_name(254, s) == "NONE");
    CHECK(rcode_name(3, s) == "NXDOMAIN");
    CHECK(rcode_name(16, s) == "BADSIG");
    CHECK(rcode_name(12, s) == "12");
    CHECK(type_from_name("aaaa") == 28);
    CHECK(type_from_name("TYPE123") == 123);
    CHECK(type_from_name("bogus") == -1);
    // Configuration still reads "ANY" as class 255 (miekg StringToClass).
    CHECK(class_from_name("ANY") == 255);
    CHECK(class_from_name("CLASS255") == 255);
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
    SECTION("an EDNS option running past the OPT RDATA is FORMERR with the question kept") {
        testing::QueryOptions eo;
        eo.edns = true;
        Bytes base = make_query("a.", "A", eo);
        REQUIRE(parse_query(base.data(), base.size(), qi) == Verdict::ok);
        // The OPT is last with empty RDATA: RDLENGTH is the last two bytes.
        auto with_rdata = [&](const Bytes& rdata) {
            Bytes q = base;
            wr16(q.data() + q.size() - 2, uint16_t(rdata.size()));
            q.insert(q.end(), rdata.begin(), rdata.end());
            return q;
        };
        Bytes good = with_rdata({0, 10, 0, 2, 0xAB, 0xCD, 0, 12, 0, 0});  // COOKIE-ish, empty PADDING
        CHECK(parse_query(good.data(), good.size(), qi) == Verdict::ok);
        for (const Bytes& bad : {Bytes{0, 10, 0, 8, 1, 2, 3, 4}, Bytes{0, 10, 0, 0, 0, 12},
                                 Bytes{0, 10, 0}, Bytes{0, 3, 0, 1}}) {
            Bytes q = with_rdata(bad);
            CHECK(parse_query(q.data(), q.size(), qi) == Verdict::formerr);
            CHECK(qi.has_question);
        }
    }
    SECTION("a second OPT is FORMERR (RFC 6891 6.1.1)") {
        testing::QueryOptions eo;
        eo.edns = true;
        Bytes q = make_query("a.", "A", eo);
        q.insert(q.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
        wr16(q.data() + 10, 2);
        CHECK(parse_query(q.data(), q.size(), qi) == Verdict::formerr);
        CHECK(qi.has_question);
    }
    SECTION("a question name through a header or forward pointer is FORMERR") {
        Bytes h = header(1, 0x0100, 1, 0, 0, 0);
        Bytes into_header = h;
        into_header.insert(into_header.end(), {3, 'w', 'w', 'w', 0xC0, 11, 0, 1, 0, 1});
        CHECK(parse_query(into_header.data(), into_header.size(), qi) == Verdict::formerr);
        // CoreDNS accepts this one (miekg follows any pointer); dnscore does not.
        Bytes forward = h;
        forward.insert(forward.end(), {3, 'w', 'w', 'w', 0xC0, 22, 0, 1, 0, 1, 0});
        CHECK(parse_query(forward.data(), forward.size(), qi) == Verdict::formerr);
    }
    SECTION("a question without type and class is FORMERR") {
        Bytes m = header(1, 0x0100, 1, 0, 0, 0);
        m.insert(m.end(), {1, 'a', 0});
        CHECK(parse_query(m.data(), m.size(), qi) == Verdict::formerr);
        m.insert(m.end(), {0, 1});  // type, no class
        CHECK(parse_query(m.data(), m.size(), qi) == Verdict::formerr);
    }
    SECTION("QDCOUNT 1 with no question at all is FORMERR") {
        Bytes m = header(1, 0x0100, 1, 0, 0, 0);
        CHECK(parse_query(m.data(), m.size(), qi) == Verdict::formerr);
        CHECK_FALSE(qi.has_question);
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

TEST_CASE("RD and CD are copied into replies for opcode QUERY only (miekg SetReply)", "[wire]") {
    testing::QueryOptions o;
    o.cd = true;
    o.ad = true;
    Bytes q = make_query("notify.example.", "SOA", o);
    q[2] = uint8_t((q[2] & 0x87) | (4 << 3));  // NOTIFY
    QueryInfo qi;
    REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);
    REQUIRE(qi.opcode == 4);
    uint8_t out[512];
    size_t n = build_header_reply(q.data(), qi, kRefused, true, false, out, sizeof out);
    REQUIRE(n == q.size());
    CHECK(opcode(out) == 4);
    CHECK(flags(out) == (kQR | (4 << 11) | kRefused));
    // The server's FORMERR/NOTIMP path echoes them whatever the opcode.
    n = build_header_reply(q.data(), qi, kNotImp, false, true, out, sizeof out);
    CHECK(flags(out) == (kQR | (4 << 11) | kRD | kCD | kAD | kNotImp));
    // BADVERS is built with SetReply too.
    Bytes b = q;
    b.insert(b.end(), {0, 0, 41, 0x10, 0, 0, 1, 0, 0, 0, 0});
    wr16(b.data() + 10, 1);
    REQUIRE(parse_query(b.data(), b.size(), qi) == Verdict::ok);
    n = build_badvers_reply(b.data(), qi, out, sizeof out);
    REQUIRE(n > 12);
    CHECK_FALSE((flags(out) & (kRD | kCD)));
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
    SECTION("bytes after the last record are dropped before the client's OPT goes on") {
        // Found by tests/fuzz (finisher, cache): the OPT was appended after
        // the junk, so the reply sent could not be read.
        Bytes r = make_reply(q, 0, {"big.example. 60 IN TXT \"x\""});
        const size_t records = r.size();
        r.insert(r.end(), {0, 0, 0, 1, 0x2c});
        const size_t with_junk = r.size();
        r.resize(65535);
        size_t n = finish_reply(r.data(), with_junk, r.size(), q.data(), qi, false);
        CHECK(n == records + 11);
        r.resize(n);
        CHECK(testing::to_text(r).find("EDNS: version 0; flags: do ; udp: 1232") != std::string::npos);
        // The same through a view of the reply.
        Bytes r2 = make_reply(q, 0, {"big.example. 60 IN TXT \"x\""});
        r2.insert(r2.end(), {0, 0, 0, 1, 0x2c});
        r2.resize(65535);
        const ReplyView v(r2.data(), with_junk);
        REQUIRE(v.ok());
        CHECK(v.records_end() == records);
        CHECK(finish_reply(r2.data(), with_junk, r2.size(), q.data(), qi, false, &v) == records + 11);
        CHECK(ReplyView(r2.data(), records + 11).ok());
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
    SECTION("records are counted as sent: compressed ones fit where their uncompressed size would not") {
        // 40 A records whose owners point at the question: 16 bytes each,
        // 672 in all; uncompressed (30 bytes each) only 15 would fit.
        Bytes q2 = make_query("WwW.Example.ORG.", "A");
        QueryInfo qi2;
        REQUIRE(parse_query(q2.data(), q2.size(), qi2) == Verdict::ok);
        Bytes r = q2;
        r[2] |= 0x80;
        wr16(r.data() + 6, 40);
        for (int i = 0; i < 40; ++i)
            r.insert(r.end(), {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, uint8_t(i)});
        const size_t full = r.size();
        REQUIRE(full > 512);
        r.resize(65535);
        const size_t n = finish_reply(r.data(), full, r.size(), q2.data(), qi2, false);
        CHECK(n <= 512);
        CHECK(ancount(r.data()) == (512 - q2.size()) / 16);
        CHECK((flags(r.data()) & kTC));
        r.resize(n);
        CHECK(testing::section(r, 1).size() == ancount(r.data()));
    }
    SECTION("records that cannot be walked count as dropped: TC") {
        // A reply whose OPT is fine but whose last record runs past the end
        // of the message: everything before it that fits is kept, and TC
        // says something was left out.
        Bytes q2 = make_query("x.example.", "TXT");
        QueryInfo qi2;
        REQUIRE(parse_query(q2.data(), q2.size(), qi2) == Verdict::ok);
        std::vector<std::string> rrs;
        for (int i = 0; i < 2; ++i) rrs.push_back("x.example. 60 IN TXT \"" + std::string(200, char('a' + i)) + "\"");
        Bytes r = make_reply(q2, 0, rrs);
        REQUIRE(r.size() < 512 - 11);
        r.insert(r.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});  // OPT
        r.insert(r.end(), {0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 100});   // RDLENGTH 100...
        r.insert(r.end(), 60, 0xAA);                              // ...but 60 bytes
        wr16(r.data() + 10, 2);
        const size_t len = r.size();
        REQUIRE(len > 512);
        r.resize(65535);
        const size_t n = finish_reply(r.data(), len, r.size(), q2.data(), qi2, false);
        CHECK(n <= 512);
        CHECK((flags(r.data()) & kTC));
        CHECK(ancount(r.data()) == 2);
        r.resize(n);
        CHECK(testing::section(r, 1).size() == 2);
    }
    SECTION("a client OPT too big to fit goes out without its options") {
        // A 500-byte PADDING option: the OPT alone would push the reply past 512.
        Bytes q2 = make_query("pad.example.", "A");
        q2.insert(q2.end(), {0, 0, 41, 0x02, 0x00, 0, 0, 0, 0});
        const uint16_t plen = 500;
        q2.push_back(uint8_t((plen + 4) >> 8));
        q2.push_back(uint8_t(plen + 4));
        q2.insert(q2.end(), {0, 12, uint8_t(plen >> 8), uint8_t(plen)});
        q2.insert(q2.end(), plen, 0);
        wr16(q2.data() + 10, 1);
        QueryInfo qi2;
        REQUIRE(parse_query(q2.data(), q2.size(), qi2) == Verdict::ok);
        Bytes r = make_reply(make_query("pad.example.", "A"), 0, {"pad.example. 60 IN A 192.0.2.1"});
        const size_t len = r.size();
        r.resize(65535);
        const size_t n = finish_reply(r.data(), len, r.size(), q2.data(), qi2, false);
        CHECK(n <= 512);
        CHECK(ancount(r.data()) == 1);  // the record fits once the options are gone
        CHECK_FALSE((flags(r.data()) & kTC));
        CHECK(arcount(r.data()) == 1);
        r.resize(n);
        CHECK(testing::to_text(r).find("udp: 512") != std::string::npos);
        CHECK(rd16(r.data() + n - 2) == 0);  // no options
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

TEST_CASE("finish_reply: a kept record compressed against the set-aside OPT keeps no record, TC", "[wire]") {
    // The cache fuzz target's finding (regressions/cache/crash-6985821...):
    // truncation sets the OPT aside, and a kept record whose RDATA name
    // pointed into it went out unparsable (the walk checks owners, so only
    // names inside RDATA get that far). Reply: A; then in the additional
    // section an OPT whose option data ends with the name "b." (01 62 00), a
    // CNAME whose target points there, and a TXT record too big for 512.
    // Without the OPT the target's pointer points forward.
    testing::QueryOptions o;
    o.edns = true;
    o.udp_size = 512;
    const Bytes q = make_query("a.", "A", o);
    QueryInfo qi;
    REQUIRE(parse_query(q.data(), q.size(), qi) == Verdict::ok);
    Bytes r = make_reply(q, 0, {"a. 60 IN A 192.0.2.1"});
    const size_t records_at = skip_question(r.data(), r.size());
    REQUIRE(records_at > 0);
    const size_t opt_at = r.size();
    Bytes opt = {0x00, 0x00, 41, 0x02, 0x00, 0, 0, 0, 0, 0x00, 20, 0x00, 0x01, 0x00, 16};
    opt.insert(opt.end(), 13, 0);
    opt.insert(opt.end(), {0x01, 0x62, 0x00});
    r.insert(r.end(), opt.begin(), opt.end());
    const uint16_t name_at = uint16_t(opt_at + opt.size() - 3);
    const uint8_t cname[] = {0xC0, 0x0C, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, uint8_t(0xC0 | (name_at >> 8)), uint8_t(name_at)};
    r.insert(r.end(), std::begin(cname), std::end(cname));
    const uint8_t txt_head[] = {0xC0, 0x0C, 0, 16, 0, 1, 0, 0, 0, 60, uint8_t(603 >> 8), uint8_t(603 & 0xff)};
    r.insert(r.end(), std::begin(txt_head), std::end(txt_head));
    for (int s = 0; s < 3; ++s) {
        r.push_back(200);
        r.insert(r.end(), 200, uint8_t('x'));
    }
    r[11] = 3;  // ARCOUNT: OPT, CNAME, TXT
    const size_t full = r.size();
    REQUIRE(ReplyView(r.data(), full).ok());
    REQUIRE(full > 512);
    r.resize(65535);
    const size_t n = finish_reply(r.data(), full, r.size(), q.data(), qi, false);
    CHECK(n == records_at + opt.size());  // the question and the OPT put back
    CHECK((flags(r.data()) & kTC));
    CHECK(ancount(r.data()) == 0);
    CHECK(arcount(r.data()) == 1);
    r.resize(n);
    CHECK(ReplyView(r.data(), n).ok());  // what goes out walks
    CHECK(testing::to_text(r).find("udp: 512") != std::string::npos);
}
