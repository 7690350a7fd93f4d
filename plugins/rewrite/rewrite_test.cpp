// rewrite behaviour: the cases of CoreDNS 1.12.2's rewrite_test.go,
// name_test.go, ttl_test.go, rcode_test.go and reverter_test.go, run through
// a chain [rewrite, responder] where the responder records the request it
// was given and answers it with configured records (msgPrinter-style).
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/metadata.hpp"
#include "core/config.hpp"
#include "corefile/loader.hpp"
#include "plugins/rewrite/rewrite.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/test_query.hpp"

using namespace dnscore;
using testing::Bytes;

namespace {

// Answers with records (zone-file lines) owned by whatever it was asked.
class Responder final : public Plugin {
public:
    std::string_view name() const override { return "responder"; }
    Step query(Query& q) override {
        seen.assign(q.req, q.req + q.req_len);
        if (unwritten_rcode) {
            q.fail(unwritten_rcode, "responder failed", name());
            return Step::done;
        }
        Bytes reply = testing::make_reply(seen, rcode, answer, authority, additional);
        if (echo_opt && q.info.edns.present) {
            // The request's OPT, options included, as the last record.
            reply.insert(reply.end(), q.req + q.info.edns.rr_off, q.req + q.info.edns.rr_off + q.info.edns.rr_len);
            wire::wr16(reply.data() + 10, uint16_t(wire::arcount(reply.data()) + 1));
        }
        q.write_reply(reply.data(), reply.size(), name());
        return Step::done;
    }
    Bytes seen;
    int rcode = 0;
    int unwritten_rcode = 0;
    bool echo_opt = false;
    std::vector<std::string> answer, authority, additional;
};

struct Fixture {
    explicit Fixture(const std::string& rewrite_lines) {
        auto set = corefile::load(".:1053 {\n" + rewrite_lines + "\n}\n", "Corefile", {});
        rw = set->blocks.at(0)->plugins.at(0);
        block.plugins = {rw, resp};
        block.chain = {rw.get(), resp.get()};
        site.block = &block;
        site.zone = ".";
        site.zone_wire[0] = 0;
        site.zone_wire_len = 1;
        site.server = "dns://:1053";
        h = std::make_unique<testing::ChainHarness>(site);
    }
    Bytes run(testing::TestQuery& t) { return h->run(t).reply; }
    // The question the responder saw, as "name type class".
    std::string seen_question() const {
        const auto text = testing::to_text(resp->seen);
        const auto p = text.find(";; QUESTION SECTION:\n;");
        if (p == std::string::npos) return "";
        const auto e = text.find('\n', p + 22);
        std::string s = text.substr(p + 22, e - p - 22);
    while (!s.empty() && (s[0] == ';' || s[0] == ' ')) s.erase(0, 1);
        for (auto& c : s)
            if (c == '\t') c = ' ';
        return s;
    }
    std::shared_ptr<Plugin> rw;
    std::shared_ptr<Responder> resp = std::make_shared<Responder>();
    Block block;
    Site site;
    std::unique_ptr<testing::ChainHarness> h;
};

std::string question_of(const Bytes& msg) {
    const auto text = testing::to_text(msg);
    const auto p = text.find(";; QUESTION SECTION:\n;");
    if (p == std::string::npos) return "";
    const auto e = text.find('\n', p + 22);
    std::string s = text.substr(p + 22, e - p - 22);
    while (!s.empty() && (s[0] == ';' || s[0] == ' ')) s.erase(0, 1);
    for (auto& c : s)
        if (c == '\t') c = ' ';
    return s;
}

// EDNS options of a message as (code, data) pairs.
std::vector<std::pair<uint16_t, Bytes>> options_of(const Bytes& m) {
    std::vector<std::pair<uint16_t, Bytes>> out;
    wire::QueryInfo qi;
    wire::parse_query(m.data(), m.size(), qi);
    if (!qi.edns.present) return out;
    for (size_t o = qi.edns.rdata_off; o + 4 <= size_t(qi.edns.rdata_off) + qi.edns.rdata_len;) {
        const uint16_t c = wire::rd16(&m[o]), l = wire::rd16(&m[o + 2]);
        out.emplace_back(c, Bytes(m.begin() + long(o) + 4, m.begin() + long(o) + 4 + l));
        o += 4 + l;
    }
    return out;
}

}  // namespace

TEST_CASE("rewrite_test.go TestRewrite: the request the next plugin sees", "[rewrite]") {
    Fixture f(R"(rewrite name from.nl. to.nl.
rewrite type ANY HINFO
rewrite class CH IN
rewrite name regex ^(.*)\.(yes)\.ru\.$ {2}.{1}.yes.ru.
rewrite name prefix foo bar
rewrite name suffix .com .org
rewrite name substring example.net other.net
rewrite name regex (.*)\.co\.uk {1}.co.nz
rewrite continue name exact x.y.z. a.b.c.
rewrite type A AAAA)");
    struct Case {
        std::string from, type;
        uint16_t klass;
        std::string to;
    };
    const std::vector<Case> cases = {
        {"from.nl.", "A", 1, "to.nl. IN A"},
        {"a.nl.", "A", 1, "a.nl. IN AAAA"},  // falls through to the last rule
        {"a.nl.", "ANY", 1, "a.nl. IN HINFO"},
        {"a.nl.", "A", 3, "a.nl. IN A"},  // CH -> IN, stop
        {"foo.yes.ru.", "A", 1, "yes.foo.yes.ru. IN A"},
        {"foo.example.org.", "A", 1, "bar.example.org. IN A"},
        {"other.org.", "A", 1, "other.org. IN AAAA"},
        {"a.example.com.", "A", 1, "a.example.org. IN A"},
        {"example.net.", "A", 1, "other.net. IN A"},
        {"sub.co.uk.", "A", 1, "sub.co.nz. IN A"},
        {"x.y.z.", "A", 1, "a.b.c. IN AAAA"},  // continue, then type
        {"FROM.nl.", "A", 1, "to.nl. IN A"},  // case-insensitive match
    };
    for (const auto& c : cases) {
        INFO(c.from << " " << c.type);
        testing::QueryOptions o;
        o.qclass = c.klass;
        testing::TestQuery t(c.from, c.type, o);
        const Bytes reply = f.run(t);
        CHECK(f.seen_question() == c.to);
        // The client sees its own question back (a stop rule fired, or none).
        if (!reply.empty()) {
            std::string want = c.from + " " + (c.klass == 3 ? "CH" : "IN") + " " + c.type;
            CHECK(question_of(reply) == want);
        }
    }
}

TEST_CASE("rewrite: continue-only rules without response rules leave the question rewritten", "[rewrite]") {
    Fixture f("rewrite continue type A AAAA");
    testing::TestQuery t("a.org.", "A");
    const Bytes reply = f.run(t);
    CHECK(f.seen_question() == "a.org. IN AAAA");
    CHECK(question_of(reply) == "a.org. IN AAAA");  // as CoreDNS: no reverter on this path
}

TEST_CASE("name_test.go: suffix rewrite with answer auto", "[rewrite]") {
    Fixture f("rewrite name suffix .cluster.local .svc.cluster.local answer auto");
    f.resp->answer = {"web.default.svc.cluster.local. 30 IN CNAME pod.default.svc.cluster.local.",
                      "pod.default.svc.cluster.local. 30 IN A 10.0.0.1"};
    f.resp->additional = {"pod.default.svc.cluster.local. 30 IN A 10.0.0.2"};
    testing::TestQuery t("Web.default.cluster.local.", "A");
    const Bytes reply = f.run(t);
    CHECK(f.seen_question() == "web.default.svc.cluster.local. IN A");
    CHECK(question_of(reply) == "Web.default.cluster.local. IN A");
    const auto ans = testing::section(reply, 1);
    REQUIRE(ans.size() == 2);
    CHECK(ans[0] == "web.default.cluster.local.\t30\tIN\tCNAME\tpod.default.cluster.local.");
    CHECK(ans[1] == "pod.default.cluster.local.\t30\tIN\tA\t10.0.0.1");
    const auto add = testing::section(reply, 3);
    REQUIRE(add.size() == 1);
    CHECK(add[0] == "pod.default.cluster.local.\t30\tIN\tA\t10.0.0.2");
}

TEST_CASE("name_test.go: exact rules always revert; prefix/substring/regex with answer auto", "[rewrite]") {
    SECTION("exact") {
        Fixture f("rewrite name exact RED. BLUE.");
        f.resp->answer = {"blue. 5 IN A 10.0.0.1", "x.blue. 5 IN CNAME blue."};
        testing::TestQuery t("red.", "A");
        const Bytes reply = f.run(t);
        CHECK(f.seen_question() == "blue. IN A");
        const auto ans = testing::section(reply, 1);
        REQUIRE(ans.size() == 2);
        CHECK(ans[0] == "red.\t5\tIN\tA\t10.0.0.1");
        CHECK(ans[1] == "x.red.\t5\tIN\tCNAME\tred.");
    }
    SECTION("prefix with auto") {
        Fixture f("rewrite name prefix foo bar answer auto");
        f.resp->answer = {"bar.example.org. 5 IN A 10.0.0.1"};
        testing::TestQuery t("foo.example.org.", "A");
        const auto ans = testing::section(f.run(t), 1);
        REQUIRE(ans.size() == 1);
        CHECK(ans[0] == "foo.example.org.\t5\tIN\tA\t10.0.0.1");
    }
    SECTION("prefix without auto keeps the answer") {
        Fixture f("rewrite name prefix foo bar");
        f.resp->answer = {"bar.example.org. 5 IN A 10.0.0.1"};
        testing::TestQuery t("foo.example.org.", "A");
        const Bytes reply = f.run(t);
        CHECK(question_of(reply) == "foo.example.org. IN A");
        CHECK(testing::section(reply, 1).at(0) == "bar.example.org.\t5\tIN\tA\t10.0.0.1");
    }
    SECTION("regex with auto") {
        Fixture f(R"(rewrite name regex (.*)-(us-west-1)\.coredns\.rocks {1}.service.{2}.consul answer auto)");
        f.resp->answer = {"ftp.service.us-west-1.consul. 0 IN A 10.10.10.10"};
        testing::TestQuery t("ftp-us-west-1.coredns.rocks.", "A");
        const Bytes reply = f.run(t);
        CHECK(f.seen_question() == "ftp.service.us-west-1.consul. IN A");
        CHECK(testing::section(reply, 1).at(0) == "ftp-us-west-1.coredns.rocks.\t0\tIN\tA\t10.10.10.10");
    }
    SECTION("regex with answer name") {
        Fixture f(R"(rewrite stop {
    name regex (.*)-(us-west-1)\.coredns\.rocks {1}.service.{2}.consul
    answer name (.*)\.service\.(us-west-1)\.consul {1}-{2}.coredns.rocks
})");
        f.resp->answer = {"ftp.service.us-west-1.consul. 0 IN A 10.10.10.10",
                          "ftp.service.us-west-1.consul. 0 IN A 10.20.20.20"};
        testing::TestQuery t("ftp-us-west-1.coredns.rocks.", "A");
        const auto ans = testing::section(f.run(t), 1);
        REQUIRE(ans.size() == 2);
        CHECK(ans[0] == "ftp-us-west-1.coredns.rocks.\t0\tIN\tA\t10.10.10.10");
        CHECK(ans[1] == "ftp-us-west-1.coredns.rocks.\t0\tIN\tA\t10.20.20.20");
    }
    SECTION("invalid name after rewrite") {
        Fixture f(R"(rewrite name regex (.*) {1}..bad)");
        testing::TestQuery t("a.org.", "A");
        const Bytes reply = f.run(t);
        CHECK(t.q.rcode == wire::kServFail);
        CHECK(t.q.error == "invalid name after rewrite: a.org...bad.");
        CHECK(f.resp->seen.empty());
        CHECK(question_of(reply) == "a.org. IN A");
    }
}

TEST_CASE("reverter_test.go TestValueResponseReverter", "[rewrite]") {
    const std::vector<std::string> configs = {
        R"(rewrite stop name regex (.*)\.domain\.uk {1}.cluster.local answer name (.*)\.cluster\.local {1}.domain.uk answer value (.*)\.cluster\.local {1}.domain.uk)",
        R"(rewrite continue name regex (.*)\.domain\.uk {1}.cluster.local answer name (.*)\.cluster\.local {1}.domain.uk answer value (.*)\.cluster\.local {1}.domain.uk)",
        R"(rewrite stop name suffix .domain.uk .cluster.local answer auto answer value (.*)\.cluster\.local {1}.domain.uk)",
        "rewrite continue name suffix .domain.uk .domain.us answer auto\nrewrite stop name suffix .domain.us .cluster.local answer auto",
    };
    struct Case {
        std::string type, answer, extra, want_answer, extra_name;
    };
    const std::vector<Case> cases = {
        {"SRV", "my.cluster.local. 5 IN SRV 0 100 100 srv1.my.cluster.local.", "srv1.my.cluster.local. 5 IN A 10.0.0.1",
         " srv1.my.domain.uk.", "srv1.my.domain.uk."},
        {"ANY", "my.cluster.local. 3600 IN CNAME cname.cluster.local.", "cname.cluster.local. 5 IN A 10.0.0.1",
         "\tCNAME\tcname.domain.uk.", "cname.domain.uk."},
        {"ANY", "my.cluster.local. 3600 IN DNAME dname.cluster.local.", "dname.cluster.local. 5 IN A 10.0.0.1",
         "\tDNAME\tdname.domain.uk.", "dname.domain.uk."},
        {"MX", "my.cluster.local. 3600 IN MX 1 mx1.cluster.local.", "mx1.cluster.local. 5 IN A 10.0.0.1",
         "\tMX\t1 mx1.domain.uk.", "mx1.domain.uk."},
        {"ANY", "my.cluster.local. 3600 IN NS ns1.cluster.local.", "ns1.cluster.local. 5 IN A 10.0.0.1",
         "\tNS\tns1.domain.uk.", "ns1.domain.uk."},
        {"SOA", "my.cluster.local. 1800 IN SOA ns1.cluster.local. admin.cluster.local. 1502165581 14400 3600 604800 14400",
         "ns1.cluster.local. 5 IN A 10.0.0.1", "\tSOA\tns1.domain.uk. ", "ns1.domain.uk."},
        {"NAPTR", "my.cluster.local. 100 IN NAPTR 100 10 \"S\" \"SIP+D2U\" \"!^.*$!sip:customer-service@example.com!\" _sip._udp.cluster.local.",
         "ns1.cluster.local. 5 IN A 10.0.0.1", " _sip._udp.domain.uk.", "ns1.domain.uk."},
    };
    for (size_t ci = 0; ci < configs.size(); ++ci) {
        for (const auto& c : cases) {
            INFO("config " << ci << " type " << c.type);
            Fixture f(configs[ci]);
            f.resp->answer = {c.answer};
            f.resp->additional = {c.extra};
            testing::TestQuery t("my.domain.uk.", c.type);
            const Bytes reply = f.run(t);
            CHECK(f.seen_question() == "my.cluster.local. IN " + c.type);
            CHECK(question_of(reply) == "my.domain.uk. IN " + c.type);
            const auto ans = testing::section(reply, 1);
            REQUIRE(ans.size() == 1);
            CHECK(ans[0].rfind("my.domain.uk.\t", 0) == 0);
            CHECK(ans[0].find(c.want_answer) != std::string::npos);
            if (c.type == "SOA") CHECK(ans[0].find("admin.cluster.local.") != std::string::npos);
            const auto add = testing::section(reply, 3);
            REQUIRE(add.size() == 1);
            CHECK(add[0].rfind(c.extra_name, 0) == 0);
        }
    }
}

TEST_CASE("ttl_test.go: TTL rewrites and ranges", "[rewrite]") {
    Fixture f(R"(rewrite continue ttl exact srv1.coredns.rocks. 1
rewrite continue ttl prefix srv2. 2
rewrite continue ttl suffix .coredns.rocks. 3-6
rewrite continue ttl substring rv3.coredns 4
rewrite continue ttl regex (srv5)\.(coredns)\.(rocks) 50-
rewrite ttl exact srv6.coredns.rocks. -20)");
    struct Case {
        std::string name;
        uint32_t in, want;
    };
    const std::vector<Case> cases = {
        {"srv1.coredns.rocks.", 30, 1},  {"srv2.coredns.rocks.", 30, 2},  // suffix 3-6 runs first (reverse)
        {"srv3.coredns.rocks.", 30, 4},  {"srv4.coredns.rocks.", 1, 3},   {"srv4.coredns.rocks.", 5, 5},
        {"srv5.coredns.rocks.", 30, 6},  {"srv6.coredns.rocks.", 30, 6}, {"other.org.", 30, 30},
    };
    for (const auto& c : cases) {
        INFO(c.name << " ttl " << c.in);
        f.resp->answer = {c.name + " " + std::to_string(c.in) + " IN A 10.0.0.1"};
        testing::TestQuery t(c.name, "A");
        const Bytes reply = f.run(t);
        CHECK(testing::first_ttl(reply, 1) == c.want);
    }
}

TEST_CASE("rcode_test.go: rcode rewrite runs per record", "[rewrite]") {
    Fixture f("rewrite rcode exact srv1.coredns.rocks SERVFAIL FORMERR");
    SECTION("a reply with a record") {
        f.resp->rcode = 2;
        f.resp->answer = {"srv1.coredns.rocks. 5 IN A 10.0.0.1"};
        testing::TestQuery t("srv1.coredns.rocks.", "A");
        CHECK(wire::rcode(f.run(t).data()) == wire::kFormErr);
    }
    SECTION("no record: no rule runs, as reverter.go") {
        f.resp->rcode = 2;
        testing::TestQuery t("srv1.coredns.rocks.", "A");
        CHECK(wire::rcode(f.run(t).data()) == wire::kServFail);
    }
    SECTION("other names untouched") {
        f.resp->rcode = 2;
        f.resp->answer = {"srv2.coredns.rocks. 5 IN A 10.0.0.1"};
        testing::TestQuery t("srv2.coredns.rocks.", "A");
        CHECK(wire::rcode(f.run(t).data()) == wire::kServFail);
    }
}

TEST_CASE("rewrite stop: an unwritten rcode is written with the client's question", "[rewrite]") {
    Fixture f("rewrite name a.org. b.org.");
    f.resp->unwritten_rcode = wire::kServFail;
    testing::TestQuery t("A.org.", "A");
    const Bytes reply = f.run(t);
    REQUIRE(!reply.empty());
    CHECK(wire::rcode(reply.data()) == wire::kServFail);
    CHECK(question_of(reply) == "A.org. IN A");
    CHECK(t.q.writer == "rewrite");
    CHECK(t.q.error == "responder failed");
}

TEST_CASE("rewrite_test.go TestRewriteEDNS0Local / Nsid / Subnet / variables", "[rewrite]") {
    auto run = [](const std::string& rule, bool edns, const char* ip = "10.240.0.1", bool tcp = false) {
        auto f = std::make_unique<Fixture>(rule);
        testing::QueryOptions o;
        o.edns = edns;
        testing::TestQuery t("example.com.", "A", o);
        t.client(ip, 40212).local("127.0.0.1", 53).tcp(tcp);
        f->run(t);
        return options_of(f->resp->seen);
    };
    SECTION("local set, hex and text data; OPT added to a request without one") {
        auto o = run("rewrite edns0 local set 0xffee 0x61626364", false);
        REQUIRE(o.size() == 1);
        CHECK(o[0].first == 0xffee);
        CHECK(o[0].second == Bytes{'a', 'b', 'c', 'd'});
        o = run("rewrite edns0 local set 0xffee abcd", true);
        REQUIRE(o.size() == 1);
        CHECK(o[0].second == Bytes{'a', 'b', 'c', 'd'});
    }
    SECTION("local replace without the option: nothing added") {
        CHECK(run("rewrite edns0 local replace 0xffee abcd", true).empty());
    }
    SECTION("set twice replaces; append appends again") {
        auto o = run("rewrite continue edns0 local set 0xffee abcd\nrewrite edns0 local set 0xffee xyz", true);
        REQUIRE(o.size() == 1);
        CHECK(o[0].second == Bytes{'x', 'y', 'z'});
        o = run("rewrite continue edns0 local set 0xffee abcd\nrewrite edns0 local append 0xffee xyz", true);
        REQUIRE(o.size() == 2);
    }
    SECTION("nsid") {
        auto o = run("rewrite edns0 nsid set", true);
        REQUIRE(o.size() == 1);
        CHECK(o[0].first == 3);
        CHECK(o[0].second.empty());
    }
    SECTION("subnet v4 and v6") {
        auto o = run("rewrite edns0 subnet set 24 56", true, "10.240.0.1");
        REQUIRE(o.size() == 1);
        CHECK(o[0].first == 8);
        CHECK(o[0].second == Bytes{0, 1, 24, 0, 10, 240, 0});
        o = run("rewrite edns0 subnet set 24 56", true, "2001:db8:abcd:1234:5678::1");
        REQUIRE(o.size() == 1);
        CHECK(o[0].second == Bytes{0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd, 0x12});
    }
    SECTION("variables") {
        auto o = run("rewrite edns0 local set 0xffee {qname}", true);
        CHECK(o.at(0).second == Bytes{'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', '.'});
        o = run("rewrite edns0 local set 0xffee {qtype}", true);
        CHECK(o.at(0).second == Bytes{0, 1});
        o = run("rewrite edns0 local set 0xffee {client_ip}", true);
        CHECK(o.at(0).second == Bytes{10, 240, 0, 1});
        o = run("rewrite edns0 local set 0xffee {client_port}", true);
        CHECK(o.at(0).second == Bytes{0x9d, 0x14});
        o = run("rewrite edns0 local set 0xffee {protocol}", true);
        CHECK(o.at(0).second == Bytes{'u', 'd', 'p'});
        o = run("rewrite edns0 local set 0xffee {protocol}", true, "10.240.0.1", true);
        CHECK(o.at(0).second == Bytes{'t', 'c', 'p'});
        o = run("rewrite edns0 local set 0xffee {server_ip}", true);
        CHECK(o.at(0).second == Bytes{127, 0, 0, 1});
        o = run("rewrite edns0 local set 0xffee {server_port}", true);
        CHECK(o.at(0).second == Bytes{0, 53});
        CHECK(run("rewrite edns0 local set 0xffee {some/label}", true).empty());  // no metadata: ignored
    }
    SECTION("a metadata label takes the value published before rewrite") {
        Fixture f("rewrite edns0 local set 0xffee {some/label}");
        testing::QueryOptions o;
        o.edns = true;
        testing::TestQuery t("example.com.", "A", o);
        metadata::enable(t.q);
        REQUIRE(metadata::set(t.q, "some/label", "v1"));
        f.run(t);
        auto opts = options_of(f.resp->seen);
        REQUIRE(opts.size() == 1);
        CHECK(opts[0].first == 0xffee);
        CHECK(opts[0].second == Bytes{'v', '1'});
    }
}

TEST_CASE("rewrite edns0 revert removes the option from the reply", "[rewrite]") {
    Fixture f("rewrite edns0 local set 0xffee abcd revert");
    f.resp->echo_opt = true;
    f.resp->answer = {"example.com. 5 IN A 10.0.0.1"};
    testing::QueryOptions o;
    o.edns = true;
    testing::TestQuery t("example.com.", "A", o);
    // The responder's reply mirrors the request's OPT (options included).
    const Bytes reply = f.run(t);
    const auto seen = options_of(f.resp->seen);
    REQUIRE(seen.size() == 1);
    bool has = false;
    wire::for_each_rr(reply.data(), reply.size(), [&](const wire::RR& rr) {
        if (rr.type == wire::kTypeOPT && rr.rdlen) has = true;
        return true;
    });
    CHECK_FALSE(has);
    // Without revert the echoed option stays.
    Fixture g("rewrite edns0 local set 0xffee abcd");
    g.resp->echo_opt = true;
    g.resp->answer = {"example.com. 5 IN A 10.0.0.1"};
    testing::TestQuery t2("example.com.", "A", o);
    const Bytes reply2 = g.run(t2);
    has = false;
    wire::for_each_rr(reply2.data(), reply2.size(), [&](const wire::RR& rr) {
        if (rr.type == wire::kTypeOPT && rr.rdlen) has = true;
        return true;
    });
    CHECK(has);
}

namespace {
// Answers from a table keyed by "name type" (zone-file lines), as
// cname_target_test.go's MockedUpstream and msgPrinter together: the lookup
// of the rewritten CNAME target runs through this same chain.
class TableResponder final : public Plugin {
public:
    std::string_view name() const override { return "table"; }
    Step query(Query& q) override {
        const Bytes req(q.req, q.req + q.req_len);
        const std::string text = testing::to_text(req);
        for (const auto& [key, lines] : table) {
            const auto sp = key.find(' ');
            const std::string want = " " + key.substr(0, sp) + "\tIN\t" + key.substr(sp + 1) + "\n";
            if (text.find(want) == std::string::npos) continue;
            Bytes reply = testing::make_reply(req, 0, lines);
            if (truncated.count(key)) reply[2] |= 0x02;
            q.write_reply(reply.data(), reply.size(), name());
            return Step::done;
        }
        Bytes reply = testing::make_reply(req, 3, {});
        q.write_reply(reply.data(), reply.size(), name());
        return Step::done;
    }
    std::vector<std::pair<std::string, std::vector<std::string>>> table;
    std::set<std::string> truncated;
};
}  // namespace

TEST_CASE("cname_target_test.go TestCNameTargetRewrite: CNAME targets rewritten and looked up again",
          "[rewrite][cname]") {
    testing::ChainHarness h(
        ".:0 {\n"
        " rewrite continue cname exact def.example.com. xyz.example.com.\n"
        " rewrite continue cname prefix chat.openai.com bard.google.com\n"
        " rewrite continue cname suffix uvw. xyz.\n"
        " rewrite continue cname substring efgh zzzz.www\n"
        " rewrite continue cname regex (.*)\\.web\\.(.*)\\.site\\. {1}.webapp.{2}.org.\n"
        " rewrite continue cname exact music.truncated.spotify.com. music.truncated.spotify.com.\n"
        " whoami\n}\n");
    auto resp = std::make_shared<TableResponder>();
    resp->table = {
        {"abc.example.com. A", {"abc.example.com. 5 IN CNAME def.example.com.", "def.example.com. 5 IN A 1.2.3.4"}},
        {"abc.example.com. AAAA",
         {"abc.example.com. 5 IN CNAME def.example.com.", "def.example.com. 5 IN AAAA 2a01:7e00::f03c:91ff:fe79:234c"}},
        {"xyz.example.com. A", {"xyz.example.com. 3600 IN A 3.4.5.6"}},
        {"xyz.example.com. AAAA", {"xyz.example.com. 3600 IN AAAA 3a01:7e00::f03c:91ff:fe79:234c"}},
        {"chat.openai.com. A",
         {"chat.openai.com. 20 IN CNAME chat.openai.com.cdn.cloudflare.net.",
          "chat.openai.com.cdn.cloudflare.net. 30 IN A 23.2.1.2", "chat.openai.com.cdn.cloudflare.net. 30 IN A 24.6.0.8"}},
        {"bard.google.com.cdn.cloudflare.net. A", {"bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1"}},
        {"coredns.io. A", {"coredns.io. 100 IN CNAME www.hosting.uvw.", "www.hosting.uvw. 200 IN A 7.2.3.4"}},
        {"www.hosting.xyz. A", {"www.hosting.xyz. 500 IN A 20.30.40.50"}},
        {"core.dns.rocks. A", {"core.dns.rocks. 200 IN CNAME abcd.efgh.pqrst.", "abcd.efgh.pqrst. 100 IN A 200.30.45.67"}},
        {"abcd.zzzz.www.pqrst. A",
         {"abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1", "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2"}},
        {"order.service.eu. A", {"order.service.eu. 200 IN CNAME orders.web.eu.site.", "orders.web.eu.site. 50 IN A 10.10.15.1"}},
        {"orders.webapp.eu.org. A", {"orders.webapp.eu.org. 120 IN A 20.0.0.9"}},
        {"music.spotify.com. A", {"music.spotify.com. 200 IN CNAME music.truncated.spotify.com."}},
        {"music.truncated.spotify.com. A", {"music.truncated.spotify.com. 120 IN A 10.1.0.9"}},
    };
    resp->truncated = {"music.truncated.spotify.com. A"};
    auto& b = h.set()->blocks.at(0);
    b->plugins.push_back(resp);
    b->chain.back() = resp.get();  // in place of whoami

    struct Case {
        const char* name;
        const char* type;
        std::vector<std::string> expected;
        bool truncated;
    };
    const std::vector<Case> cases = {
        {"abc.example.com.", "A", {"abc.example.com. 5 IN CNAME xyz.example.com.", "xyz.example.com. 3600 IN A 3.4.5.6"}, false},
        {"abc.example.com.", "AAAA",
         {"abc.example.com. 5 IN CNAME xyz.example.com.", "xyz.example.com. 3600 IN AAAA 3a01:7e00::f03c:91ff:fe79:234c"},
         false},
        {"chat.openai.com.", "A",
         {"chat.openai.com. 20 IN CNAME bard.google.com.cdn.cloudflare.net.",
          "bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1"},
         false},
        {"coredns.io.", "A", {"coredns.io. 100 IN CNAME www.hosting.xyz.", "www.hosting.xyz. 500 IN A 20.30.40.50"}, false},
        {"core.dns.rocks.", "A",
         {"core.dns.rocks. 200 IN CNAME abcd.zzzz.www.pqrst.", "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1",
          "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2"},
         false},
        {"order.service.eu.", "A",
         {"order.service.eu. 200 IN CNAME orders.webapp.eu.org.", "orders.webapp.eu.org. 120 IN A 20.0.0.9"}, false},
        {"music.spotify.com.", "A",
         {"music.spotify.com. 200 IN CNAME music.truncated.spotify.com.", "music.truncated.spotify.com. 120 IN A 10.1.0.9"},
         true},
    };
    for (const auto& c : cases) {
        INFO(c.name << " " << c.type);
        const auto run = h.run(testing::TestQuery(c.name, c.type));
        REQUIRE_FALSE(run.reply.empty());
        INFO(testing::to_text(run.reply));
        const Bytes want = testing::make_reply(testing::make_query(c.name, c.type), 0, c.expected);
        CHECK(testing::section(run.reply, 1) == testing::section(want, 1));
        CHECK(bool(run.reply[2] & 0x02) == c.truncated);
    }
}
