// The -nftables datapath: the table text, and ensure/remove driving nft
// through a fake runner. The real nft in a namespace: tests/e2e/nodecache_netns.sh.
#include <string>
#include <vector>

#include "nodecache/nftables.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore::nodecache;

namespace {
size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}
}  // namespace

TEST_CASE("nftables: one inet table with node-cache's twelve rules per IP", "[nodecache][nftables]") {
    NftTable t({"169.254.20.10", "10.96.0.10"}, "53", "8080", {});
    const std::string s = t.script();
    CHECK(t.expected_rules() == 24);
    CHECK(count(s, "NodeLocal DNS Cache") == 24);
    CHECK(count(s, "notrack comment") == 16);
    CHECK(count(s, " accept comment") == 8);
    // add + delete + define: one batch that installs or replaces atomically.
    CHECK(s.rfind("table inet nodelocaldns\ndelete table inet nodelocaldns\ntable inet nodelocaldns {\n", 0) == 0);
    CHECK(s.find("type filter hook prerouting priority raw; policy accept;") != std::string::npos);
    CHECK(s.find("ip daddr 169.254.20.10 udp dport 53 notrack comment \"NodeLocal DNS Cache: skip conntrack\"") !=
          std::string::npos);
    CHECK(s.find("ip saddr 10.96.0.10 tcp sport 8080 notrack") != std::string::npos);
    CHECK(s.find("ip daddr 10.96.0.10 tcp dport 53 accept comment \"NodeLocal DNS Cache: allow DNS traffic\"") !=
          std::string::npos);

    NftTable v6({"fd00::10"}, "53", "8080", {});
    CHECK(count(v6.script(), "ip6 daddr fd00::10") == 7);
    CHECK(v6.script().find(" ip daddr") == std::string::npos);
}

TEST_CASE("nftables: ensure installs only a missing or incomplete table; remove deletes it", "[nodecache][nftables]") {
    std::vector<std::string> ran;
    std::string listed;  // what `nft list table` prints; "" = no such table
    std::string script_seen;
    auto run = [&](const std::vector<std::string>& argv, std::string* out) {
        std::string line;
        for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
        ran.push_back(line);
        if (argv[1] == "list") {
            *out = listed;
            return listed.empty() ? 1 : 0;
        }
        if (argv[1] == "-f") {
            std::FILE* f = std::fopen(argv[2].c_str(), "r");
            REQUIRE(f);
            char buf[8192];
            script_seen.assign(buf, std::fread(buf, 1, sizeof buf, f));
            std::fclose(f);
            return 0;
        }
        return 0;
    };
    NftTable t({"169.254.20.10"}, "53", "8080", run);
    CHECK(t.ensure());  // absent -> installed
    CHECK(script_seen == t.script());
    listed = t.script();  // complete
    ran.clear();
    CHECK_FALSE(t.ensure());
    CHECK(ran == std::vector<std::string>{"nft list table inet nodelocaldns"});
    listed = t.script().substr(0, t.script().find("chain output {"));  // a chain's rules gone
    CHECK(t.ensure());
    ran.clear();
    t.remove();
    CHECK(ran == std::vector<std::string>{"nft list table inet nodelocaldns", "nft delete table inet nodelocaldns"});
    listed.clear();
    ran.clear();
    t.remove();  // already gone: nothing to delete
    CHECK(ran.size() == 1);
}

TEST_CASE("nftables: a failing nft is an error with its output", "[nodecache][nftables]") {
    NftTable t({"169.254.20.10"}, "53", "8080", [](const std::vector<std::string>& argv, std::string* out) {
        *out = argv[1] == "-f" ? "Error: Could not process rule: Operation not permitted\n" : "";
        return 1;
    });
    CHECK_THROWS_WITH(t.ensure(), "nft -f: Error: Could not process rule: Operation not permitted");
}
