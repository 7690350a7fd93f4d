#pragma once
// dnstap as other plugins see it: forward reports every upstream exchange to
// the dnstap plugins of its server block (CoreDNS forward's toDnstap with the
// block's dnstap handlers). The interface lives here so forward does not
// depend on the dnstap plugin.
#include <sys/socket.h>

#include <cstdint>
#include <ctime>
#include <vector>

#include "core/config.hpp"

namespace dnscore {

class ForwarderTap {
public:
    virtual ~ForwarderTap() = default;
    // Worker thread, never blocks. One upstream try: `upstream` is the address
    // dialled, `tcp` the transport CoreDNS reports (the client's, or TCP/UDP
    // as force_tcp / prefer_udp / a TC retry decided), `start` the wall-clock
    // time the query loop began; `reply` is null when the try failed (only
    // FORWARDER_QUERY is sent then). q.req holds the request with the
    // client's ID.
    virtual void tap_forwarder(const Query& q, const sockaddr* upstream, bool tcp, const timespec& start,
                               const uint8_t* reply, size_t reply_len) = 0;
};

// The block's dnstap plugins in chain order. Setup runs in plugin.cfg order
// (dnstap before forward), so a forward setup sees them.
inline std::vector<ForwarderTap*> forwarder_taps(const Block& b) {
    std::vector<ForwarderTap*> out;
    for (const auto& p : b.plugins)
        if (auto* t = dynamic_cast<ForwarderTap*>(p.get())) out.push_back(t);
    return out;
}

}  // namespace dnscore
