// Zone-file text to wire, as miekg's dns.NewRR reads template output.
#include "plugins/template/rr_text.hpp"

#include "tests/support/catch.hpp"

using namespace dnscore;
using namespace dnscore::plugins::tmpl;

namespace {
struct Parsed {
    RRParse result;
    TextRR rr;
    std::vector<uint8_t> rdata;
    std::string err;
};
Parsed parse(const std::string& text) {
    static uint8_t buf[4096];
    Parsed p;
    p.rr.rdata = buf;
    p.rr.rdata_cap = sizeof buf;
    p.result = parse_rr(text, p.rr, p.err);
    if (p.result == RRParse::ok) p.rdata.assign(buf, buf + p.rr.rdlen);
    return p;
}
using B = std::vector<uint8_t>;
}  // namespace

TEST_CASE("RR text: header orders and defaults", "[template]") {
    auto p = parse("example.org. 60 IN A 192.0.2.1");
    REQUIRE(p.result == RRParse::ok);
    CHECK(p.rr.ttl == 60);
    CHECK(p.rr.klass == 1);
    CHECK(p.rr.type == 1);
    CHECK(p.rdata == B{192, 0, 2, 1});
    CHECK(p.rr.owner_len == 13);
    p = parse("example.org IN 1h A 192.0.2.1");  // relative owner: origin "."
    REQUIRE(p.result == RRParse::ok);
    CHECK(p.rr.ttl == 3600);
    CHECK(p.rr.owner[p.rr.owner_len - 1] == 0);
    p = parse("example.org. A 192.0.2.1");
    CHECK(p.rr.ttl == 3600);
    p = parse("example.org. CH TXT \"a b\" c");
    REQUIRE(p.result == RRParse::ok);
    CHECK(p.rr.klass == 3);
    CHECK(p.rdata == B{3, 'a', ' ', 'b', 1, 'c'});
    CHECK(parse("").result == RRParse::empty);
    CHECK(parse("; only a comment").result == RRParse::empty);
}

TEST_CASE("RR text: RDATA of the template types", "[template]") {
    CHECK(parse("a. 1 IN AAAA 2001:db8::1").rdata.size() == 16);
    CHECK(parse("a. 1 IN CNAME b.c").rdata == B{1, 'b', 1, 'c', 0});
    CHECK(parse("a. 1 IN PTR b.").rdata == B{1, 'b', 0});
    CHECK(parse("a. 1 IN NS @").rdata == B{0});
    CHECK(parse("a. 1 IN MX 10 b.").rdata == B{0, 10, 1, 'b', 0});
    CHECK(parse("a. 1 IN SRV 1 2 53 b.").rdata == B{0, 1, 0, 2, 0, 53, 1, 'b', 0});
    CHECK(parse("a. 1 IN SOA ns. mb. (1 60 60\n 60 1m)").rdata ==
          B{2, 'n', 's', 0, 2, 'm', 'b', 0, 0, 0, 0, 1, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60});
    CHECK(parse("a. 1 IN TXT \"x\\\"y\\065\"").rdata == B{4, 'x', '"', 'y', 'A'});
    CHECK(parse("a. 1 IN TYPE65280 \\# 2 abCD").rdata == B{0xab, 0xcd});
}

TEST_CASE("RR text: miekg's error texts", "[template]") {
    CHECK(parse("test.example.").err == "dns: not a TTL: \"test.example.\" at line: 1:13");
    CHECK(parse("a. x IN A 1.2.3.4").err == "dns: not a TTL: \"x\" at line: 1:4");
    CHECK(parse("a. 1 IN A 1.2.3").err == "dns: bad A A: \"1.2.3\" at line: 1:15");
    CHECK(parse("a. 1 IN AAAA 1.2.3.4").err == "dns: bad AAAA AAAA: \"1.2.3.4\" at line: 1:20");
    CHECK(parse("a. 1 IN A 1.2.3.4 5").err == "dns: garbage after rdata: \"5\" at line: 1:19");
    CHECK(parse("a. 1 IN MX x b.").err == "dns: bad MX Pref: \"x\" at line: 1:12");
    CHECK(parse("a..b 1 IN A 1.2.3.4").err == "dns: bad owner name: \"a..b\" at line: 1:4");
}
