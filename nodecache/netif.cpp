#include "nodecache/netif.hpp"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "core/net.hpp"

namespace dnscore::nodecache {

namespace {

// A netlink request under construction: header, payload, attributes.
class Request {
public:
    Request(uint16_t type, uint16_t flags) {
        auto* h = header();
        h->nlmsg_len = NLMSG_LENGTH(0);
        h->nlmsg_type = type;
        h->nlmsg_flags = uint16_t(NLM_F_REQUEST | NLM_F_ACK | flags);
    }
    nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_); }
    template <class T>
    T* payload() {
        auto* h = header();
        auto* p = reinterpret_cast<T*>(reinterpret_cast<char*>(h) + h->nlmsg_len);
        std::memset(p, 0, sizeof(T));
        h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLMSG_ALIGN(sizeof(T));
        return p;
    }
    rtattr* attr(uint16_t type, const void* data, size_t len) {
        auto* h = header();
        auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(h) + NLMSG_ALIGN(h->nlmsg_len));
        a->rta_type = type;
        a->rta_len = uint16_t(RTA_LENGTH(len));
        if (len) std::memcpy(RTA_DATA(a), data, len);
        h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
        return a;
    }
    // Nested attribute: call end_nest with the returned pointer when done.
    rtattr* begin_nest(uint16_t type) { return attr(type, nullptr, 0); }
    void end_nest(rtattr* a) {
        a->rta_len = uint16_t(reinterpret_cast<char*>(header()) + header()->nlmsg_len - reinterpret_cast<char*>(a));
    }

private:
    alignas(nlmsghdr) char buf_[1024] = {};
};

// Sends one request on a fresh NETLINK_ROUTE socket and waits for its ack.
void transact(Request& req) {
    const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw NetlinkError(net::errno_text(errno), errno);
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    timeval tv{5, 0};  // never hang the caller on a wedged kernel
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    auto* h = req.header();
    h->nlmsg_seq = 1;
    if (::sendto(fd, h, h->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
        throw NetlinkError(net::errno_text(errno), errno);
    alignas(nlmsghdr) char buf[8192];
    while (true) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw NetlinkError(net::errno_text(errno), errno);
        }
        int len = int(n);
        for (auto* r = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
            if (r->nlmsg_seq != 1) continue;
            if (r->nlmsg_type == NLMSG_ERROR) {
                const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(r));
                if (e->error == 0) return;  // the ack
                throw NetlinkError(net::errno_text(-e->error), -e->error);
            }
        }
    }
}

}  // namespace

unsigned link_index(const std::string& name) { return ::if_nametoindex(name.c_str()); }

void create_dummy_link(const std::string& name) {
    Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    auto* ifi = req.payload<ifinfomsg>();
    ifi->ifi_family = AF_UNSPEC;
    req.attr(IFLA_IFNAME, name.c_str(), name.size() + 1);
    auto* info = req.begin_nest(IFLA_LINKINFO);
    req.attr(IFLA_INFO_KIND, "dummy", 5);
    req.end_nest(info);
    transact(req);
}

void add_link_address(unsigned ifindex, const std::string& ip) {
    unsigned char addr[16];
    int family = AF_INET;
    size_t len = 4;
    if (::inet_pton(AF_INET, ip.c_str(), addr) != 1) {
        if (::inet_pton(AF_INET6, ip.c_str(), addr) != 1) throw NetlinkError("invalid IP " + ip, EINVAL);
        family = AF_INET6;
        len = 16;
    }
    Request req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    auto* ifa = req.payload<ifaddrmsg>();
    ifa->ifa_family = uint8_t(family);
    ifa->ifa_prefixlen = uint8_t(len * 8);
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = ifindex;
    if (family == AF_INET) req.attr(IFA_LOCAL, addr, len);
    req.attr(IFA_ADDRESS, addr, len);
    transact(req);
}

void delete_link(const std::string& name) {
    Request req(RTM_DELLINK, 0);
    auto* ifi = req.payload<ifinfomsg>();
    ifi->ifi_family = AF_UNSPEC;
    req.attr(IFLA_IFNAME, name.c_str(), name.size() + 1);
    transact(req);
}

EnsureResult ensure_dummy_device(const std::string& name, const std::vector<std::string>& ips) {
    EnsureResult r;
    if (unsigned index = link_index(name)) {
        r.existed = true;
        for (const auto& ip : ips) {
            try {
                add_link_address(index, ip);
            } catch (const NetlinkError&) {
                // "file exists" and the like: node-cache ignores them here.
            }
        }
        return r;
    }
    try {
        create_dummy_link(name);
    } catch (const NetlinkError& e) {
        r.create_error = e.what();
        r.error = e.what();
        return r;
    }
    const unsigned index = link_index(name);
    if (!index) {
        r.error = "link " + name + " not found after creation";
        return r;
    }
    for (const auto& ip : ips) {
        try {
            add_link_address(index, ip);
        } catch (const NetlinkError& e) {
            r.error = e.what();
            return r;
        }
    }
    return r;
}

}  // namespace dnscore::nodecache
