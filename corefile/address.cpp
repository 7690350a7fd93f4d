// Server-key normalisation, ported from CoreDNS core/dnsserver/register.go
// (InspectServerBlocks), plugin/normalize.go (SplitHostPort), plugin/pkg/cidr
// and the miekg/dns name helpers they rely on.
#include "corefile/address.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "parser/gostd.hpp"
#include "parser/parser.hpp"

namespace dnscore::corefile {
namespace {

using parser::ConfigError;

struct Prefix {
    std::array<std::uint8_t, 16> ip{};  // network address (host bits cleared)
    int bits = 32;                      // 32 for IPv4, 128 for IPv6
    int ones = 0;                       // prefix length
};

// dns.IsFqdn: ends in a dot that is not itself escaped.
bool is_fqdn(const std::string& s) {
    if (s.empty() || s.back() != '.') return false;
    std::string_view body(s.data(), s.size() - 1);
    if (body.empty() || body.back() != '\\') return true;
    std::size_t backslashes = 0;
    while (backslashes < body.size() && body[body.size() - 1 - backslashes] == '\\') ++backslashes;
    return backslashes % 2 == 0;
}

std::string fqdn(const std::string& s) { return is_fqdn(s) ? s : s + "."; }

std::string ascii_lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

bool is_ddd(std::string_view s) {
    return s.size() >= 3 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
           s[2] <= '9';
}

// netip.ParseAddr's IPv4 rules: exactly four decimal fields <= 255, no
// leading zeros.
bool parse_ipv4(std::string_view s, std::uint8_t* out) {
    int val = 0, pos = 0, dig_len = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (dig_len == 1 && val == 0) return false;
            val = val * 10 + (c - '0');
            ++dig_len;
            if (val > 255) return false;
        } else if (c == '.') {
            if (i == 0 || i == s.size() - 1 || s[i - 1] == '.') return false;
            if (pos == 3) return false;
            out[pos++] = static_cast<std::uint8_t>(val);
            val = 0;
            dig_len = 0;
        } else {
            return false;
        }
    }
    if (pos < 3 || dig_len == 0) return false;
    out[3] = static_cast<std::uint8_t>(val);
    return true;
}

// netip.ParseAddr's IPv6 rules (zones are rejected: ParseCIDR refuses them).
bool parse_ipv6(std::string_view in, std::array<std::uint8_t, 16>& ip) {
    std::string_view s = in;
    if (s.find('%') != std::string_view::npos) return false;
    ip.fill(0);
    int ellipsis = -1;
    if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
        ellipsis = 0;
        s.remove_prefix(2);
        if (s.empty()) return true;
    }
    int i = 0;
    while (i < 16) {
        std::size_t off = 0;
        std::uint32_t acc = 0;
        for (; off < s.size(); ++off) {
            char c = s[off];
            if (c >= '0' && c <= '9') acc = (acc << 4) + static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') acc = (acc << 4) + static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') acc = (acc << 4) + static_cast<std::uint32_t>(c - 'A' + 10);
            else break;
            if (off > 3 || acc > 0xFFFF) return false;
        }
        if (off == 0) return false;
        if (off < s.size() && s[off] == '.') {  // trailing embedded IPv4
            if (ellipsis < 0 && i != 12) return false;
            if (i + 4 > 16) return false;
            if (!parse_ipv4(s, ip.data() + i)) return false;
            s = {};
            i += 4;
            break;
        }
        ip[i] = static_cast<std::uint8_t>(acc >> 8);
        ip[i + 1] = static_cast<std::uint8_t>(acc);
        i += 2;
        s.remove_prefix(off);
        if (s.empty()) break;
        if (s[0] != ':' || s.size() == 1) return false;
        s.remove_prefix(1);
        if (s[0] == ':') {
            if (ellipsis >= 0) return false;
            ellipsis = i;
            s.remove_prefix(1);
            if (s.empty()) break;
        }
    }
    if (!s.empty()) return false;
    if (i < 16) {
        if (ellipsis < 0) return false;
        int n = 16 - i;
        for (int j = i - 1; j >= ellipsis; --j) ip[j + n] = ip[j];
        for (int j = ellipsis; j < ellipsis + n; ++j) ip[j] = 0;
    } else if (ellipsis >= 0) {
        return false;  // "::" must stand for at least one group
    }
    return true;
}

// net.ParseCIDR: ADDR/BITS with the host bits masked off.
std::optional<Prefix> parse_cidr(std::string_view s) {
    auto slash = s.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::string_view addr = s.substr(0, slash), mask = s.substr(slash + 1);
    Prefix p;
    // The first '.' or ':' decides the family, as in netip.ParseAddr.
    auto sep = addr.find_first_of(".:");
    if (sep == std::string_view::npos) return std::nullopt;
    if (addr[sep] == '.') {
        if (!parse_ipv4(addr, p.ip.data())) return std::nullopt;
        p.bits = 32;
    } else {
        if (!parse_ipv6(addr, p.ip)) return std::nullopt;
        p.bits = 128;
    }
    // dtoi: decimal digits (leading zeros allowed), all of the mask text.
    if (mask.empty()) return std::nullopt;
    int n = 0;
    for (char c : mask) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
        if (n > 0xFFFFFF) return std::nullopt;
    }
    if (n > p.bits) return std::nullopt;
    p.ones = n;
    for (int bit = n; bit < p.bits; ++bit) p.ip[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
    return p;
}

// dns.ReverseAddr of the network address, minus the labels below the prefix
// (the prefix is on a label boundary here).
std::string reverse_zone(const Prefix& p) {
    const int size_digit = p.bits == 32 ? 8 : 4;
    const int keep = p.ones / size_digit;  // labels that belong to the zone
    std::string out;
    static const char hex[] = "0123456789abcdef";
    for (int idx = keep - 1; idx >= 0; --idx) {
        if (p.bits == 32) {
            out += std::to_string(p.ip[static_cast<std::size_t>(idx)]);
        } else {
            std::uint8_t byte = p.ip[static_cast<std::size_t>(idx / 2)];
            out += hex[idx % 2 == 0 ? byte >> 4 : byte & 0xF];
        }
        out += '.';
    }
    out += p.bits == 32 ? "in-addr.arpa." : "ip6.arpa.";
    return out;
}

// cidr.Split + cidr.Reverse: one reverse zone per sub-prefix on the next
// label boundary (8 bits for IPv4, 4 bits for IPv6).
std::vector<std::string> reverse_zones(const Prefix& p) {
    const int boundary = p.bits == 32 ? 8 : 4;
    if (p.ones % boundary == 0) return {reverse_zone(p)};
    const int mask = (p.ones + boundary - 1) / boundary * boundary;
    const int count = 1 << (mask - p.ones);  // at most 128
    std::vector<std::string> zones;
    for (int k = 0; k < count; ++k) {
        Prefix sub = p;
        sub.ones = mask;
        // Add k at bit position (mask - 1) counting from the left; the bits
        // between p.ones and mask are zero in the network address.
        for (int bit = 0; bit < mask - p.ones; ++bit) {
            if (!(k & (1 << bit))) continue;
            int pos = mask - 1 - bit;
            sub.ip[static_cast<std::size_t>(pos / 8)] |= static_cast<std::uint8_t>(0x80 >> (pos % 8));
        }
        zones.push_back(reverse_zone(sub));
    }
    return zones;
}

struct HostsPort {
    std::vector<std::string> hosts;
    std::string port;
};

// CoreDNS plugin.SplitHostPort (normalize.go): a server key's hosts (a CIDR
// expands to reverse zones) and port; not Go's net.SplitHostPort (core/net).
HostsPort split_key_host_port(std::string s) {
    HostsPort r;
    auto colon = s.rfind(':');
    if (colon != std::string::npos && colon == s.size() - 1)
        throw ConfigError("expecting data after last colon: " + gostd::quote(s));
    if (colon != std::string::npos) {
        try {
            long long p = gostd::atoi(std::string_view(s).substr(colon + 1));
            r.port = std::to_string(p);  // canonical form: "053" -> "53"
            s.resize(colon);
        } catch (const std::invalid_argument&) {
            // not a number: the colon is part of the name
        }
    }
    if (s.size() > 255) throw ConfigError("specified zone is too long: " + std::to_string(s.size()) + " > 255");
    if (!is_valid_domain_name(s)) throw ConfigError("zone is not a valid domain name: " + s);
    auto prefix = parse_cidr(s);
    if (!prefix) {
        r.hosts.push_back(s);
        return r;
    }
    if (s[0] == ':' || (s[0] == '0' && s.find(':') != std::string::npos))
        throw ConfigError("invalid CIDR " + s);
    r.hosts = reverse_zones(*prefix);
    return r;
}

// parse.Transport: strip a known scheme; default dns.
std::pair<std::string, std::string> split_transport(const std::string& key) {
    static const char* const kSchemes[] = {"tls", "dns", "quic", "grpc", "https", "https3", "unix"};
    for (const char* scheme : kSchemes) {
        std::string prefix = std::string(scheme) + "://";
        if (key.compare(0, prefix.size(), prefix) == 0) return {scheme, key.substr(prefix.size())};
    }
    return {"dns", key};
}

}  // namespace

std::string ZoneAddr::str() const { return transport + "://" + zone + ":" + port; }

bool is_valid_domain_name(const std::string& name) {
    // miekg/dns IsDomainName (a port of packDomainName's checks).
    constexpr int kLenMsg = 256;
    if (name.empty()) return false;
    const std::string s = fqdn(name);
    int off = 0;
    std::size_t begin = 0;
    bool was_dot = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        switch (s[i]) {
            case '\\':
                if (off + 1 > kLenMsg) return false;
                if (is_ddd(std::string_view(s).substr(i + 1))) {
                    i += 3;
                    begin += 3;
                } else {
                    ++i;
                    ++begin;
                }
                was_dot = false;
                break;
            case '.': {
                if (i == 0 && s.size() > 1) return false;  // leading dot only for the root
                if (was_dot) return false;                  // empty label
                was_dot = true;
                const std::size_t label_len = i - begin;
                if (label_len >= 64) return false;
                off += 1 + static_cast<int>(label_len);
                if (off > kLenMsg) return false;
                begin = i + 1;
                break;
            }
            default:
                was_dot = false;
        }
    }
    return true;
}

std::vector<ZoneAddr> normalize_key(const std::string& key, const std::string& default_dns_port) {
    auto [transport, rest] = split_transport(key);
    HostsPort hp = split_key_host_port(rest);
    // Re-check the fully qualified form: some names pass only without the dot.
    for (const auto& h : hp.hosts) split_key_host_port(fqdn(h));
    std::string port = hp.port;
    if (port.empty()) {
        if (transport == "dns") port = default_dns_port;
        else if (transport == "tls" || transport == "quic") port = "853";
        else if (transport == "grpc" || transport == "https" || transport == "https3") port = "443";
    }
    std::vector<ZoneAddr> out;
    for (const auto& h : hp.hosts) out.push_back(ZoneAddr{transport, ascii_lower(fqdn(h)), port});
    return out;
}

std::vector<std::string> normalize_zone(const std::string& s) {
    auto [transport, rest] = split_transport(s);
    (void)transport;
    HostsPort hp = split_key_host_port(rest);
    std::vector<std::string> out;
    for (const auto& h : hp.hosts) out.push_back(ascii_lower(fqdn(h)));
    return out;
}

}  // namespace dnscore::corefile
