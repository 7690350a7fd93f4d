#include <string>
#include <vector>

#include "corefile/address.hpp"
#include "parser/parser.hpp"
#include "tests/support/catch.hpp"

using dnscore::corefile::is_valid_domain_name;
using dnscore::corefile::normalize_key;
using dnscore::corefile::normalize_zone;
using dnscore::corefile::ZoneAddr;
using dnscore::parser::ConfigError;

namespace {

using Strings = std::vector<std::string>;

Strings keys_of(const std::string& key, const std::string& port = "53") {
    Strings out;
    for (const auto& z : normalize_key(key, port)) out.push_back(z.str());
    return out;
}

std::string key_error(const std::string& key) {
    try {
        normalize_key(key, "53");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "<no error>";
}

std::string long_label_name(std::size_t total) {
    // labels of 50 chars separated by dots, cut to `total` characters
    std::string s;
    while (s.size() < total) {
        if (!s.empty()) s += '.';
        s += std::string(50, 'a');
    }
    s.resize(total);
    if (s.back() == '.') s.back() = 'b';
    return s;
}

}  // namespace

TEST_CASE("address: keys normalise to TRANSPORT://ZONE:PORT", "[address]") {
    struct Case {
        const char* key;
        const char* dns_port;
        Strings want;
    };
    const std::vector<Case> cases = {
        {".", "53", {"dns://.:53"}},
        {".:53", "53", {"dns://.:53"}},
        {".:1053", "53", {"dns://.:1053"}},
        {".", "1053", {"dns://.:1053"}},
        {"example.org", "53", {"dns://example.org.:53"}},
        {"example.org.", "53", {"dns://example.org.:53"}},
        {"EXAMPLE.ORG:1053", "53", {"dns://example.org.:1053"}},
        {"example.org:053", "53", {"dns://example.org.:53"}},
        {"example.org:+53", "53", {"dns://example.org.:53"}},
        {"example.org:0x35", "53", {"dns://example.org:0x35.:53"}},
        {"a:b:53", "53", {"dns://a:b.:53"}},
        {"dns://example.org", "53", {"dns://example.org.:53"}},
        {"dns://example.org:5300", "53", {"dns://example.org.:5300"}},
        {"tls://example.org", "53", {"tls://example.org.:853"}},
        {"tls://.:8853", "53", {"tls://.:8853"}},
        {"quic://example.org", "53", {"quic://example.org.:853"}},
        {"grpc://example.org", "53", {"grpc://example.org.:443"}},
        {"https://example.org", "53", {"https://example.org.:443"}},
        {"https3://example.org", "53", {"https3://example.org.:443"}},
        {"DNS://example.org", "53", {"dns://dns://example.org.:53"}},  // schemes are case-sensitive
        {"10.0.0.0/8", "53", {"dns://10.in-addr.arpa.:53"}},
        {"10.0.0.0/8:5353", "53", {"dns://10.in-addr.arpa.:5353"}},
        {"10.1.2.3/8", "53", {"dns://10.in-addr.arpa.:53"}},  // host bits masked off
        {"192.168.1.0/24", "53", {"dns://1.168.192.in-addr.arpa.:53"}},
        {"192.168.1.77/32", "53", {"dns://77.1.168.192.in-addr.arpa.:53"}},
        {"0.0.0.0/0", "53", {"dns://in-addr.arpa.:53"}},
        {"10.0.0.0/15", "53", {"dns://0.10.in-addr.arpa.:53", "dns://1.10.in-addr.arpa.:53"}},
        {"172.16.0.0/12", "53",
         {"dns://16.172.in-addr.arpa.:53", "dns://17.172.in-addr.arpa.:53", "dns://18.172.in-addr.arpa.:53",
          "dns://19.172.in-addr.arpa.:53", "dns://20.172.in-addr.arpa.:53", "dns://21.172.in-addr.arpa.:53",
          "dns://22.172.in-addr.arpa.:53", "dns://23.172.in-addr.arpa.:53", "dns://24.172.in-addr.arpa.:53",
          "dns://25.172.in-addr.arpa.:53", "dns://26.172.in-addr.arpa.:53", "dns://27.172.in-addr.arpa.:53",
          "dns://28.172.in-addr.arpa.:53", "dns://29.172.in-addr.arpa.:53", "dns://30.172.in-addr.arpa.:53",
          "dns://31.172.in-addr.arpa.:53"}},
        {"fd00::/8", "53", {"dns://d.f.ip6.arpa.:53"}},
        {"2001:db8::/32", "53", {"dns://8.b.d.0.1.0.0.2.ip6.arpa.:53"}},
        {"2001:db8::/30", "53",
         {"dns://8.b.d.0.1.0.0.2.ip6.arpa.:53", "dns://9.b.d.0.1.0.0.2.ip6.arpa.:53",
          "dns://a.b.d.0.1.0.0.2.ip6.arpa.:53", "dns://b.b.d.0.1.0.0.2.ip6.arpa.:53"}},
        {"2001:DB8::/32:1053", "53", {"dns://8.b.d.0.1.0.0.2.ip6.arpa.:1053"}},
        {"tls://10.0.0.0/8", "53", {"tls://10.in-addr.arpa.:853"}},
        {"10.0.0.0/08", "53", {"dns://10.in-addr.arpa.:53"}},            // mask may have leading zeros
        {"010.0.0.0/8", "53", {"dns://010.0.0.0/8.:53"}},                // not an IP: plain name
        {"10.0.0.0/33", "53", {"dns://10.0.0.0/33.:53"}},                // mask too long: plain name
        {"10.0.0.0", "53", {"dns://10.0.0.0.:53"}},                      // no mask: plain name
        {"example.org:99999999999999999999", "53", {"dns://example.org:99999999999999999999.:53"}},
        {"example.org:-1", "53", {"dns://example.org.:-1"}},
        {"ex\\.ample.org", "53", {"dns://ex\\.ample.org.:53"}},
    };
    for (const auto& c : cases) {
        INFO(c.key);
        CHECK(keys_of(c.key, c.dns_port) == c.want);
    }
}

TEST_CASE("address: /27 splits into 32 zones in order", "[address]") {
    auto zones = normalize_key("10.0.0.0/27", "53");
    REQUIRE(zones.size() == 32);
    CHECK(zones.front().zone == "0.0.0.10.in-addr.arpa.");
    CHECK(zones[1].zone == "1.0.0.10.in-addr.arpa.");
    CHECK(zones.back().zone == "31.0.0.10.in-addr.arpa.");
    for (const auto& z : zones) {
        CHECK(z.transport == "dns");
        CHECK(z.port == "53");
    }
    CHECK(normalize_key("10.0.0.0/25", "53").size() == 128);
    CHECK(normalize_key("8000::/1", "53").size() == 8);
}

TEST_CASE("address: ZoneAddr fields", "[address]") {
    auto zones = normalize_key("grpc://Example.ORG:9000", "53");
    REQUIRE(zones.size() == 1);
    CHECK(zones[0].transport == "grpc");
    CHECK(zones[0].zone == "example.org.");
    CHECK(zones[0].port == "9000");
    CHECK(zones[0].str() == "grpc://example.org.:9000");

    auto unix_zone = normalize_key("unix://example.org", "53");
    REQUIRE(unix_zone.size() == 1);
    CHECK(unix_zone[0].transport == "unix");
    CHECK(unix_zone[0].port.empty());
}

TEST_CASE("address: invalid keys and their messages", "[address]") {
    struct Case {
        std::string key;
        std::string msg;
    };
    const std::string label64(64, 'a');
    const std::vector<Case> cases = {
        {":53", "zone is not a valid domain name: "},
        {"", "zone is not a valid domain name: "},
        {"dns://", "zone is not a valid domain name: "},
        {"example.org:", "expecting data after last colon: \"example.org:\""},
        {".:", "expecting data after last colon: \".:\""},
        {"tls://a\"b:", "expecting data after last colon: \"a\\\"b:\""},
        {"x..y", "zone is not a valid domain name: x..y"},
        {"..", "zone is not a valid domain name: .."},
        {".example.org", "zone is not a valid domain name: .example.org"},
        {"example..org:53", "zone is not a valid domain name: example..org"},
        {label64 + ".org", "zone is not a valid domain name: " + label64 + ".org"},
        {std::string(256, 'a'), "specified zone is too long: 256 > 255"},
        {"::/0", "invalid CIDR ::/0"},
        {"0::/64", "invalid CIDR 0::/64"},
        {"::1/128:53", "invalid CIDR ::1/128"},
    };
    for (const auto& c : cases) {
        INFO(c.key);
        CHECK(key_error(c.key) == c.msg);
    }
}

TEST_CASE("address: the fully-qualified form is re-checked", "[address]") {
    // 255 characters pass the first check; with the final dot the name is 256.
    std::string name = long_label_name(255);
    CHECK(name.size() == 255);
    CHECK(key_error(name) == "specified zone is too long: 256 > 255");
}

TEST_CASE("address: is_valid_domain_name", "[address]") {
    const Strings valid = {".", "a", "a.", "example.org", "example.org.", "xn--bcher-kva.example", "_dns.sd",
                           "*.example.org", "a\\.b", "a\\046b", "10.0.0.0/8", "fd00::/8", "example.org:0x35",
                           std::string(63, 'a') + ".org", "a b"};
    const Strings invalid = {"", "..", "a..b", ".a", "a..", std::string(64, 'a'), std::string(64, 'a') + ".org"};
    for (const auto& s : valid) {
        INFO(s);
        CHECK(is_valid_domain_name(s));
    }
    for (const auto& s : invalid) {
        INFO(s);
        CHECK_FALSE(is_valid_domain_name(s));
    }
    // An escaped character counts as one octet towards the 63-octet label limit.
    std::string escaped_label;
    for (int i = 0; i < 63; ++i) escaped_label += "\\065";
    CHECK(is_valid_domain_name(escaped_label + ".org"));
    CHECK_FALSE(is_valid_domain_name(escaped_label + "\\065.org"));
}

TEST_CASE("address: normalize_zone for plugin arguments", "[address]") {
    CHECK(normalize_zone("Example.ORG") == Strings{"example.org."});
    CHECK(normalize_zone("example.org.") == Strings{"example.org."});
    CHECK(normalize_zone("dns://example.org:53") == Strings{"example.org."});
    CHECK(normalize_zone(".") == Strings{"."});
    CHECK(normalize_zone("10.0.0.0/15") == Strings{"0.10.in-addr.arpa.", "1.10.in-addr.arpa."});
    CHECK(normalize_zone("2001:db8::/32") == Strings{"8.b.d.0.1.0.0.2.ip6.arpa."});
    CHECK_THROWS_WITH(normalize_zone("a..b"), "zone is not a valid domain name: a..b");
    CHECK_THROWS_WITH(normalize_zone("a:"), "expecting data after last colon: \"a:\"");
}
