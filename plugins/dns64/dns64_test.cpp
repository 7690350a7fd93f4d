// CoreDNS plugin/dns64 setup_test.go and dns64_test.go: setup, RFC 6052
// embedding, and the behaviour cases through a real chain (the plugins below
// dns64 and the A lookup through the server are a scripted test plugin).
#include "plugins/dns64/dns64.hpp"

#include <arpa/inet.h>

#include <map>

#include "core/metrics_vec.hpp"
#include "plugins/dns64/metrics.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;

namespace {
std::string err(const std::string& body) { return testing::load_error(".:1053 {\n" + body + "\n}\n"); }
plugins::Dns64Options opts(const std::string& body) {
    auto p = testing::load_plugin<plugins::Dns64>(".:1053 {\n" + body + "\n}\n");
    REQUIRE(p);
    return p->options();
}
}  // namespace

TEST_CASE("dns64 setup (setup_test.go)", "[dns64][setup]") {
    CHECK(opts("dns64").prefix_text == "64:ff9b::/96");
    CHECK_FALSE(opts("dns64").allow_ipv4);
    CHECK_FALSE(opts("dns64").translate_all);
    CHECK(opts("dns64 64:dead::/96").prefix_text == "64:dead::/96");
    CHECK(opts("dns64 {\n translate_all\n}").translate_all);
    CHECK(opts("dns64 {\n prefix 64:ff9b::/96\n}").prefix_text == "64:ff9b::/96");
    CHECK(opts("dns64 {\n prefix 64:ff9b::/32\n}").prefix_text == "64:ff9b::/32");
    CHECK(opts("dns64 {\n prefix 64:ff9b::/32\n}").prefix_len == 32);
    CHECK(opts("dns64 {\n prefix 2002:ac12:b083::/96\n}").prefix_text == "2002:ac12:b083::/96");
    CHECK(opts("dns64 {\n prefix 2002:c0a8:a88a::/48\n}").prefix_text == "2002:c0a8:a88a::/48");
    CHECK(opts("dns64 {\n allow_ipv4\n}").allow_ipv4);
    // The network is masked, as net.ParseCIDR returns it.
    CHECK(opts("dns64 64:ff9b::1/96").prefix_text == "64:ff9b::/96");

    const std::string P = "plugin/dns64: Corefile:";
    CHECK(err("dns64 {\n prefix 64:ff9b::/52\n}") == P + "3 - Error during parsing: invalid prefix length \"64:ff9b::/52\"");
    CHECK(err("dns64 {\n prefix 64:ff9b::/104\n}") ==
          P + "3 - Error during parsing: invalid prefix length \"64:ff9b::/104\"");
    CHECK(err("dns64 {\n prefix 8.8.8.8/24\n}") ==
          P + "3 - Error during parsing: invalid netmask 32 IPv6 address: \"8.8.8.0/24\"");
    CHECK(err("dns64 foobar {\n prefix 64:ff9b::/96\n}") == "plugin/dns64: invalid CIDR address: foobar");
    CHECK(err("dns64 foobar") == "plugin/dns64: invalid CIDR address: foobar");
    CHECK(err("dns64 {\n foobar\n}") == P + "3 - Error during parsing: unknown property 'foobar'");
    CHECK(err("dns64 {\n prefix\n}") ==
          P + "3 - Error during parsing: Wrong argument count or unexpected line ending after 'prefix'");
    CHECK(err("dns64 a b") == P + "2 - Error during parsing: Wrong argument count or unexpected line ending after 'b'");
    CHECK(testing::validate_error(".:1053 {\n dns64 64:ff9b::/33\n}\n") ==
          P + "2 - Error during parsing: invalid prefix length \"64:ff9b::/33\"");
}

namespace {
std::string to6(const std::string& cidr, const char* v4text) {
    auto o = opts("dns64 " + cidr);
    uint8_t v4[4];
    REQUIRE(inet_pton(AF_INET, v4text, v4) == 1);
    const auto v6 = plugins::embed_ipv4(o.prefix, o.prefix_len, v4);
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, v6.data(), buf, sizeof buf);
    return buf;
}
}  // namespace

TEST_CASE("dns64 RFC 6052 embedding (TestTo6)", "[dns64]") {
    CHECK(to6("64:ff9b::/96", "64.64.64.64") == "64:ff9b::4040:4040");
    CHECK(to6("64:ff9b::/64", "64.64.64.64") == "64:ff9b::40:4040:4000:0");
    CHECK(to6("64:ff9b::/56", "64.64.64.64") == "64:ff9b:0:40:40:4040::");
    CHECK(to6("64::/32", "64.64.64.64") == "64:0:4040:4040::");
    // RFC 6052 2.4 examples for 2001:db8::/N and 192.0.2.33.
    CHECK(to6("2001:db8::/32", "192.0.2.33") == "2001:db8:c000:221::");
    CHECK(to6("2001:db8:100::/40", "192.0.2.33") == "2001:db8:1c0:2:21::");
    CHECK(to6("2001:db8:122::/48", "192.0.2.33") == "2001:db8:122:c000:2:2100::");
    CHECK(to6("2001:db8:122:300::/56", "192.0.2.33") == "2001:db8:122:3c0:0:221::");
    CHECK(to6("2001:db8:122:344::/64", "192.0.2.33") == "2001:db8:122:344:c0:2:2100:0");
    CHECK(to6("2001:db8:122:344::/96", "192.0.2.33") == "2001:db8:122:344::c000:221");
}

namespace {
// The plugins below dns64 (fakeHandler) and the answer to the A lookup
// (fakeUpstream): replies by question type, built from the request.
class Scripted final : public Plugin {
public:
    struct Reply {
        int rcode = 0;
        bool tc = false;
        std::vector<std::string> answer, authority;
    };
    std::map<uint16_t, Reply> by_type;
    int a_lookups = 0;
    std::string last_a_name;

    std::string_view name() const override { return "fake"; }
    Step query(Query& q) override {
        auto it = by_type.find(q.info.qtype);
        if (it == by_type.end()) {
            q.fail(wire::kServFail, "no script", name());
            return Step::done;
        }
        if (q.info.qtype == wire::kTypeA) {
            ++a_lookups;
            char n[1024];
            last_a_name.assign(n, q.name_text(n, sizeof n));
        }
        testing::Bytes req(q.req, q.req + q.req_len);
        testing::Bytes r = testing::make_reply(req, it->second.rcode, it->second.answer, it->second.authority);
        if (it->second.tc) wire::set_flags(r.data(), uint16_t(wire::flags(r.data()) | wire::kTC));
        q.write_reply(r.data(), r.size(), name());
        return Step::done;
    }
};

struct Outcome {
    testing::Bytes reply;
    int rcode;
    std::vector<std::string> answer, authority;
};

Outcome run(const std::string& dns64_line, std::shared_ptr<Scripted> fake, const std::string& client = "::1",
            const std::string& qtype = "AAAA") {
    testing::ChainHarness h(".:0 {\n " + dns64_line + "\n}\n");
    auto& b = h.set()->blocks.at(0);
    b->plugins.push_back(fake);
    b->chain.push_back(fake.get());
    testing::QueryOptions o;
    o.id = 42;
    testing::TestQuery t("example.com.", qtype, o);
    t.client(client, 5353);
    auto r = h.run(t);
    REQUIRE_FALSE(r.reply.empty());
    return {r.reply, wire::rcode(r.reply.data()), testing::section(r.reply, 1), testing::section(r.reply, 2)};
}

// coredns_dns64_requests_translated_total{server="dns://:0"}
uint64_t translated() {
    auto& f = plugins::dns64::metrics::families();
    const int i = f.server.find({"dns://:0"});
    return i < 0 ? 0 : f.translated.value({i});
}

std::shared_ptr<Scripted> standard() {
    auto f = std::make_shared<Scripted>();
    f->by_type[wire::kTypeAAAA] = {0, false, {}, {"example.com. 70 IN SOA foo. bar. 1 1 1 1 1"}};
    f->by_type[wire::kTypeA] = {0, false, {"example.com. 60 IN A 192.0.2.42", "example.com. 5000 IN A 192.0.2.43"}, {}};
    return f;
}
}  // namespace

TEST_CASE("dns64 behaviour (TestDNS64)", "[dns64]") {
    SECTION("standard flow: no AAAA, A records: synthesised, TTL capped by the SOA's") {
        auto f = standard();
        const uint64_t before = translated();
        auto o = run("dns64", f);
        CHECK(o.rcode == 0);
        CHECK(wire::id(o.reply.data()) == 42);
        CHECK(o.answer == std::vector<std::string>{"example.com.\t60\tIN\tAAAA\t64:ff9b::c000:22a",
                                                   "example.com.\t70\tIN\tAAAA\t64:ff9b::c000:22b"});
        CHECK(o.authority.empty());  // the A reply's authority (none)
        const uint16_t fl = wire::flags(o.reply.data());
        CHECK_FALSE(fl & wire::kAA);  // SetReply: no AA, no RA
        CHECK(fl & wire::kRD);
        CHECK(f->a_lookups == 1);
        CHECK(f->last_a_name == "example.com.");
        CHECK(translated() == before + 1);
    }
    SECTION("a empty: name exists with neither A nor AAAA: NODATA with the A reply's SOA") {
        auto f = std::make_shared<Scripted>();
        f->by_type[wire::kTypeAAAA] = {0, false, {}, {"example.com. 3600 IN SOA foo. bar. 1 7200 900 1209600 86400"}};
        f->by_type[wire::kTypeA] = {0, false, {}, {"example.com. 3600 IN SOA foo. bar. 1 7200 900 1209600 86400"}};
        auto o = run("dns64", f);
        CHECK(o.rcode == 0);
        CHECK(o.answer.empty());
        CHECK(o.authority == std::vector<std::string>{"example.com.\t3600\tIN\tSOA\tfoo. bar. 1 7200 900 1209600 86400"});
    }
    SECTION("non-nxdomain error: translated, NOERROR, default SOA TTL 600") {
        auto f = standard();
        f->by_type[wire::kTypeAAAA] = {wire::kRefused, false, {}, {}};
        auto o = run("dns64", f);
        CHECK(o.rcode == 0);
        CHECK(o.answer == std::vector<std::string>{"example.com.\t60\tIN\tAAAA\t64:ff9b::c000:22a",
                                                   "example.com.\t600\tIN\tAAAA\t64:ff9b::c000:22b"});
    }
    SECTION("nxdomain: passed through, no A lookup") {
        auto f = standard();
        f->by_type[wire::kTypeAAAA] = {wire::kNXDomain, false, {}, {"example.com. 3600 IN SOA foo. bar. 1 7200 900 1209600 86400"}};
        auto o = run("dns64", f);
        CHECK(o.rcode == wire::kNXDomain);
        CHECK(f->a_lookups == 0);
        CHECK(o.authority.size() == 1);
    }
    SECTION("AAAA record exists: passed through") {
        auto f = standard();
        f->by_type[wire::kTypeAAAA] = {0, false, {"example.com. 60 IN AAAA ::1", "example.com. 5000 IN AAAA ::2"}, {}};
        auto o = run("dns64", f);
        CHECK(o.answer == std::vector<std::string>{"example.com.\t60\tIN\tAAAA\t::1", "example.com.\t5000\tIN\tAAAA\t::2"});
        CHECK(f->a_lookups == 0);
    }
    SECTION("AAAA record exists with translate_all: synthesised") {
        auto f = standard();
        f->by_type[wire::kTypeAAAA] = {0, false, {"example.com. 60 IN AAAA ::1"}, {}};
        auto o = run("dns64 {\n translate_all\n }", f);
        CHECK(o.answer.size() == 2);
        CHECK(o.answer[0] == "example.com.\t60\tIN\tAAAA\t64:ff9b::c000:22a");
        CHECK(f->a_lookups == 1);
    }
    SECTION("truncated A response: TC kept") {
        auto f = standard();
        f->by_type[wire::kTypeA].tc = true;
        auto o = run("dns64", f);
        CHECK((wire::flags(o.reply.data()) & wire::kTC));
        CHECK(o.answer.size() == 2);
    }
    SECTION("CNAME in the A answer is kept; names uncompressed correctly") {
        auto f = std::make_shared<Scripted>();
        f->by_type[wire::kTypeAAAA] = {0, false, {"example.com. 300 IN CNAME target.example.net."},
                                       {"example.net. 70 IN SOA ns.example.net. host.example.net. 1 1 1 1 1"}};
        f->by_type[wire::kTypeA] = {0, false, {"example.com. 300 IN CNAME target.example.net.", "target.example.net. 30 IN A 10.0.0.1"}, {}};
        auto o = run("dns64 {\n prefix 2001:db8::/32\n }", f);
        CHECK(o.answer == std::vector<std::string>{"example.com.\t300\tIN\tCNAME\ttarget.example.net.",
                                                   "target.example.net.\t30\tIN\tAAAA\t2001:db8:a00:1::"});
    }
}

TEST_CASE("dns64 intercepts AAAA/IN from IPv6 clients, IPv4 ones only with allow_ipv4", "[dns64]") {
    SECTION("IPv6 client, AAAA") { CHECK(run("dns64", standard(), "::1").answer.size() == 2); }
    SECTION("IPv4 client, allow_ipv4") {
        CHECK(run("dns64 {\n allow_ipv4\n }", standard(), "127.0.0.1").answer.size() == 2);
    }
    SECTION("IPv4 client without allow_ipv4: passed through") {
        auto f = standard();
        auto o = run("dns64", f, "127.0.0.1");
        CHECK(o.answer.empty());
        CHECK(f->a_lookups == 0);
    }
    SECTION("IPv6 client, A: passed through") {
        auto f = standard();
        auto o = run("dns64", f, "::1", "A");
        CHECK(o.answer.size() == 2);
        CHECK(o.answer[0].find("\tA\t192.0.2.42") != std::string::npos);
    }
}
