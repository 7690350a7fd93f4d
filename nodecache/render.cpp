#include "nodecache/render.hpp"

#include <unistd.h>

#include <stdexcept>

#include "core/net.hpp"
#include "corefile/address.hpp"
#include "nodecache/options.hpp"
#include "parser/gostd.hpp"
#include "parser/parser.hpp"

namespace dnscore::nodecache {

namespace {

// strings.ReplaceAll
std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
        s.replace(pos, from.size(), to);
        pos += to.size();
    }
    return s;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
    return out;
}

// Go's %v of a []string.
std::string go_list(const std::vector<std::string>& v) { return "[" + join(v, " ") + "]"; }

// Zones of the server-block keys already in the rendered base ("zone.:port"),
// so a ConfigMap stub domain that duplicates one is not appended.
std::vector<std::string> base_zone_keys(const std::string& text, const std::string& port) {
    std::vector<std::string> out;
    try {
        for (const auto& block : parser::parse(text, "Corefile", {}))
            for (const auto& key : block.keys)
                for (const auto& za : corefile::normalize_key(key, port)) out.push_back(za.zone + ":" + za.port);
    } catch (const std::exception&) {
        // An unparsable base fails later in CoreDNS with a better message.
    }
    return out;
}

const char* const kTcpUpstreamBlock = "\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n";

}  // namespace

std::string forward_target_error(const std::string& target) {
    std::string host = target;
    for (const char* scheme : {"dns://", "tls://"})
        if (host.rfind(scheme, 0) == 0) host = host.substr(std::string(scheme).size());
    if (host.find("://") != std::string::npos) return "unsupported transport in " + gostd::quote(target);
    if (parse_ip(host)) return "";
    // host:port / [v6]:port with a numeric port.
    std::string h, port;
    if (net::split_host_port(host, h, port) && parse_ip(h)) {
        try {
            auto p = gostd::atoi(port);
            if (p >= 0 && p <= 65535) return "";
        } catch (const std::exception&) {
        }
    }
    if (::access(host.c_str(), R_OK) == 0) return "";
    return "not an IP address or file: " + gostd::quote(host);
}

void validate_for_corefile(const KubeDnsConfig& cfg) {
    for (const auto& [domain, servers] : cfg.stub_domains)
        for (const auto& s : servers)
            if (auto err = forward_target_error(s); !err.empty())
                throw std::invalid_argument("invalid nameservers " + go_list(servers) + " for the stub domain " +
                                            domain + ": " + err);
    for (const auto& s : cfg.upstream_nameservers)
        if (auto err = forward_target_error(s); !err.empty())
            throw std::invalid_argument("invalid upstream nameservers " + go_list(cfg.upstream_nameservers) +
                                        ": " + err);
}

Rendered render(const RenderInput& in) {
    validate_for_corefile(in.config);
    Rendered r;
    std::string base = in.base;

    const std::string token = "__PILLAR__UPSTREAM__SERVERS__";
    if (in.config.upstream_nameservers.empty()) {
        r.upstream_text = "/etc/resolv.conf";
        base = replace_all(base, token, r.upstream_text);
    } else {
        r.upstream_text = join(in.config.upstream_nameservers, " ");
        // Custom upstreams are forced to UDP, as node-cache does.
        base = replace_all(base, kTcpUpstreamBlock, "\n    forward . " + r.upstream_text + "\n");
        if (base.find(token) != std::string::npos) {
            r.warnings.push_back("Did not find TCP upstream block to replace, assuming upstreams already use UDP.");
            base = replace_all(base, token, r.upstream_text);
        }
    }

    const std::string cluster_token = "__PILLAR__CLUSTER__DNS__";
    if (!in.cluster_dns && base.find(cluster_token) != std::string::npos)
        r.warnings.push_back(
            "__PILLAR__CLUSTER__DNS__ is in the base Corefile but the upstream service IP is unknown; writing "
            "\"<nil>\" as node-cache does, so this Corefile will not load (set the <SVC>_SERVICE_HOST variable "
            "or substitute the token)");
    base = replace_all(base, cluster_token, in.cluster_dns.value_or("<nil>"));
    base = replace_all(base, "__PILLAR__LOCAL__DNS__", in.local_ips_spaced);
    base = replace_all(base, "__PILLAR__DNS__SERVER__", "");

    std::string stubs;
    std::vector<std::string> existing;
    if (!in.config.stub_domains.empty()) existing = base_zone_keys(base, in.local_port);
    for (const auto& [domain, servers] : in.config.stub_domains) {
        std::string zone_key;
        try {
            auto za = corefile::normalize_key(domain + ":" + in.local_port, in.local_port);
            if (!za.empty()) zone_key = za.front().zone + ":" + za.front().port;
        } catch (const std::exception&) {
        }
        bool duplicate = false;
        for (const auto& k : existing) duplicate = duplicate || k == zone_key;
        if (duplicate) {
            // node-cache appends it anyway and CoreDNS refuses the whole file.
            r.warnings.push_back("stub domain " + domain + " from the kube-dns ConfigMap is already a server block "
                                 "in the base Corefile; keeping the base block and not appending another");
            continue;
        }
        stubs += "\n" + domain + ":" + in.local_port + " {\n    errors\n    cache 30\n    bind " +
                 in.local_ips_spaced + "\n    forward . " + join(servers, " ") + "\n}\n";
        ++r.stub_count;
    }
    r.text = base + stubs;
    return r;
}

}  // namespace dnscore::nodecache
