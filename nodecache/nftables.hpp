#pragma once
// dnscore's opt-in nftables datapath (-nftables): the effect of node-cache's
// 12 iptables rules per IP (NOTRACK for the local IPs, ACCEPT in filter) as
// one table of our own, `table inet nodelocaldns`, installed and replaced in
// one nft transaction (no xtables lock, never half a ruleset) and removed as
// one table. For hosts whose kube-proxy runs in nftables mode, where
// node-cache's iptables rules would land in a different ruleset.
#include <string>
#include <vector>

#include "nodecache/iptables.hpp"

namespace dnscore::nodecache {

class NftTable {
public:
    static constexpr const char* kFamily = "inet";
    static constexpr const char* kName = "nodelocaldns";

    NftTable(std::vector<std::string> ips, std::string port, std::string health_port, CommandRunner run,
             std::string script_dir = "/tmp");

    // The table as `nft -f` input (an add+delete+define batch, so the same
    // text installs it and atomically replaces a stale copy).
    std::string script() const;
    // Rules the table holds when complete (12 per IP, as node-cache).
    size_t expected_rules() const { return ips_.size() * 12; }

    // Installs the table when it is missing or not complete (someone deleted
    // a rule or the table). Returns true when it installed. Throws
    // IptablesError (lock = false) when nft fails.
    bool ensure();
    // Deletes the table; a missing table is not an error.
    void remove();
    // Rules of ours now in the kernel (0 when the table is absent).
    size_t installed_rules();

private:
    std::vector<std::string> ips_;
    std::string port_, health_port_;
    CommandRunner run_;
    std::string script_dir_;
};

}  // namespace dnscore::nodecache
