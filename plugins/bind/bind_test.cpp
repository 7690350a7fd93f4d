#include "plugins/bind/bind.hpp"

#include <algorithm>

#include "corefile/loader.hpp"
#include "parser/parser.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;
using plugins::IfaceAddr;
using testing::load_error;

namespace {

std::shared_ptr<ServerSet> load(const std::string& corefile) {
    return corefile::load(corefile, "Corefile", corefile::LoadOptions{});
}

std::vector<std::string> addrs_of(const std::string& iface) {
    std::vector<IfaceAddr> all;
    REQUIRE(plugins::list_interface_addrs(all));
    std::vector<std::string> out;
    for (const auto& a : all)
        if (a.iface == iface && !a.ip.empty())
            out.push_back(a.v6_link_local ? a.ip + "%" + a.iface : a.ip);
    return out;
}

}  // namespace

TEST_CASE("bind_list_ip expands interfaces and keeps literals as written") {
    const std::vector<IfaceAddr> ifaces = {
        {"lo", "", false},          {"eth0", "", false},         {"dummy0", "", false},
        {"lo", "127.0.0.1", false}, {"eth0", "192.0.2.2", false}, {"lo", "::1", false},
        {"eth0", "fd00::2", false}, {"eth0", "fe80::fc:ff:fe00:1", true},
    };
    CHECK(plugins::bind_list_ip({"eth0"}, ifaces) ==
          std::vector<std::string>{"192.0.2.2", "fd00::2", "fe80::fc:ff:fe00:1%eth0"});
    CHECK(plugins::bind_list_ip({"::0001", "10.0.0.1", "lo"}, ifaces) ==
          std::vector<std::string>{"::0001", "10.0.0.1", "127.0.0.1", "::1"});
    // An interface without addresses is a valid name that expands to nothing.
    CHECK(plugins::bind_list_ip({"dummy0"}, ifaces).empty());
    CHECK_THROWS_WITH(plugins::bind_list_ip({"lo", "eth9"}, ifaces),
                      "not a valid IP address or interface name: \"eth9\"");
    CHECK_THROWS_WITH(plugins::bind_list_ip({"fe80::1%eth0"}, ifaces),
                      "not a valid IP address or interface name: \"fe80::1%eth0\"");
    CHECK_THROWS_WITH(plugins::bind_list_ip({"010.0.0.1"}, ifaces),
                      "not a valid IP address or interface name: \"010.0.0.1\"");
}

TEST_CASE("list_interface_addrs sees the loopback interface") {
    const auto lo = addrs_of("lo");
    CHECK(std::find(lo.begin(), lo.end(), "127.0.0.1") != lo.end());
}

TEST_CASE("bind sets the block's listen hosts") {
    auto set = load(".:1053 {\n bind 127.0.0.1 ::1\n whoami\n}\n");
    CHECK(set->blocks[0]->has_bind);
    CHECK(set->blocks[0]->bind_hosts == std::vector<std::string>{"127.0.0.1", "::1"});
    // bind adds no query handler
    REQUIRE(set->blocks[0]->chain.size() == 1);
    CHECK(set->blocks[0]->chain[0]->name() == "whoami");

    auto none = load(".:1053 {\n whoami\n}\n");
    CHECK_FALSE(none->blocks[0]->has_bind);
    CHECK(none->blocks[0]->bind_hosts.empty());
}

TEST_CASE("several bind lines accumulate; except applies to its own line") {
    auto set = load(".:1053 {\n bind 127.0.0.1 127.0.0.2 {\n  except 127.0.0.2\n }\n bind 127.0.0.2 ::1\n}\n");
    CHECK(set->blocks[0]->bind_hosts == std::vector<std::string>{"127.0.0.1", "127.0.0.2", "::1"});
}

TEST_CASE("bind by interface name, except by interface name") {
    auto lo = addrs_of("lo");
    REQUIRE_FALSE(lo.empty());
    auto set = load(".:1053 {\n bind lo 192.0.2.77\n}\n");
    lo.push_back("192.0.2.77");
    CHECK(set->blocks[0]->bind_hosts == lo);

    auto all_excepted = load(".:1053 {\n bind lo {\n  except lo\n }\n}\n");
    CHECK(all_excepted->blocks[0]->has_bind);
    CHECK(all_excepted->blocks[0]->bind_hosts.empty());
}

TEST_CASE("bind picks up IPv6 link-local addresses with a zone when the host has them") {
    std::vector<IfaceAddr> all;
    REQUIRE(plugins::list_interface_addrs(all));
    auto it = std::find_if(all.begin(), all.end(), [](const IfaceAddr& a) { return a.v6_link_local; });
    if (it == all.end()) return;  // no link-local address on this host: nothing to check
    auto set = load(".:1053 {\n bind " + it->iface + "\n}\n");
    const auto& hosts = set->blocks[0]->bind_hosts;
    CHECK(std::find(hosts.begin(), hosts.end(), it->ip + "%" + it->iface) != hosts.end());
}

TEST_CASE("bind setup errors") {
    CHECK(load_error(".:1053 {\n bind\n}\n") ==
          "plugin/bind: at least one address or interface name is expected");
    CHECK(load_error(".:1053 {\n bind {\n  except 127.0.0.1\n }\n}\n") ==
          "plugin/bind: at least one address or interface name is expected");
    CHECK(load_error(".:1053 {\n bind 127.0.0.1 {\n  except\n }\n}\n") ==
          "plugin/bind: at least one address or interface must be given to except subdirective");
    CHECK(load_error(".:1053 {\n bind 127.0.0.1 {\n  only 127.0.0.1\n }\n}\n") ==
          "plugin/bind: invalid option \"only\"");
    CHECK(load_error(".:1053 {\n bind 127.0.0.1 no-such-if0\n}\n") ==
          "plugin/bind: not a valid IP address or interface name: \"no-such-if0\"");
    CHECK(load_error(".:1053 {\n bind 127.0.0.1 {\n  except 1.2.3\n }\n}\n") ==
          "plugin/bind: not a valid IP address or interface name: \"1.2.3\"");
}
