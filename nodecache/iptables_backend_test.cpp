// Backend detection (choose_backend) against canned iptables-save outputs:
// the decisions of kubernetes-sigs/iptables-wrappers plus the rule-count
// fallback. The real binaries in namespaces: tests/e2e/nodecache_netns.sh.
#include <map>
#include <string>
#include <vector>

#include "nodecache/iptables.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore::nodecache;

namespace {
// A fake host: command line (argv joined by spaces) -> output; anything
// not listed fails as a missing binary would.
struct FakeHost {
    std::map<std::string, std::string> outputs;
    std::vector<std::string> ran;

    CommandRunner runner() {
        return [this](const std::vector<std::string>& argv, std::string* out) {
            std::string line;
            for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
            ran.push_back(line);
            auto it = outputs.find(line);
            if (it == outputs.end()) return -1;
            *out = it->second;
            return 0;
        };
    }
    void all_binaries() {
        for (const char* b : {"iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy", "iptables-nft",
                              "ip6tables-nft"})
            outputs[std::string(b) + " --version"] = "iptables v1.8.9";
        for (const char* b : {"iptables-nft-save -t mangle", "ip6tables-nft-save -t mangle", "iptables-legacy-save",
                              "ip6tables-legacy-save", "iptables-nft-save", "ip6tables-nft-save"})
            outputs[b] = "";
    }
};

const char* kMangleWithHint =
    "*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n";
const char* kFilterRules =
    "*filter\n:INPUT ACCEPT [0:0]\n:KUBE-FIREWALL - [0:0]\n-A INPUT -j KUBE-FIREWALL\n"
    "-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP\nCOMMIT\n";
}  // namespace

TEST_CASE("iptables backend: kubelet's chains in nft win first", "[nodecache][iptables]") {
    FakeHost h;
    h.all_binaries();
    h.outputs["iptables-nft-save -t mangle"] = kMangleWithHint;
    h.outputs["iptables-legacy-save"] = std::string(kMangleWithHint) + kFilterRules;  // stale legacy leftovers
    auto c = choose_backend("auto", h.runner());
    CHECK(c.backend == IptablesBackend::nft);
    CHECK(c.binary(false) == "iptables-nft");
    CHECK(c.binary(true) == "ip6tables-nft");
    CHECK(c.reason == "kubelet's chains found in iptables-nft");
}

TEST_CASE("iptables backend: kubelet's chains in legacy, read without -t", "[nodecache][iptables]") {
    FakeHost h;
    h.all_binaries();
    h.outputs["ip6tables-legacy-save"] = kMangleWithHint;
    auto c = choose_backend("auto", h.runner());
    CHECK(c.backend == IptablesBackend::legacy);
    CHECK(c.binary(false) == "iptables-legacy");
    CHECK(c.reason == "kubelet's chains found in iptables-legacy");
    // `iptables-legacy-save -t mangle` would create the table in the kernel.
    for (const auto& cmd : h.ran) CHECK(cmd.find("legacy-save -t") == std::string::npos);
}

TEST_CASE("iptables backend: without markers the backend holding more rules", "[nodecache][iptables]") {
    FakeHost h;
    h.all_binaries();
    h.outputs["iptables-legacy-save"] = kFilterRules;
    auto c = choose_backend("auto", h.runner());
    CHECK(c.backend == IptablesBackend::legacy);
    CHECK(c.reason == "no kubelet chains; 2 legacy rules, 0 nft rules");

    h.outputs["iptables-nft-save"] = kFilterRules;  // a tie goes to nft
    c = choose_backend("auto", h.runner());
    CHECK(c.backend == IptablesBackend::nft);
    CHECK(c.reason == "no kubelet chains; 2 legacy rules, 2 nft rules");
}

TEST_CASE("iptables backend: empty host -> nft; missing binaries -> plain iptables", "[nodecache][iptables]") {
    FakeHost h;
    h.all_binaries();
    CHECK(choose_backend("auto", h.runner()).backend == IptablesBackend::nft);

    FakeHost bare;  // an iptables build without the -nft/-legacy names
    bare.outputs["iptables --version"] = "iptables v1.6.1";
    auto c = choose_backend("auto", bare.runner());
    CHECK(c.backend == IptablesBackend::plain);
    CHECK(c.binary(false) == "iptables");
    CHECK(c.binary(true) == "ip6tables");
    CHECK(c.reason == "no kubelet chains; 0 legacy rules, 0 nft rules; iptables-nft not runnable, using iptables");
}

TEST_CASE("iptables backend: the flag overrides detection", "[nodecache][iptables]") {
    FakeHost h;
    h.all_binaries();
    h.outputs["iptables-nft-save -t mangle"] = kMangleWithHint;
    auto c = choose_backend("legacy", h.runner());
    CHECK(c.backend == IptablesBackend::legacy);
    CHECK(c.reason == "set by -iptablesbackend");
    CHECK(h.ran.empty());
    CHECK(choose_backend("iptables", h.runner()).binary(false) == "iptables");
    CHECK_THROWS_AS(choose_backend("xtables", h.runner()), std::invalid_argument);
}
