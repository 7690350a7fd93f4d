#pragma once
// Rendering Corefile.base into the served Corefile exactly as node-cache's
// updateCorefile() does (spec node-cache.md §4.1, §5.4, §5.5): plain global
// string replacements of the __PILLAR__ tokens plus one appended block per
// kube-dns stub domain.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dnscore::nodecache {

// The kube-dns ConfigMap keys node-cache uses. Stub domains are kept sorted:
// node-cache appends them in Go's random map order; a fixed order keeps the
// output stable, so re-renders do not cause needless reloads.
struct KubeDnsConfig {
    std::map<std::string, std::vector<std::string>> stub_domains;
    std::vector<std::string> upstream_nameservers;
    bool operator==(const KubeDnsConfig&) const = default;
};

struct RenderInput {
    std::string base;                        // Corefile.base text
    KubeDnsConfig config;
    std::string local_ips_spaced;            // "169.254.20.10 10.96.0.10"
    std::string local_port = "53";           // -dns.port
    std::optional<std::string> cluster_dns;  // upstream ClusterIP; nullopt = env var missing
};

struct Rendered {
    std::string text;
    std::string upstream_text;               // for "Updated Corefile with ..."
    size_t stub_count = 0;                   // stub blocks appended
    std::vector<std::string> warnings;       // each logged as [WARNING]
};

// Step 1 of the algorithm (validation for CoreDNS `forward`). Throws
// std::invalid_argument with node-cache's "invalid nameservers ..." text.
void validate_for_corefile(const KubeDnsConfig& cfg);

// The whole algorithm but the file write. Throws std::invalid_argument on an
// invalid config (message without the "Invalid config: " prefix).
Rendered render(const RenderInput& in);

// `forward`'s acceptance of one upstream (parse.HostPortOrFile): an IP,
// IP:port, [IPv6]:port, optionally dns:// or tls://, or a readable file.
// Returns "" or CoreDNS's error text.
std::string forward_target_error(const std::string& target);

}  // namespace dnscore::nodecache
