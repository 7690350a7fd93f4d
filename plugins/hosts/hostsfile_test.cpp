// CoreDNS plugin/hosts/hostsfile_test.go: parsing and lookups.
#include "plugins/hosts/hostsfile.hpp"

#include <arpa/inet.h>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore;
using namespace dnscore::plugins::hosts;

namespace {

const char* kHosts = "255.255.255.255\tbroadcasthost\n"
                     "\t127.0.0.2\todin\n"
                     "\t127.0.0.3\todin  # inline comment\n"
                     "\t::2             odin\n"
                     "\t127.1.1.1\tthor\n"
                     "\t# aliases\n"
                     "\t127.1.1.2\tullr ullrhost\n"
                     "\tfe80::1%lo0\tlocalhost\n"
                     "\t# Bogus entries that must be ignored.\n"
                     "\t123.123.123\tloki\n"
                     "\t321.321.321.321";
const char* kSingleLine = "127.0.0.2  odin";
const char* kIpv4 = "# See https://tools.ietf.org/html/rfc1123.\n#\n\n"
                    "# internet address and host name\n"
                    "127.0.0.1\tlocalhost\t# inline comment separated by tab\n"
                    "127.0.0.2\tlocalhost       # inline comment separated by space\n\n"
                    "# internet address, host name and aliases\n"
                    "127.0.0.3\tlocalhost\tlocalhost.localdomain";
const char* kIpv6 = "# See https://tools.ietf.org/html/rfc5952, https://tools.ietf.org/html/rfc4007.\n\n"
                    "::1\t\t\t\t\t\tlocalhost\t# inline comment separated by tab\n"
                    "fe80:0000:0000:0000:0000:0000:0000:0001\t\tlocalhost       # inline comment separated by space\n\n"
                    "fe80:0000:0000:0000:0000:0000:0000:0002%lo0\tlocalhost\n\n"
                    "fe80::3%lo0\t\t\t\t\tlocalhost\tlocalhost.localdomain";
const char* kCase = "127.0.0.1\tPreserveMe\tPreserveMe.local\n\t\t::1\t\tPreserveMe\tPreserveMe.local";

Index index_of(const char* text, bool reverse = true) {
    ZoneSet root;
    root.add(".");
    return Index(parse(text, root, reverse), Map{});
}

std::vector<uint8_t> lower_wire(const std::string& name) {
    uint8_t w[256];
    size_t n = wire::text_to_name(name, w);
    for (size_t i = 0; i < n; ++i)
        if (w[i] >= 'A' && w[i] <= 'Z') w[i] = uint8_t(w[i] + 32);
    return {w, w + n};
}

std::vector<std::string> v4_of(const Index& idx, const std::string& name) {
    auto w = lower_wire(name);
    std::vector<std::string> out;
    auto a = idx.lookup(w.data(), w.size()).v4;
    for (size_t i = 0; i < a.size(); i += 4) {
        char buf[64];
        inet_ntop(AF_INET, a.data() + i, buf, sizeof buf);
        out.emplace_back(buf);
    }
    return out;
}
std::vector<std::string> v6_of(const Index& idx, const std::string& name) {
    auto w = lower_wire(name);
    std::vector<std::string> out;
    auto a = idx.lookup(w.data(), w.size()).v6;
    for (size_t i = 0; i < a.size(); i += 16) {
        char buf[64];
        inet_ntop(AF_INET6, a.data() + i, buf, sizeof buf);
        out.emplace_back(buf);
    }
    return out;
}
std::vector<std::string> names_of(const Index& idx, const std::string& addr) {
    Ip16 ip;
    REQUIRE(parse_ip(addr, ip));
    std::vector<std::string> out;
    idx.each_name(ip, [&](const uint8_t* n, size_t len) {
        char buf[1024];
        out.emplace_back(buf, wire::name_to_text(n, len, buf, sizeof buf));
    });
    return out;
}

struct HostCase {
    std::string name;
    std::vector<std::string> v4, v6;
};

void check_hosts(const char* text, const std::vector<HostCase>& cases) {
    const Index idx = index_of(text);
    for (const auto& c : cases) {
        // As given, fully qualified, lower and upper case.
        std::string upper = c.name;
        for (auto& ch : upper) ch = char(std::toupper(ch));
        std::string lower = c.name;
        for (auto& ch : lower) ch = char(std::tolower(ch));
        for (const auto& in : {c.name, lower, upper}) {
            INFO(in);
            CHECK(v4_of(idx, in) == c.v4);
            CHECK(v6_of(idx, in) == c.v6);
        }
    }
}

}  // namespace

TEST_CASE("hosts file lookups by name (Go's lookupStaticHostTests)", "[hosts]") {
    check_hosts(kHosts, {{"odin.", {"127.0.0.2", "127.0.0.3"}, {"::2"}},
                         {"thor.", {"127.1.1.1"}, {}},
                         {"ullr.", {"127.1.1.2"}, {}},
                         {"ullrhost.", {"127.1.1.2"}, {}},
                         {"localhost.", {}, {"fe80::1"}},
                         {"loki.", {}, {}}});
    check_hosts(kSingleLine, {{"odin.", {"127.0.0.2"}, {}}});
    check_hosts(kIpv4, {{"localhost.", {"127.0.0.1", "127.0.0.2", "127.0.0.3"}, {}},
                        {"localhost.localdomain.", {"127.0.0.3"}, {}}});
    check_hosts(kIpv6, {{"localhost.", {}, {"::1", "fe80::1", "fe80::2", "fe80::3"}},
                        {"localhost.localdomain.", {}, {"fe80::3"}}});
    check_hosts(kCase, {{"PreserveMe.", {"127.0.0.1"}, {"::1"}}, {"PreserveMe.local.", {"127.0.0.1"}, {"::1"}}});
}

TEST_CASE("hosts file lookups by address (Go's lookupStaticAddrTests)", "[hosts]") {
    const Index h = index_of(kHosts);
    CHECK(names_of(h, "255.255.255.255") == std::vector<std::string>{"broadcasthost."});
    CHECK(names_of(h, "127.0.0.2") == std::vector<std::string>{"odin."});
    CHECK(names_of(h, "127.0.0.3") == std::vector<std::string>{"odin."});
    CHECK(names_of(h, "::2") == std::vector<std::string>{"odin."});
    CHECK(names_of(h, "127.1.1.1") == std::vector<std::string>{"thor."});
    CHECK(names_of(h, "127.1.1.2") == std::vector<std::string>{"ullr.", "ullrhost."});
    CHECK(names_of(h, "fe80::1") == std::vector<std::string>{"localhost."});
    CHECK(names_of(index_of(kSingleLine), "127.0.0.2") == std::vector<std::string>{"odin."});
    const Index v4 = index_of(kIpv4);
    CHECK(names_of(v4, "127.0.0.1") == std::vector<std::string>{"localhost."});
    CHECK(names_of(v4, "127.0.0.3") == std::vector<std::string>{"localhost.", "localhost.localdomain."});
    const Index v6 = index_of(kIpv6);
    CHECK(names_of(v6, "::1") == std::vector<std::string>{"localhost."});
    CHECK(names_of(v6, "fe80::2") == std::vector<std::string>{"localhost."});
    CHECK(names_of(v6, "fe80::3") == std::vector<std::string>{"localhost.", "localhost.localdomain."});
    // Names are normalised (lower case) for PTR answers.
    const Index c = index_of(kCase);
    CHECK(names_of(c, "127.0.0.1") == std::vector<std::string>{"preserveme.", "preserveme.local."});
    CHECK(names_of(c, "::1") == std::vector<std::string>{"preserveme.", "preserveme.local."});
    // no_reverse: no address map at all.
    CHECK(names_of(index_of(kHosts, false), "127.0.0.2").empty());
}

TEST_CASE("hosts entries count as CoreDNS's Map.Len, file then inline", "[hosts]") {
    ZoneSet root;
    root.add(".");
    const Map file = parse(kIpv4, root, true);
    CHECK(file.len() == 8);  // 4 addresses + 4 reverse names
    const Map extra = parse("10.0.0.9 localhost\n::ffff:10.0.0.2 mapped", root, true);
    const Index idx(file, extra);
    CHECK(idx.entries() == 12);
    // The file's addresses first, then the inline ones; IPv4-mapped is IPv4.
    CHECK(v4_of(idx, "localhost.") == std::vector<std::string>{"127.0.0.1", "127.0.0.2", "127.0.0.3", "10.0.0.9"});
    CHECK(v4_of(idx, "mapped.") == std::vector<std::string>{"10.0.0.2"});
    CHECK(names_of(idx, "10.0.0.2") == std::vector<std::string>{"mapped."});
}

TEST_CASE("hosts keeps only names inside its zones", "[hosts]") {
    ZoneSet zones;
    zones.add("example.org.");
    const Index idx(parse("10.0.0.1 a.example.org other.net example.org", zones, true), Map{});
    CHECK(v4_of(idx, "a.example.org.") == std::vector<std::string>{"10.0.0.1"});
    CHECK(v4_of(idx, "example.org.") == std::vector<std::string>{"10.0.0.1"});
    CHECK(v4_of(idx, "other.net.").empty());
    CHECK(names_of(idx, "10.0.0.1") == std::vector<std::string>{"a.example.org.", "example.org."});
}

TEST_CASE("reverse names to addresses as dnsutil.ExtractAddressFromReverse", "[hosts]") {
    auto rev = [](const std::string& name, std::string* out) {
        auto w = lower_wire(name);
        Ip16 ip;
        if (!address_from_reverse(w.data(), w.size(), ip)) return false;
        char buf[64];
        if (is_v4(ip)) inet_ntop(AF_INET, ip.data() + 12, buf, sizeof buf);
        else inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
        *out = buf;
        return true;
    };
    std::string s;
    REQUIRE(rev("1.0.0.10.in-addr.arpa.", &s));
    CHECK(s == "10.0.0.1");
    REQUIRE(rev("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", &s));
    CHECK(s == "::1");
    // ::ffff:10.0.0.2 through ip6.arpa is the IPv4 address, as Go's String() makes it.
    REQUIRE(rev("2.0.0.0.0.0.a.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", &s));
    CHECK(s == "10.0.0.2");
    for (const char* bad : {"in-addr.arpa.", "0.10.in-addr.arpa.", "1.1.0.0.10.in-addr.arpa.", "256.0.0.10.in-addr.arpa.",
                            "01.0.0.10.in-addr.arpa.", "x.0.0.10.in-addr.arpa.", "1.0.ip6.arpa.", "example.org.",
                            "10.0.0.1.example.org."}) {
        INFO(bad);
        CHECK_FALSE(rev(bad, &s));
    }
}

TEST_CASE("hosts IP parsing as Go's ParseIP", "[hosts]") {
    Ip16 ip;
    CHECK(parse_ip("10.0.0.1", ip));
    CHECK(is_v4(ip));
    CHECK(parse_ip("fe80::1%eth0", ip));
    CHECK_FALSE(is_v4(ip));
    CHECK(parse_ip("::FFFF:10.0.0.2", ip));
    CHECK(is_v4(ip));
    for (const char* bad : {"123.123.123", "321.321.321.321", "010.0.0.1", "reload", "", "%lo0", "1:2:3"}) CHECK_FALSE(parse_ip(bad, ip));
}
