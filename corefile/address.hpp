#pragma once
// Server-key normalisation (spec A.6): "EXAMPLE.ORG:1053" -> dns://example.org.:1053,
// CIDR keys -> reverse zones, default ports per transport.
#include <string>
#include <vector>

namespace dnscore::corefile {

struct ZoneAddr {
    std::string transport;  // "dns", "tls", "quic", "grpc", "https", "https3", "unix"
    std::string zone;       // lower-case FQDN, e.g. "example.org." or "."
    std::string port;       // decimal text, "" for unix
    std::string str() const;  // "dns://example.org.:1053"
};

// Normalises one key. May return several zones (CIDR split): the first is the
// key's own, the others are appended to the block's key list by the caller.
// `default_dns_port` comes from -dns.port. Throws parser::ConfigError with the
// bare CoreDNS message (e.g. "zone is not a valid domain name: x..y"); the
// caller adds "error inspecting server blocks: ".
std::vector<ZoneAddr> normalize_key(const std::string& key, const std::string& default_dns_port);

// Normalises a zone argument given to a plugin (plugin.Host(...).NormalizeExact):
// lower-case FQDN; CIDR -> reverse zones. Throws on invalid names.
std::vector<std::string> normalize_zone(const std::string& s);

// DNS presentation-name check of spec A.6 step 3.
bool is_valid_domain_name(const std::string& s);

}  // namespace dnscore::corefile
