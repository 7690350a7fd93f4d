#pragma once
// bind: the addresses a server block listens on (CoreDNS plugin/bind).
// Registers no query handler.
#include <string>
#include <vector>

namespace dnscore::plugins {

// One interface address as net.Interface.Addrs reports it.
struct IfaceAddr {
    std::string iface;  // interface name
    std::string ip;     // address text (inet_ntop); "" = the interface itself
    bool v6_link_local = false;
};

// The host's interface addresses (getifaddrs), in the kernel's order.
// Returns false (and leaves `out` empty) when they cannot be listed.
bool list_interface_addrs(std::vector<IfaceAddr>& out, std::string* error = nullptr);

// CoreDNS listIP: each argument is an interface name (all its addresses,
// IPv6 link-local ones with "%IFACE") or an IP literal (kept as written).
// Throws parser::ConfigError `not a valid IP address or interface name: "ARG"`.
std::vector<std::string> bind_list_ip(const std::vector<std::string>& args,
                                      const std::vector<IfaceAddr>& ifaces);

}  // namespace dnscore::plugins
