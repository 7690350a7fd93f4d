// CoreDNS plugin/loadbalance/loadbalance_test.go and weighted_test.go, plus
// the in-place rewrite keeping compressed replies valid.
#include "plugins/loadbalance/loadbalance.hpp"

#include <cstdio>
#include <fstream>
#include <set>

#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/test_query.hpp"

using namespace dnscore;
using namespace dnscore::plugins::loadbalance;
using testing::Bytes;

namespace {

// Category of a record line: 0 CNAME, 1 other, 2 A/AAAA, 3 MX.
int cat_of(const std::string& line) {
    if (line.find("\tCNAME\t") != std::string::npos) return 0;
    if (line.find("\tAAAA\t") != std::string::npos || line.find("\tA\t") != std::string::npos) return 2;
    if (line.find("\tMX\t") != std::string::npos) return 3;
    return 1;
}
struct Counts {
    int cname = 0, address = 0, mx = 0;
    bool sorted = true;
};
Counts count(const std::vector<std::string>& lines) {
    Counts c;
    int last = 0;
    for (const auto& l : lines) {
        const int k = cat_of(l);
        if (k < last) c.sorted = false;
        last = k;
        c.cname += k == 0;
        c.address += k == 2;
        c.mx += k == 3;
    }
    return c;
}

Bytes reply(const std::string& qtype, const std::vector<std::string>& answer, const std::vector<std::string>& extra = {},
            int rcode = 0) {
    return testing::make_reply(testing::make_query("region2.skydns.test.", qtype), rcode, answer, {}, extra);
}

Bytes shuffled(Bytes msg, Policy p = Policy::round_robin, const Weights* w = nullptr, uint64_t (*rnd)() = fast_random) {
    const size_t len = msg.size();
    msg.resize(65535);
    size_t n = shuffle_reply(msg.data(), len, msg.size(), p, w, rnd);
    msg.resize(n ? n : len);
    return msg;
}

std::multiset<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

uint64_t g_fixed = 0;
uint64_t fixed_rnd() { return g_fixed; }

}  // namespace

TEST_CASE("round_robin: CNAMEs first, then the rest, addresses, MX (TestLoadBalanceRandom)", "[loadbalance]") {
    const std::vector<std::string> a1 = {
        "cname1.region2.skydns.test. 300 IN CNAME cname2.region2.skydns.test.",
        "cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.",
        "cname5.region2.skydns.test. 300 IN CNAME cname6.region2.skydns.test.",
        "cname6.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.",
        "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
        "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
        "mx.region2.skydns.test. 300 IN MX 2 mx2.region2.skydns.test.",
        "mx.region2.skydns.test. 300 IN MX 3 mx3.region2.skydns.test."};
    const std::vector<std::string> a2 = {"endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
                                         "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
                                         "cname.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test."};
    const std::vector<std::string> a3 = {"mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
                                         "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
                                         "endpoint.region2.skydns.test. 300 IN A 10.240.0.2",
                                         "mx.region2.skydns.test. 300 IN MX 1 mx2.region2.skydns.test.",
                                         "cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.",
                                         "endpoint.region2.skydns.test. 300 IN A 10.240.0.3",
                                         "mx.region2.skydns.test. 300 IN MX 1 mx3.region2.skydns.test."};
    const std::vector<std::string> e3 = {"endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
                                         "endpoint.region2.skydns.test. 300 IN AAAA ::1",
                                         "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
                                         "cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.",
                                         "mx.region2.skydns.test. 300 IN MX 1 mx2.region2.skydns.test.",
                                         "endpoint.region2.skydns.test. 300 IN A 10.240.0.3",
                                         "endpoint.region2.skydns.test. 300 IN AAAA ::2",
                                         "mx.region2.skydns.test. 300 IN MX 1 mx3.region2.skydns.test."};
    struct Case {
        std::vector<std::string> answer, extra;
        int ca, ce, aa, ae, ma, me;
    };
    for (const Case& c : {Case{a1, {}, 4, 0, 1, 0, 3, 0}, Case{a2, {}, 1, 0, 1, 0, 1, 0}, Case{a3, e3, 1, 1, 3, 4, 3, 3}}) {
        for (int round = 0; round < 20; ++round) {
            const Bytes in = reply("SRV", c.answer, c.extra);
            const Bytes out = shuffled(in);
            REQUIRE_FALSE(testing::to_text(out).empty());  // still a valid message
            const auto ans = testing::section(out, 1), add = testing::section(out, 3);
            CHECK(as_set(ans) == as_set(testing::section(in, 1)));
            CHECK(as_set(add) == as_set(testing::section(in, 3)));
            const Counts ca = count(ans), ce = count(add);
            CHECK(ca.sorted);
            CHECK(ce.sorted);
            CHECK(ca.cname == c.ca);
            CHECK(ca.address == c.aa);
            CHECK(ca.mx == c.ma);
            CHECK(ce.cname == c.ce);
            CHECK(ce.address == c.ae);
            CHECK(ce.mx == c.me);
        }
    }
}

TEST_CASE("round_robin shuffles: every address comes first sometimes", "[loadbalance]") {
    const Bytes in = reply("A", {"www.example.org. 300 IN CNAME web.example.org.", "web.example.org. 300 IN A 192.0.2.1",
                                 "web.example.org. 300 IN A 192.0.2.2", "web.example.org. 300 IN A 192.0.2.3"});
    std::set<std::string> firsts;
    for (int i = 0; i < 300; ++i) {
        const auto ans = testing::section(shuffled(in), 1);
        REQUIRE(ans.size() == 4);
        CHECK(cat_of(ans[0]) == 0);
        firsts.insert(ans[1]);
    }
    CHECK(firsts.size() == 3);
}

TEST_CASE("round_robin follows Go's roundRobinShuffle for a given random source", "[loadbalance]") {
    const Bytes two = reply("A", {"a.example. 300 IN A 192.0.2.1", "a.example. 300 IN A 192.0.2.2"});
    g_fixed = 1;  // odd: no swap
    CHECK(testing::section(shuffled(two, Policy::round_robin, nullptr, fixed_rnd), 1)[0] ==
          "a.example.\t300\tIN\tA\t192.0.2.1");
    g_fixed = 2;  // even: swap
    CHECK(testing::section(shuffled(two, Policy::round_robin, nullptr, fixed_rnd), 1)[0] ==
          "a.example.\t300\tIN\tA\t192.0.2.2");
    // l = 3, Id = 1: j=0 p=1 (swap 0,1), j=1 p=2 (swap 1,2), j=2 p=2 -> 2 3 1
    const Bytes three =
        reply("A", {"a.example. 300 IN A 192.0.2.1", "a.example. 300 IN A 192.0.2.2", "a.example. 300 IN A 192.0.2.3"});
    g_fixed = 1;
    CHECK(testing::section(shuffled(three, Policy::round_robin, nullptr, fixed_rnd), 1) ==
          std::vector<std::string>{"a.example.\t300\tIN\tA\t192.0.2.2", "a.example.\t300\tIN\tA\t192.0.2.3",
                                   "a.example.\t300\tIN\tA\t192.0.2.1"});
}

TEST_CASE("loadbalance leaves XFR, errors and single records alone (TestLoadBalanceXFR)", "[loadbalance]") {
    Bytes msg = reply("AXFR", {"a.example. 300 IN A 192.0.2.1", "a.example. 300 IN CNAME b.example.",
                               "a.example. 300 IN A 192.0.2.2"});
    Bytes buf = msg;
    buf.resize(65535);
    CHECK(shuffle_reply(buf.data(), msg.size(), buf.size(), Policy::round_robin, nullptr) == 0);
    msg = reply("A", {"a.example. 300 IN A 192.0.2.1", "a.example. 300 IN CNAME b.example."}, {}, 3);
    buf = msg;
    buf.resize(65535);
    CHECK(shuffle_reply(buf.data(), msg.size(), buf.size(), Policy::round_robin, nullptr) == 0);
    msg = reply("A", {"a.example. 300 IN CNAME b.example.", "b.example. 300 IN A 192.0.2.1"});
    buf = msg;
    buf.resize(65535);
    CHECK(shuffle_reply(buf.data(), msg.size(), buf.size(), Policy::round_robin, nullptr) == 0);
    // A single address after an MX still moves the CNAME first (CoreDNS reorders always).
    msg = reply("A", {"b.example. 300 IN A 192.0.2.1", "a.example. 300 IN CNAME b.example."});
    CHECK(cat_of(testing::section(shuffled(msg), 1)[0]) == 0);
}

TEST_CASE("weighted: the top address follows the weights (TestLoadBalanceWRR)", "[loadbalance]") {
    const Weights w = parse_weights("endpoint.region2.skydns.test\n10.240.0.2 5\n10.240.0.1 2\n"
                                    "endpoint.region1.skydns.test.\n::2 4\n::1 3\n",
                                    "wf");
    const Bytes in = reply(
        "A", {"cname1.region2.skydns.test. 300 IN CNAME cname2.region2.skydns.test.",
              "endpoint.region2.skydns.test. 300 IN A 10.240.0.1", "endpoint.region2.skydns.test. 300 IN A 10.240.0.2",
              "endpoint.region2.skydns.test. 300 IN A 10.240.0.3", "endpoint.region1.skydns.test. 300 IN AAAA ::1",
              "endpoint.region1.skydns.test. 300 IN AAAA ::2",
              "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test."});
    // Sum 15; sorted by weight: .2 (5), ::2 (4), ::1 (3), .1 (2), .3 (1).
    const std::vector<std::pair<uint64_t, std::string>> cases = {
        {0, "10.240.0.2"}, {4, "10.240.0.2"}, {5, "::2"}, {8, "::2"}, {9, "::1"},
        {11, "::1"}, {12, "10.240.0.1"}, {13, "10.240.0.1"}, {14, "10.240.0.3"}};
    for (const auto& [v, top] : cases) {
        g_fixed = v;
        const auto ans = testing::section(shuffled(in, Policy::weighted, &w, fixed_rnd), 1);
        REQUIRE(ans.size() == 7);
        INFO(v);
        CHECK(cat_of(ans[0]) == 0);
        CHECK(ans[1].substr(ans[1].rfind('\t') + 1) == top);
        CHECK(cat_of(ans[6]) == 3);
    }
    // No address record: nothing changes at all.
    const Bytes none = reply("A", {"mx.example. 300 IN MX 1 mx1.example.", "c.example. 300 IN CNAME d.example."});
    Bytes buf = none;
    buf.resize(65535);
    CHECK(shuffle_reply(buf.data(), none.size(), buf.size(), Policy::weighted, &w, fixed_rnd) == 0);
    // Only A, AAAA and SRV questions.
    const Bytes mxq = reply("MX", {"endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
                                   "endpoint.region2.skydns.test. 300 IN A 10.240.0.2"});
    buf = mxq;
    buf.resize(65535);
    CHECK(shuffle_reply(buf.data(), mxq.size(), buf.size(), Policy::weighted, &w, fixed_rnd) == 0);
}

TEST_CASE("weights file parsing and its errors (TestWeightFileUpdate)", "[loadbalance]") {
    const Weights w = parse_weights("# comment\n\nw1.example.org\n192.168.1.14 10\n192.168.1.15 20\nw2.example.org.\n"
                                    "192.168.2.16 11\n",
                                    "wf");
    CHECK(w.domains.size() == 2);
    auto err = [](const std::string& text) {
        try {
            parse_weights(text, "wf");
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(err("") == "");
    CHECK(err("w1,example.org\n192.168.1.14\n192.168.1.15 20\n") ==
          "wrong domain name:\"192.168.1.14\" in weight file wf. (Maybe a missing weight value?)");
    CHECK(err("# missing domain\n192.168.1.14 10\n") == "missing domain name in weight file wf");
    CHECK(err("w1,example.org\n192.168.1.300 10\n") == "wrong IP address:\"192.168.1.300\" in weight file wf");
    CHECK(err("w1,example.org\n192.168.1.14 300\n") == "wrong weight value:\"300\" in weight file wf");
    CHECK(err("w1,example.org\n192.168.1.14 0\n") == "wrong weight value:\"0\" in weight file wf");
    CHECK(err("w1.example.org\n192.168.1.14 1 2\n") == "could not parse weight line:\"192.168.1.14 1 2\" in weight file wf");
}

TEST_CASE("weighted: reload only when the file changed", "[loadbalance]") {
    const std::string path = "/tmp/dnscore_lb_weights_test";
    {
        std::ofstream f(path);
        f << "a.example.\n192.0.2.1 9\n";
    }
    LoadBalance lb(path, std::chrono::seconds(30));
    CHECK(lb.update_weights(nullptr).empty());
    auto first = lb.weights();
    CHECK(first->domains.size() == 1);
    CHECK(lb.update_weights(nullptr).empty());
    CHECK(lb.weights() == first);  // unchanged: not parsed again
    {
        std::ofstream f(path);
        f << "a.example.\n192.0.2.1 9\nb.example.\n192.0.2.2 3\n";
    }
    CHECK(lb.update_weights(nullptr).empty());
    CHECK(lb.weights()->domains.size() == 2);
    {
        std::ofstream f(path);
        f << "192.0.2.1 9\n";
    }
    CHECK(lb.update_weights(nullptr) == "missing domain name in weight file " + path);
    CHECK(lb.update_weights(nullptr).empty());  // the bad content is reported once
    CHECK(lb.weights()->domains.size() == 2);   // and the last good weights stay
    std::remove(path.c_str());
    CHECK(lb.update_weights(nullptr) == "weight file open error");
}

TEST_CASE("loadbalance in a chain over hosts answers, compressed replies stay valid", "[loadbalance]") {
    testing::ChainHarness h(".:0 {\n loadbalance\n hosts /nonexistent/dnscore/hosts {\n  192.0.2.1 lb.example\n"
                            "  192.0.2.2 lb.example\n  192.0.2.3 lb.example\n  192.0.2.4 lb.example\n }\n}\n");
    std::set<std::string> firsts;
    for (int i = 0; i < 200; ++i) {
        auto r = h.run(testing::TestQuery("lb.example.", "A"));
        const auto ans = testing::section(r.reply, 1);
        REQUIRE(ans.size() == 4);
        firsts.insert(ans[0]);
    }
    CHECK(firsts.size() == 4);

    // Compression pointers into moved records: names are rewritten, not moved as bytes.
    const Bytes in = reply("A", {"mx.region2.skydns.test. 300 IN MX 1 mail.region2.skydns.test.",
                                 "mail.region2.skydns.test. 300 IN A 10.0.0.1", "mail.region2.skydns.test. 300 IN A 10.0.0.2",
                                 "x.mail.region2.skydns.test. 300 IN CNAME mail.region2.skydns.test."},
                           {"mail.region2.skydns.test. 300 IN A 10.0.0.3", "mx.region2.skydns.test. 300 IN NS ns.mx.region2.skydns.test."});
    for (int i = 0; i < 50; ++i) {
        const Bytes out = shuffled(in);
        REQUIRE_FALSE(testing::to_text(out).empty());
        CHECK(as_set(testing::section(out, 1)) == as_set(testing::section(in, 1)));
        CHECK(as_set(testing::section(out, 3)) == as_set(testing::section(in, 3)));
    }
}
