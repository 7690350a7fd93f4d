#include "plugins/bind/bind.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "corefile/setup.hpp"
#include "parser/gostd.hpp"
#include "core/log.hpp"

namespace dnscore::plugins {

bool list_interface_addrs(std::vector<IfaceAddr>& out, std::string* error) {
    out.clear();
    ifaddrs* head = nullptr;
    if (::getifaddrs(&head) != 0) {
        if (error) *error = std::strerror(errno);
        return false;
    }
    for (ifaddrs* ia = head; ia != nullptr; ia = ia->ifa_next) {
        if (ia->ifa_name == nullptr) continue;
        char text[INET6_ADDRSTRLEN];
        IfaceAddr a;
        a.iface = ia->ifa_name;
        if (ia->ifa_addr == nullptr || ia->ifa_addr->sa_family == AF_PACKET) {
            // The interface itself (it may have no address at all).
            out.push_back(std::move(a));
            continue;
        }
        if (ia->ifa_addr->sa_family == AF_INET) {
            const auto* sin = reinterpret_cast<const sockaddr_in*>(ia->ifa_addr);
            if (!inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text)) continue;
        } else if (ia->ifa_addr->sa_family == AF_INET6) {
            const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ia->ifa_addr);
            if (!inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text)) continue;
            a.v6_link_local = IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr);
        } else {
            continue;
        }
        a.ip = text;
        out.push_back(std::move(a));
    }
    ::freeifaddrs(head);
    return true;
}

namespace {

// net.ParseIP: dotted IPv4 or IPv6 (no zone).
bool is_ip_literal(const std::string& s) {
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

std::vector<std::string> bind_list_ip(const std::vector<std::string>& args,
                                      const std::vector<IfaceAddr>& ifaces) {
    std::vector<std::string> all;
    for (const auto& a : args) {
        bool is_iface = false;
        for (const auto& ia : ifaces) {
            if (ia.iface != a) continue;
            is_iface = true;
            if (ia.ip.empty()) continue;  // the interface entry itself
            all.push_back(ia.v6_link_local ? ia.ip + "%" + ia.iface : ia.ip);
        }
        if (is_iface) continue;
        if (!is_ip_literal(a))
            throw parser::ConfigError("not a valid IP address or interface name: " + gostd::quote(a));
        all.push_back(a);
    }
    return all;
}

void setup_bind(corefile::SetupContext& c) {
    parser::Dispenser& d = c.d;
    std::vector<IfaceAddr> ifaces;
    std::string why;
    if (!list_interface_addrs(ifaces, &why))
        log::emit(log::Level::warning, "bind",
                  "failed to get interfaces list, cannot bind by interface name: " + why);

    std::vector<std::string> all;
    while (d.next()) {
        const auto addrs = d.remaining_args();
        if (addrs.empty())
            throw parser::ConfigError("at least one address or interface name is expected");
        std::vector<std::string> except_args;
        while (d.next_block()) {
            if (d.val() == "except") {
                except_args = d.remaining_args();
                if (except_args.empty())
                    throw parser::ConfigError(
                        "at least one address or interface must be given to except subdirective");
            } else {
                throw parser::ConfigError("invalid option " + gostd::quote(d.val()));
            }
        }
        const auto ips = bind_list_ip(addrs, ifaces);
        const auto except = bind_list_ip(except_args, ifaces);
        for (const auto& ip : ips)
            if (std::find(except.begin(), except.end(), ip) == except.end()) all.push_back(ip);
    }
    c.block.bind_hosts = std::move(all);
    c.block.has_bind = true;
}

}  // namespace dnscore::plugins
