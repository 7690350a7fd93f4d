// forward setup: Corefile syntax, defaults and error texts of CoreDNS 1.12
// (plugin/forward/setup.go, plugin/pkg/parse/host.go, miekg/dns clientconfig).
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "corefile/address.hpp"
#include "corefile/setup.hpp"
#include "parser/dispenser.hpp"
#include "parser/gostd.hpp"
#include "core/tap.hpp"
#include "plugins/forward/forward.hpp"
#include "plugins/forward/metrics.hpp"
#include "core/file.hpp"
#include "core/log.hpp"
#include "core/net.hpp"
#include "core/host.hpp"
#include "core/wire/wire.hpp"

namespace dnscore::plugins::forward {

using net::join_host_port;
using net::split_host_port;

using parser::ConfigError;

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// parse.Transport: strips a known scheme; no scheme means dns.
std::pair<std::string, std::string> split_transport(const std::string& s) {
    static const char* const kSchemes[] = {"tls", "dns", "quic", "grpc", "https3", "https", "unix"};
    for (const char* sc : kSchemes) {
        const std::string prefix = std::string(sc) + "://";
        if (starts_with(s, prefix)) return {sc, s.substr(prefix.size())};
    }
    return {"dns", s};
}

bool parse_ip(const std::string& s) {
    in6_addr a6;
    in_addr a4;
    // Go's net.ParseIP accepts a zone only via ParseIP's caller stripping it.
    return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

std::string strip_zone(const std::string& host) {
    auto p = host.rfind('%');
    return p == std::string::npos ? host : host.substr(0, p);
}

bool try_file(const std::string& path, std::vector<std::string>& out) {
    FileError err;
    auto text = read_file(path, &err);
    // A path that opens but does not read (a directory) is a file without nameservers.
    if (!text && err.at_open) return false;
    for (const auto& ns : resolv_conf_nameservers(text.value_or(""))) out.push_back(join_host_port(ns, "53"));
    return true;
}

// splitZone of setup.go: "tls://1.2.3.4%name:853" -> host "tls://1.2.3.4:853", zone "name".
std::pair<std::string, std::string> split_zone(const std::string& h) {
    auto pct = h.rfind('%');
    if (pct == std::string::npos) return {h, ""};
    std::string host = h.substr(0, pct);
    std::string zone = h.substr(pct + 1);
    if (auto colon = zone.rfind(':'); colon != std::string::npos) {
        host += zone.substr(colon);
        zone = zone.substr(0, colon);
    }
    return {host, zone};
}

std::chrono::nanoseconds duration_arg(parser::Dispenser& d) {
    if (!d.next_arg()) throw d.arg_err();
    return gostd::parse_duration(d.val());
}

void parse_block_option(parser::Dispenser& d, Options& f) {
    const std::string opt = d.val();
    if (opt == "except") {
        auto ignore = d.remaining_args();
        if (ignore.empty()) throw d.arg_err();
        for (const auto& i : ignore)
            for (auto& z : corefile::normalize_zone(i)) f.except.push_back(z);
    } else if (opt == "max_fails") {
        if (!d.next_arg()) throw d.arg_err();
        f.max_fails = uint32_t(gostd::parse_uint(d.val(), 32));
    } else if (opt == "health_check") {
        auto dur = duration_arg(d);
        if (dur.count() < 0)
            throw ConfigError("health_check can't be negative: " + std::to_string(dur.count()));
        f.hc_interval = dur;
        f.hc_domain = ".";
        while (d.next_arg()) {
            const std::string hc = d.val();
            if (hc == "no_rec") {
                f.hc_recursion_desired = false;
            } else if (hc == "domain") {
                if (!d.next_arg()) throw d.arg_err();
                uint8_t w[wire::kMaxNameLen];
                if (wire::text_to_name(d.val(), w) == 0)
                    throw ConfigError("health_check: invalid domain name " + d.val());
                std::string n = d.val();
                std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
                if (n.empty() || n.back() != '.') n += '.';
                f.hc_domain = n;
            } else {
                throw ConfigError("health_check: unknown option " + hc);
            }
        }
    } else if (opt == "force_tcp") {
        if (d.next_arg()) throw d.arg_err();
        f.force_tcp = true;
    } else if (opt == "prefer_udp") {
        if (d.next_arg()) throw d.arg_err();
        f.prefer_udp = true;
    } else if (opt == "tls") {
        auto args = d.remaining_args();
        if (args.size() > 3) throw d.arg_err();
        f.has_tls_option = true;
        f.tls_args = args;
    } else if (opt == "tls_servername") {
        if (!d.next_arg()) throw d.arg_err();
        f.tls_servername = d.val();
    } else if (opt == "expire") {
        auto dur = duration_arg(d);
        if (dur.count() < 0) throw ConfigError("expire can't be negative: " + gostd::format_duration(dur));
        f.expire = dur;
    } else if (opt == "policy") {
        if (!d.next_arg()) throw d.arg_err();
        const std::string x = d.val();
        if (x == "random") f.policy = Policy::random;
        else if (x == "round_robin") f.policy = Policy::round_robin;
        else if (x == "sequential") f.policy = Policy::sequential;
        else throw d.err("unknown policy '" + x + "'");
    } else if (opt == "max_concurrent") {
        if (!d.next_arg()) throw d.arg_err();
        const long long n = gostd::atoi(d.val());
        if (n < 0) throw ConfigError("max_concurrent can't be negative: " + std::to_string(n));
        f.max_concurrent_error = "concurrent queries exceeded maximum " + d.val();
        f.max_concurrent = n;
    } else if (opt == "max_pending" || opt == "max_pending_per_client") {
        // dnscore extensions (README): bounded in-flight work.
        if (!d.next_arg()) throw d.arg_err();
        const long long n = gostd::atoi(d.val());
        if (n < 0) throw ConfigError(opt + " can't be negative: " + std::to_string(n));
        if (opt == "max_pending") {
            f.max_pending_set = true;
            f.max_pending = n;
            f.max_pending_error = "plugin/forward: pending upstream queries exceeded maximum " + d.val();
        } else {
            f.max_pending_per_client_set = true;
            f.max_pending_per_client = n;
            f.max_pending_per_client_error = "plugin/forward: pending queries of the client exceeded maximum " + d.val();
        }
    } else if (opt == "next") {
        auto args = d.remaining_args();
        if (args.empty()) throw d.arg_err();
        for (const auto& a : args) {
            const int rc = wire::rcode_from_name(a);
            if (rc < 0) throw ConfigError(a + " is not a valid rcode");
            f.next_rcodes.push_back(rc);
        }
    } else if (opt == "failfast_all_unhealthy_upstreams") {
        if (!d.remaining_args().empty()) throw d.arg_err();
        f.failfast_all_unhealthy = true;
    } else {
        // Includes the options CoreDNS added after 1.12 (failover,
        // max_connect_attempts, max_age, ...): 1.12 rejects them like this.
        throw d.err("unknown property '" + opt + "'");
    }
}

Options parse_stanza(parser::Dispenser& d) {
    Options f;
    if (!d.next_arg()) throw d.arg_err();
    const std::string orig_from = d.val();
    auto zones = corefile::normalize_zone(orig_from);
    if (zones.empty()) throw ConfigError("unable to normalize '" + orig_from + "'");
    f.from = zones[0];
    if (zones.size() > 1)
        log::warning("Unsupported CIDR notation: '{}' expands to multiple zones. Using only '{}'.",
                     orig_from, f.from);
    auto to = d.remaining_args();
    if (to.empty()) throw d.arg_err();

    // HostPortOrFile runs before the block is read (file errors come first).
    std::vector<std::string> hosts;
    {
        for (const auto& h : to) {
            auto [trans, host] = split_transport(h);
            std::string addr, port;
            if (!split_host_port(host, addr, port)) {
                if (!parse_ip(strip_zone(host))) {
                    if (try_file(host, hosts)) continue;
                    throw ConfigError("not an IP address or file: " + gostd::quote(host));
                }
                if (trans == "dns") hosts.push_back(join_host_port(host, "53"));
                else if (trans == "tls") hosts.push_back("tls://" + join_host_port(host, "853"));
                else if (trans == "grpc") hosts.push_back("grpc://" + join_host_port(host, "443"));
                else if (trans == "https") hosts.push_back("https://" + join_host_port(host, "443"));
                else hosts.push_back("");  // quic/https3/unix without port: Go appends ""
                continue;
            }
            if (!parse_ip(strip_zone(addr))) {
                if (try_file(host, hosts)) continue;
                throw ConfigError("not an IP address or file: " + gostd::quote(host));
            }
            hosts.push_back(h);
        }
        if (hosts.empty()) throw ConfigError("no nameservers found");
    }

    while (d.next_block()) parse_block_option(d, f);

    f.upstreams = parse_upstreams(hosts, f.tls_servername);
    f.from_wire.resize(wire::kMaxNameLen);
    f.from_wire.resize(wire::text_to_name(f.from, f.from_wire.data()));
    for (const auto& e : f.except) f.except_wire.add(e);
    return f;
}

}  // namespace

bool to_sockaddr(const std::string& hostport, sockaddr_storage& out, socklen_t& len) {
    std::string host, port;
    if (!split_host_port(hostport, host, port)) return false;
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)) return false;
    const unsigned long p = std::stoul(port);
    if (p > 65535) return false;
    std::memset(&out, 0, sizeof out);
    std::string ip = host;
    unsigned scope = 0;
    if (auto pct = ip.find('%'); pct != std::string::npos) {
        scope = if_nametoindex(ip.substr(pct + 1).c_str());
        ip = ip.substr(0, pct);
    }
    auto* a4 = reinterpret_cast<sockaddr_in*>(&out);
    if (inet_pton(AF_INET, ip.c_str(), &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(uint16_t(p));
        len = sizeof(sockaddr_in);
        return true;
    }
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (inet_pton(AF_INET6, ip.c_str(), &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(uint16_t(p));
        a6->sin6_scope_id = scope;
        len = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

std::vector<std::string> resolv_conf_nameservers(std::string_view text) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        // strings.Fields
        std::vector<std::string_view> f;
        size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && std::isspace(uint8_t(line[i]))) ++i;
            size_t j = i;
            while (j < line.size() && !std::isspace(uint8_t(line[j]))) ++j;
            if (j > i) f.push_back(line.substr(i, j - i));
            i = j;
        }
        if (f.size() > 1 && f[0] == "nameserver") out.emplace_back(f[1]);
        if (eol == text.size()) break;
    }
    return out;
}

std::vector<UpstreamSpec> parse_upstreams(const std::vector<std::string>& hosts,
                                          const std::string& tls_servername) {
    std::vector<UpstreamSpec> out;
    for (const auto& with_zone : hosts) {
        auto [host, servername] = split_zone(with_zone);
        auto [trans, h] = split_transport(host);
        if (trans != "dns" && trans != "tls")
            throw ConfigError("'" + trans + "' is not supported as a destination protocol in forward: " + host);
        UpstreamSpec u;
        u.tls = trans == "tls";
        if (u.tls && !servername.empty()) {
            if (!tls_servername.empty())
                throw ConfigError("both forward ('" + tls_servername + "') and proxy level ('" + servername +
                                  "') TLS servernames are set for upstream proxy '" + host + "'");
            u.servername = servername;
        }
        if (u.tls && u.servername.empty()) u.servername = tls_servername;
        u.to = h;
        if (!to_sockaddr(h, u.addr, u.addr_len))
            throw ConfigError("not an IP address or file: " + gostd::quote(h));
        out.push_back(std::move(u));
    }
    return out;
}

std::vector<Options> parse_forward(parser::Dispenser& d) {
    std::vector<Options> fs;
    while (d.next()) fs.push_back(parse_stanza(d));
    return fs;
}

}  // namespace dnscore::plugins::forward

namespace dnscore::plugins {

void setup_forward(corefile::SetupContext& c) {
    using namespace forward;
    auto fs = parse_forward(c.d);
    for (auto& o : fs) {
        if (o.upstreams.size() > kMaxUpstreams)
            throw ConfigError("more than " + std::to_string(kMaxUpstreams) +
                              " TOs configured: " + std::to_string(o.upstreams.size()));
    }
    if (!fs.empty()) metrics::export_own_families();
    for (auto& o : fs) {
        auto f = std::make_shared<Forward>(std::move(o), c.opts.validate_only);
        f->set_taps(forwarder_taps(c.block));
        c.add_plugin(f);
        std::weak_ptr<Forward> weak = f;
        c.set.on_startup.push_back([weak](Host&) {
            if (auto p = weak.lock()) p->on_startup();
        });
        c.set.on_shutdown.push_back([weak](Host& rt) {
            if (auto p = weak.lock()) p->on_shutdown(rt);
        });
    }
}

}  // namespace dnscore::plugins
