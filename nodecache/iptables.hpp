#pragma once
// node-cache's iptables rules (spec node-cache.md §6.2) and a runner that
// drives the `iptables` / `ip6tables` binaries (-w 5, -C / -I / -D), the way
// Kubernetes' utiliptables does.
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dnscore::nodecache {

struct Rule {
    std::string table;
    std::string chain;
    std::vector<std::string> args;
    // node-cache's %v: {raw PREROUTING [-p tcp -d 169.254.20.10 --dport 53 -j NOTRACK -m comment --comment NodeLocal DNS Cache: skip conntrack]}
    std::string str() const;
};

// The twelve rules per local IP, in node-cache's order.
std::vector<Rule> node_cache_rules(const std::vector<std::string>& ips, const std::string& port,
                                   const std::string& health_port);

// A failed iptables run; `lock` when the text says another process holds the
// xtables lock (label iptables_lock rather than iptables).
struct IptablesError : std::runtime_error {
    IptablesError(const std::string& what, bool lock) : std::runtime_error(what), lock(lock) {}
    bool lock;
};

class Iptables {
public:
    // `binary` defaults to iptables / ip6tables by family.
    explicit Iptables(bool ipv6, std::string binary = "");
    const std::string& binary() const { return binary_; }

    // `--version` probe: picks the wait flag. Returns the version text or
    // throws IptablesError when the binary cannot run.
    std::string probe();

    // -C: true when present, false when absent (exit status 1). Throws
    // IptablesError on any other failure.
    bool exists(const Rule& r);
    // -I at position 1 / -D. Throw IptablesError.
    void insert(const Rule& r);
    void remove(const Rule& r);

    // "Ensure": check, insert when absent. Returns true when it inserted.
    bool ensure(const Rule& r);

private:
    struct Result {
        int status = -1;  // exit status, -1 = could not run / killed
        std::string output;
    };
    Result run(const std::string& op, const Rule& r);

    std::string binary_;
    std::vector<std::string> wait_args_{"-w", "5"};
};

// Which iptables build (kernel backend) the rules go to. Inside a
// container the host's backend is unknown: rules put into the other one are
// invisible to kube-proxy's (duplicates, leftovers on teardown, and a legacy
// DROP still drops DNS). The upstream image's iptables-wrapper picks the
// backend that already holds kubelet's marker chains; we do the same.
enum class IptablesBackend { legacy, nft, plain };

struct BackendChoice {
    IptablesBackend backend = IptablesBackend::nft;
    std::string reason;  // for the log line

    // "iptables-legacy", "ip6tables-nft", or plain "iptables" / "ip6tables".
    std::string binary(bool ipv6) const;
};

// Runs argv, returns its exit status and output (run_command in production).
using CommandRunner = std::function<int(const std::vector<std::string>& argv, std::string* output)>;

// `mode` is the -iptablesbackend flag: "auto", "legacy", "nft" or "iptables"
// (whatever `iptables` on PATH is). Auto, as kubernetes-sigs/iptables-wrappers:
// kubelet's KUBE-IPTABLES-HINT / KUBE-KUBELET-CANARY chain in the nft mangle
// table -> nft; in the legacy tables -> legacy (iptables-legacy-save without
// -t, which would create the table); otherwise the backend holding more rules
// (the wrapper's pre-1.17 rule, so hosts without kubelet's markers but with
// kube-proxy's or an operator's rules still match); a tie -> nft. A backend
// whose binaries are missing falls back to plain `iptables`.
// Throws std::invalid_argument for an unknown mode.
BackendChoice choose_backend(const std::string& mode, const CommandRunner& run);

// Runs argv (argv[0] searched in PATH) with stdout+stderr captured, killing
// it after `timeout`. Returns the exit status (-1: could not run or killed).
int run_command(const std::vector<std::string>& argv, std::string* output,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace dnscore::nodecache
