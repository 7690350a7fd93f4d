#include "nodecache/options.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "parser/gostd.hpp"

namespace dnscore::nodecache {

void register_flags(FlagSet& flags, Flags& f) {
    // Usage texts are node-cache's, so `-h` reads the same.
    flags.add_string("localip", &f.localip, "comma-separated string of ip addresses to bind dnscache to");
    flags.add_bool("setupinterface", &f.setup_interface, "indicates whether network interface should be setup");
    flags.add_string("interfacename", &f.interface_name, "name of the interface to be created");
    flags.add_custom(
        "syncinterval", [&f](const std::string& v) { f.syncinterval = gostd::parse_duration(v); },
        gostd::format_duration(f.syncinterval), "duration", "interval(in seconds) to check for iptables rules");
    flags.add_string("metrics-listen-address", &f.metrics_listen_address, "address to serve metrics on");
    flags.add_bool("setupiptables", &f.setup_iptables, "indicates whether iptables rules should be setup");
    flags.add_string("basecorefile", &f.base_corefile, "Path to the template Corefile for node-cache");
    flags.add_string("corefile", &f.corefile, "Path to the Corefile to be used by node-cache");
    flags.add_string("kubednscm", &f.kubednscm, "Path where the kube-dns configmap will be mounted");
    flags.add_string("upstreamsvc", &f.upstreamsvc, "Service name whose cluster IP is upstream for node-cache");
    flags.add_string("health-port", &f.health_port, "port used by health plugin");
    flags.add_bool("skipteardown", &f.skip_teardown, "indicates whether iptables rules should be torn down on exit");
    flags.add_bool("reloadwithsignal", &f.reload_with_signal, "use SIGUSR1 on self to reload CoreDNS");
    // dnscore only: node-cache's image picks the backend in an iptables wrapper.
    flags.add_string("iptablesbackend", &f.iptables_backend,
                     "iptables backend for the rules: auto (the one holding the host's rules), legacy, nft or iptables (as on PATH)");
    flags.add_bool("nftables", &f.nftables,
                   "install the rules as one native nftables table (inet nodelocaldns) instead of iptables rules");
}

std::string Params::local_ips_spaced() const {
    std::string out;
    for (const auto& ip : local_ips) out += (out.empty() ? "" : " ") + ip;
    return out;
}

bool parse_ip(const std::string& s, bool* is_v6) {
    unsigned char buf[16];
    if (::inet_pton(AF_INET, s.c_str(), buf) == 1) {
        if (is_v6) *is_v6 = false;
        return true;
    }
    if (::inet_pton(AF_INET6, s.c_str(), buf) == 1) {
        // Go's To4() treats ::ffff:a.b.c.d as IPv4.
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (is_v6) *is_v6 = std::memcmp(buf, mapped, 12) != 0;
        return true;
    }
    return false;
}

std::string service_host_env(const std::string& svc) {
    std::string out;
    for (char c : svc) out += c == '-' ? '_' : char(std::toupper(static_cast<unsigned char>(c)));
    return out + "_SERVICE_HOST";
}

std::chrono::seconds effective_sync_period(std::chrono::nanoseconds flag, std::string* warning) {
    using namespace std::chrono;
    const std::string written = gostd::format_duration(flag);
    if (flag.count() <= 0) {
        if (warning)
            *warning = "-syncinterval " + written +
                       " is not positive (node-cache would crash in its ticker); using 60s";
        return seconds(60);
    }
    if (flag < microseconds(1)) return seconds(flag.count());  // node-cache: N ns * 1s = N seconds
    auto secs = duration_cast<seconds>(flag + milliseconds(500));
    if (secs < seconds(1)) secs = seconds(1);
    if (warning)
        *warning = "-syncinterval " + written +
                   " would be multiplied by 1s in node-cache (an overflowing or years-long period); using " +
                   gostd::format_duration(duration_cast<nanoseconds>(secs)) +
                   " as written (write e.g. \"60ns\" for node-cache-compatible 60 seconds)";
    return secs;
}

Params validate(const Flags& f, const RuntimeOptions& core,
                const std::function<bool(const std::string&)>& dir_exists) {
    Params p;
    // strings.Split: "" gives one empty element, so an empty -localip fails too.
    std::string rest = f.localip;
    while (true) {
        auto comma = rest.find(',');
        std::string elem = rest.substr(0, comma);
        if (!parse_ip(elem)) throw std::invalid_argument("invalid localip specified - " + gostd::quote(elem));
        p.local_ips.push_back(elem);
        if (comma == std::string::npos) break;
        rest = rest.substr(comma + 1);
    }
    parse_ip(p.local_ips[0], &p.ipv6);
    for (const auto& ip : p.local_ips) {
        bool v6 = false;
        parse_ip(ip, &v6);
        if (v6 != p.ipv6)
            throw std::invalid_argument("unexpected IP Family for localIP - " + gostd::quote(ip) +
                                        ", want IPv6=" + (p.ipv6 ? "true" : "false"));
    }
    p.local_port = core.dns_port;
    try {
        gostd::atoi(p.local_port);
    } catch (const std::exception&) {
        throw std::invalid_argument("invalid port specified - " + gostd::quote(p.local_port));
    }
    p.health_port = f.health_port;
    try {
        gostd::atoi(p.health_port);
    } catch (const std::exception&) {
        throw std::invalid_argument("invalid healthcheck port specified - " + gostd::quote(p.health_port));
    }
    p.corefile = core.conf_flag;  // -conf always wins over -corefile
    p.base_corefile = f.base_corefile;
    p.kubedns_dir = f.kubednscm;
    if (p.kubedns_dir.empty()) {
        auto exists = dir_exists ? dir_exists : [](const std::string& path) {
            struct stat st;
            // node-cache: anything but "does not exist" counts.
            return ::stat(path.c_str(), &st) == 0 || errno != ENOENT;
        };
        if (exists("/etc/kube-dns")) p.kubedns_dir = "/etc/kube-dns";
    }
    p.upstream_svc = f.upstreamsvc;
    p.interface_name = f.interface_name;
    p.setup_interface = f.setup_interface;
    p.setup_iptables = f.setup_iptables;
    p.skip_teardown = f.skip_teardown;
    p.reload_with_signal = f.reload_with_signal;
    if (f.iptables_backend != "auto" && f.iptables_backend != "legacy" && f.iptables_backend != "nft" &&
        f.iptables_backend != "iptables")
        throw std::invalid_argument("invalid iptablesbackend specified - " + gostd::quote(f.iptables_backend) +
                                    " (auto, legacy, nft or iptables)");
    p.iptables_backend = f.iptables_backend;
    p.nftables = f.nftables;
    p.metrics_listen_address = f.metrics_listen_address;
    p.sync_period = effective_sync_period(f.syncinterval, &p.sync_period_warning);
    return p;
}

}  // namespace dnscore::nodecache
