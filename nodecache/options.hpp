#pragma once
// node-cache 1.26's own command-line flags (cmd/node-cache/main.go), their
// validation with node-cache's error texts, and the values derived from them.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "server/flags.hpp"
#include "server/runtime.hpp"

namespace dnscore::nodecache {

// Raw flag values, defaults as node-cache's.
struct Flags {
    std::string localip;
    bool setup_interface = true;
    std::string interface_name = "nodelocaldns";
    std::chrono::nanoseconds syncinterval{60};  // Go's time.Duration(60) = 60ns, see README
    std::string metrics_listen_address = "0.0.0.0:9353";
    bool setup_iptables = true;
    std::string base_corefile = "/etc/coredns/Corefile.base";
    std::string corefile = "/etc/Corefile";  // always replaced by -conf, as in node-cache
    std::string kubednscm;
    std::string upstreamsvc = "kube-dns";
    std::string health_port = "8080";
    bool skip_teardown = false;
    bool reload_with_signal = false;
    std::string iptables_backend = "auto";  // dnscore's own flag (README: iptables backend)
    bool nftables = false;                  // dnscore's own flag (README: nftables datapath)
};

// Registers node-cache's flags (CoreDNS's come from register_core_flags).
void register_flags(FlagSet& flags, Flags& f);

// Validated parameters.
struct Params {
    std::vector<std::string> local_ips;  // exactly as given on -localip
    bool ipv6 = false;                   // family of the first IP
    std::string local_port;              // -dns.port
    std::string health_port;
    std::string corefile;                // output path: the value of -conf
    std::string base_corefile;
    std::string kubedns_dir;             // "" = no kube-dns ConfigMap sync
    std::string upstream_svc;
    std::string interface_name;
    bool setup_interface = true;
    bool setup_iptables = true;
    bool skip_teardown = false;
    bool reload_with_signal = false;
    std::string iptables_backend;        // auto | legacy | nft | iptables
    bool nftables = false;               // one native nftables table instead of iptables rules
    std::string metrics_listen_address;
    std::chrono::seconds sync_period{60};
    std::string sync_period_warning;     // non-empty: -syncinterval was reinterpreted

    // "169.254.20.10 10.96.0.10": what __PILLAR__LOCAL__DNS__ and `bind` get.
    std::string local_ips_spaced() const;
};

// node-cache's parseAndValidateFlags(): throws std::invalid_argument with the
// text node-cache logs after "Error parsing flags - " (e.g. `invalid localip
// specified - "x"`). `dir_exists` is injectable for tests (the /etc/kube-dns
// default).
Params validate(const Flags& f, const RuntimeOptions& core,
                const std::function<bool(const std::string&)>& dir_exists = {});

// node-cache multiplies the -syncinterval duration by one second. Values
// below 1µs (the default "60ns", "30ns") therefore mean seconds, and we keep
// that; anything larger overflows or becomes years in node-cache, so we take
// it as the duration the operator wrote and explain in `warning`. Minimum 1 s.
std::chrono::seconds effective_sync_period(std::chrono::nanoseconds flag, std::string* warning);

// Kubernetes service env-var name: "kube-dns-upstream" -> "KUBE_DNS_UPSTREAM_SERVICE_HOST".
std::string service_host_env(const std::string& svc);

// Whether `s` parses as an IP the way Go's net.ParseIP does; sets *is_v6 to
// "not representable as IPv4" (utilnet.IsIPv6).
bool parse_ip(const std::string& s, bool* is_v6 = nullptr);

}  // namespace dnscore::nodecache
