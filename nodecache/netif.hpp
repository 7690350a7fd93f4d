#pragma once
// The dummy interface carrying the listen IPs (node-cache pkg/netif), over
// raw rtnetlink sockets: RTM_NEWLINK (kind "dummy"), RTM_NEWADDR, RTM_DELLINK.
// Works in the calling thread's network namespace.
#include <stdexcept>
#include <string>
#include <vector>

namespace dnscore::nodecache {

// A netlink request failed; what() is Go's errno text ("operation not
// permitted", "file exists").
struct NetlinkError : std::runtime_error {
    NetlinkError(const std::string& what, int err) : std::runtime_error(what), error(err) {}
    int error;  // positive errno
};

// Interface index by name, 0 when absent.
unsigned link_index(const std::string& name);
// Creates a link of kind dummy (left down, as node-cache does). Throws NetlinkError.
void create_dummy_link(const std::string& name);
// Adds `ip` as a /32 or /128 to the link. Throws NetlinkError (EEXIST when present).
void add_link_address(unsigned ifindex, const std::string& ip);
// Deletes the link whatever its kind. Throws NetlinkError.
void delete_link(const std::string& name);

// node-cache's EnsureDummyDevice: if the link exists (any kind) add each IP,
// ignoring errors; else create a dummy link and add each IP (first error
// returned). Errors are reported, never thrown.
struct EnsureResult {
    bool existed = false;
    std::string create_error;  // creating the missing link failed
    std::string error;         // any error of the ensure step ("" = ok)
};
EnsureResult ensure_dummy_device(const std::string& name, const std::vector<std::string>& ips);

}  // namespace dnscore::nodecache
